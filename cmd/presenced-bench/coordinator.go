package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"
)

// coordinator runs one configuration: it starts the workers, releases
// their barriers, relays notes, samples the server and prints progress.
// It lives on one goroutine (run's); scenarios' coordinator hooks run there
// too, so they may use its fields without locks.
type coordinator struct {
	cfg    *Config
	sc     scenario
	stderr io.Writer
	probe  *serverProbe
	procs  int
	start  time.Time
	phase  string       // the last barrier released, for progress lines
	server *ServerStats // nil without --server-pid
	result *Result
	// marks are the server's metrics scraped at barriers (markMetrics).
	marks map[string]map[string]float64
}

// markMetrics scrapes the server's metrics at a barrier, for a scenario
// that reads what the server observed between two of them. Without
// --metrics-url it does nothing.
func (co *coordinator) markMetrics(barrier string) {
	if co.cfg.MetricsURL == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := co.probe.scrape(ctx)
	if err != nil {
		co.warn("%v", err)
		return
	}
	if co.marks == nil {
		co.marks = make(map[string]map[string]float64)
	}
	co.marks[barrier] = m
}

// runOnce runs c and returns its result. exe is this program, used to start
// worker processes; empty runs a single worker in this process.
func runOnce(ctx context.Context, c *Config, exe string, stderr io.Writer) (*Result, error) {
	sc, err := scenarioFor(c.Scenario)
	if err != nil {
		return nil, err
	}
	co := &coordinator{cfg: c, sc: sc, stderr: stderr, probe: newServerProbe(c), procs: c.procs(), phase: "starting"}
	masked := *c
	if masked.JWTSecret != "" {
		masked.JWTSecret = "***"
	}
	r := &Result{Tool: "presenced-bench", Scenario: c.Scenario, Started: time.Now().UTC(), Procs: co.procs,
		Config: &masked, Counts: map[string]int64{}, Rates: map[string]float64{}, Values: map[string]float64{},
		LatencyMs: map[string]*Summary{}}
	co.result = r
	co.preflight(ctx)
	cpu0 := co.sampleBefore(ctx)
	if co.procs == 1 {
		exe = "" // one worker: run it here, no process to start
	}

	events := make(chan event, 4096)
	quit := make(chan struct{})
	co.start = time.Now()
	tool0 := toolCPUSeconds()
	hs, err := startWorkers(ctx, c, co.procs, exe, events, quit)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	stopAll := func() {
		once.Do(func() {
			close(quit)
			for _, h := range hs {
				h.stop(10 * time.Second)
			}
		})
	}
	defer stopAll()
	parts, err := co.loop(ctx, hs, events)
	if err != nil {
		return nil, err
	}
	r.ElapsedS = round3(time.Since(co.start).Seconds())
	co.sampleAfter(ctx, cpu0)
	stopAll() // worker processes count in the tool's CPU time once they exited
	r.Values["toolCpuSeconds"] = round3(toolCPUSeconds() - tool0)
	merged := mergePartials(parts)
	r.Counts = merged.Counts
	sc.finish(co, merged, r)
	if co.server != nil {
		r.Server = co.server
		r.row("server memory", "%s before, %s after (peak %s)",
			fmtBytes(float64(co.server.RSSBefore)), fmtBytes(float64(co.server.RSSAfter)), fmtBytes(float64(co.server.RSSPeak)))
		r.row("CPU-seconds", "server %.1f, this tool %.1f, in %.1fs", co.server.CPUSeconds, r.Values["toolCpuSeconds"], r.ElapsedS)
	} else {
		r.row("CPU-seconds", "this tool %.1f, in %.1fs", r.Values["toolCpuSeconds"], r.ElapsedS)
	}
	r.OK = len(r.Failures) == 0
	return r, nil
}

// loop handles worker messages until every worker has sent its result.
func (co *coordinator) loop(ctx context.Context, hs []workerHandle, events <-chan event) ([]*Partial, error) {
	n := len(hs)
	latest := make([]map[string]int64, n)
	arrived := map[string]int{}
	parts := make([]*Partial, n)
	got := 0
	tick := time.NewTicker(co.cfg.Progress)
	defer tick.Stop()
	for got < n {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("interrupted: %w", ctx.Err())
		case <-tick.C:
			line := co.sc.tick(co, sumCounts(latest))
			fmt.Fprintf(co.stderr, "[%6.1fs] %-9s %s\n", time.Since(co.start).Seconds(), co.phase, line)
		case e := <-events:
			if e.gone != nil {
				if parts[e.from] == nil {
					return nil, e.gone
				}
				continue
			}
			m := e.msg
			if m.Counts != nil {
				latest[e.from] = m.Counts
			}
			switch m.Kind {
			case "barrier":
				arrived[m.Barrier]++
				if arrived[m.Barrier] == n {
					co.sc.atBarrier(co, m.Barrier, sumCounts(latest))
					co.phase = m.Barrier
					for _, h := range hs {
						h.send(coordMsg{Kind: "release", Barrier: m.Barrier})
					}
				}
			case "note":
				for i, h := range hs {
					if i != e.from {
						h.send(coordMsg{Kind: "note", Note: m.Note})
					}
				}
			case "result":
				if m.Result == nil {
					return nil, fmt.Errorf("worker %d sent an empty result", e.from)
				}
				parts[e.from] = m.Result
				got++
			case "fatal":
				return nil, errors.New(m.Err)
			}
		}
	}
	return parts, nil
}

func sumCounts(ms []map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for _, m := range ms {
		for k, v := range m {
			out[k] += v
		}
	}
	return out
}

// warn records a warning in the result and says it at once.
func (co *coordinator) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	co.result.Warnings = append(co.result.Warnings, msg)
	fmt.Fprintf(co.stderr, "warning: %s\n", msg)
}

// preflight warns about settings that would spoil the measurement.
func (co *coordinator) preflight(ctx context.Context) {
	c := co.cfg
	if per := ceilDiv(c.connsNeeded(), co.procs); per > maxConnsPerProc {
		co.warn("each worker holds %d connections; over %d the open-file limit (20,000 here) may refuse some: raise --procs", per, maxConnsPerProc)
	}
	if lim, err := raiseFileLimit(); err == nil && co.procs == 1 && uint64(c.connsNeeded()+100) > lim {
		co.warn("open-file limit is %d for %d connections: raise --procs", lim, c.connsNeeded())
	}
	if c.Scenario == "messages" && c.Rate/float64(c.Pairs) > 50 {
		co.warn("each sender sends %.0f frames/s; presenced's default limits.rate_per_second is 50 (answered rate_limited): use more --pairs or raise the server's limit", c.Rate/float64(c.Pairs))
	}
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := newAPI(c, newIdentity(c)).info(ictx)
	if err != nil {
		return // not every server has /v1/info
	}
	if c.Scenario == "presence" && info.Visibility != "" && info.Visibility != "all" {
		co.warn("the server's presence.visibility is %q: viewers see no churn changes unless it is \"all\"", info.Visibility)
	}
}

// sampleBefore reads the server's memory, CPU time and metrics before the
// first connection; it returns the CPU time.
func (co *coordinator) sampleBefore(ctx context.Context) float64 {
	var cpu float64
	if co.cfg.ServerPID > 0 {
		rss, err := co.probe.rss()
		if err != nil {
			co.warn("%v", err)
		} else {
			co.server = &ServerStats{PID: co.cfg.ServerPID, RSSBefore: rss, RSSPeak: rss}
			cpu, _ = co.probe.cpuSeconds()
		}
	}
	if co.cfg.MetricsURL != "" {
		m, err := co.probe.scrape(ctx)
		if err != nil {
			co.warn("%v", err)
		}
		co.result.MetricsBefore = m
	}
	return cpu
}

// sampleAfter reads the server's CPU time and metrics at the end. Memory
// "after" is read by the scenario at the moment that means something (while
// connections are still open); when it did not, it is read here.
func (co *coordinator) sampleAfter(ctx context.Context, cpu0 float64) {
	if co.server != nil {
		if co.server.RSSAfter == 0 {
			co.server.RSSAfter = co.rss()
		}
		if cpu, err := co.probe.cpuSeconds(); err == nil {
			co.server.CPUSeconds = round3(cpu - cpu0)
		}
	}
	if co.cfg.MetricsURL != "" {
		m, err := co.probe.scrape(ctx)
		if err != nil {
			co.warn("%v", err)
		}
		co.result.MetricsAfter = m
	}
}

// rss reads the server's memory now (0 without --server-pid) and keeps
// the peak.
func (co *coordinator) rss() int64 {
	if co.server == nil {
		return 0
	}
	v, err := co.probe.rss()
	if err != nil {
		return 0
	}
	co.server.RSSPeak = max(co.server.RSSPeak, v)
	return v
}

// readAfter reads the server's memory with every connection still open
// (the workers wait at a barrier), as the cost of the open ones.
func (co *coordinator) readAfter(open int64) {
	co.server.RSSAfter = co.rss()
	co.server.BytesPerConn = co.perConn(co.server.RSSAfter, open)
}

// perConn is the server's memory growth per open connection.
func (co *coordinator) perConn(rss, open int64) float64 {
	if co.server == nil || open <= 0 || rss == 0 {
		return 0
	}
	return float64(int64(float64(rss-co.server.RSSBefore) / float64(open)))
}

// toolCPUSeconds is the user+system CPU time of this process and of its
// children that have exited (worker processes), so far.
func toolCPUSeconds() float64 {
	sec := func(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }
	total := 0.0
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			total += sec(ru.Utime) + sec(ru.Stime)
		}
	}
	return total
}
