package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

// Exit statuses.
const (
	exitOK     = 0
	exitError  = 1
	exitUsage  = 2
	exitFailed = 3 // the run completed but a check failed
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: a worker when started with the hidden worker
// flag, otherwise the coordinator of one run or a sweep. It returns the
// exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if spec, ok := workerArgs(args); ok {
		if err := workerMain(ctx, spec, stdin, stdout); err != nil {
			fmt.Fprintln(stderr, "presenced-bench worker:", err)
			return exitError
		}
		return exitOK
	}
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "presenced-bench:", err)
		return exitUsage
	}
	if c.CPUProfile != "" {
		stopProfile, err := startCPUProfile(c.CPUProfile)
		if err != nil {
			fmt.Fprintln(stderr, "presenced-bench:", err)
			return exitUsage
		}
		defer stopProfile()
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "presenced-bench: finding this program to start workers:", err)
		return exitError
	}
	if c.Sweep != "" {
		s, err := runSweep(ctx, c, exe, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "presenced-bench:", err)
			return exitError
		}
		if err := writeJSON(stdout, s); err != nil {
			fmt.Fprintln(stderr, "presenced-bench:", err)
			return exitError
		}
		s.writeTable(stderr)
		if !s.OK {
			return exitFailed
		}
		return exitOK
	}
	r, err := runOnce(ctx, c, exe, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "presenced-bench:", err)
		return exitError
	}
	if err := writeJSON(stdout, r); err != nil {
		fmt.Fprintln(stderr, "presenced-bench:", err)
		return exitError
	}
	r.writeTable(stderr)
	if !r.OK {
		return exitFailed
	}
	return exitOK
}

// startCPUProfile profiles this process into file until the returned stop.
func startCPUProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("creating the CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting the CPU profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
