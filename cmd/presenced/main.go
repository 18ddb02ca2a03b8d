// Command presenced is the presence and 1:1 chat delivery server. It alone
// reads the configuration (package config) and wires the store, the actors
// and the transport together.
//
//	presenced [--config FILE] [--set key=value ...] [--listen ADDR]
//	presenced config [same flags]   # print the effective configuration
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/presenced/presenced/config"
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// realMain returns the exit code: 2 for a configuration that cannot start,
// 1 for a failure while running.
func realMain(args, environ []string, stdout, stderr io.Writer) int {
	printOnly := len(args) > 0 && args[0] == "config"
	if printOnly {
		args = args[1:]
	}
	cfg, err := config.Load(args, environ)
	if errors.Is(err, config.ErrHelp) {
		fmt.Fprint(stdout, config.Usage)
		return 0
	}
	if printOnly && cfg != nil {
		if perr := cfg.Print(stdout); perr != nil {
			fmt.Fprintln(stderr, perr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if printOnly {
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if getenv(environ, "GOGC") == "" {
		tuned := make(chan struct{})
		go func() { defer close(tuned); tuneGC(ctx) }()
		defer func() { stop(); <-tuned }()
	}
	if err := run(ctx, cfg, stderr, nil); err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			fmt.Fprintln(stderr, err)
			return 2
		}
		fmt.Fprintln(stderr, "presenced:", err)
		return 1
	}
	return 0
}

// getenv is os.Getenv over environ; as in package config, the last one wins.
func getenv(environ []string, name string) string {
	v := ""
	for _, kv := range environ {
		if k, val, _ := strings.Cut(kv, "="); k == name {
			v = val
		}
	}
	return v
}
