package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// scenario is one workload, in two halves: work runs in every worker on its
// share; the other methods run on the coordinator.
type scenario interface {
	// work runs this worker's share and returns what it measured. It stops
	// when ctx ends, closing every connection it opened.
	work(ctx context.Context, w *worker) (*Partial, error)
	// atBarrier runs when every worker has reached the barrier called name,
	// before they are released; counts are the workers' summed counters.
	atBarrier(co *coordinator, name string, counts map[string]int64)
	// tick runs at every progress period and returns the progress line.
	tick(co *coordinator, counts map[string]int64) string
	// finish fills r from the merged partial of every worker.
	finish(co *coordinator, p *Partial, r *Result)
}

func scenarioFor(name string) (scenario, error) {
	switch name {
	case "idle":
		return idleScenario{}, nil
	case "presence":
		return presenceScenario{}, nil
	case "messages":
		return messagesScenario{}, nil
	case "storm":
		return stormScenario{}, nil
	}
	return nil, fmt.Errorf("unknown scenario %q", name)
}

// userID names a simulated user: the run's prefix, a kind letter and a
// number, so that runs against the same server never share a user.
func userID(c *Config, kind string, n int) string {
	return fmt.Sprintf("%s%d", userPrefix(c, kind), n)
}

// userPrefix is what every userID(c, kind, n) starts with.
func userPrefix(c *Config, kind string) string {
	return fmt.Sprintf("%s-%d%s", c.IDPrefix, c.Run, kind)
}

// opener opens many connections, par at a time, and times each one from
// the dial to presence:connected.
type opener struct {
	w       *worker
	set     *connSet
	connect *syncHistogram
	first   atomic.Int64 // unix ns of the first dial
	last    atomic.Int64 // unix ns of the last presence:connected
}

func newOpener(w *worker) *opener {
	return &opener{w: w, set: &connSet{}, connect: &syncHistogram{}}
}

// open connects users user(0..n-1), par at a time, heartbeating each at the
// interval the server advertised when heartbeat is set, and gives each
// frame to h. It returns the connections by i, nil where the dial failed.
func (o *opener) open(ctx context.Context, n, par int, user func(i int) string, h handler, heartbeat bool) []*conn {
	conns := make([]*conn, n)
	o.first.CompareAndSwap(0, time.Now().UnixNano())
	forEach(ctx, n, par, func(i int) {
		t0 := time.Now()
		c, hi, err := dialConn(ctx, o.w.pool.dialer(i), o.w.endpoint, o.w.id, user(i), o.w.cfg.Role, o.w.cfg.ConnectTimeout, o.w.cnt)
		if err != nil {
			return
		}
		done := time.Now()
		o.connect.Record(int64(done.Sub(t0)))
		for {
			last := o.last.Load()
			if done.UnixNano() <= last || o.last.CompareAndSwap(last, done.UnixNano()) {
				break
			}
		}
		every := time.Duration(0)
		if heartbeat && hi.HeartbeatIntervalMs > 0 {
			every = time.Duration(hi.HeartbeatIntervalMs) * time.Millisecond
		}
		c.start(h, every)
		o.set.add(c)
		conns[i] = c
	})
	return conns
}

// report puts the connect times and the span of the opening into p.
func (o *opener) report(p *Partial) {
	p.hist("connect").Merge(o.connect.Snapshot())
	if f := o.first.Load(); f != 0 {
		p.minTo("connect_first", f)
	}
	if l := o.last.Load(); l != 0 {
		p.maxTo("connect_last", l)
	}
}

// connectRate is connections opened per second of the whole opening.
func connectRate(p *Partial, opened int64) float64 {
	span := float64(p.Maxes["connect_last"]-p.Mins["connect_first"]) / 1e9
	if span <= 0 || opened == 0 {
		return 0
	}
	return float64(int64(float64(opened)/span*10)) / 10
}

// connectResult makes the connect times r's primary latency, and the
// opening's rate its achieved rate, for the scenarios that only open
// connections; it returns the connections opened.
func connectResult(p *Partial, r *Result) int64 {
	opened := p.Counts[cOpened]
	r.Primary = "connect"
	r.LatencyMs["connect"] = summarize(p.Hists["connect"])
	r.Rates["connects"] = connectRate(p, opened)
	r.Rates["achieved"] = r.Rates["connects"]
	return opened
}

// openShare opens this worker's share of --conns, users named by kind,
// once every worker reached the "start" barrier. The caller closes them
// (o.set.closeAll), also after an error.
func openShare(ctx context.Context, w *worker, kind string) (*opener, error) {
	lo, hi := w.share(w.cfg.Conns)
	o := newOpener(w)
	if err := w.barrier(ctx, "start"); err != nil {
		return o, err
	}
	o.open(ctx, hi-lo, w.parShare(), func(i int) string { return userID(w.cfg, kind, lo+i) }, nil, true)
	return o, nil
}

// parShare is this worker's part of --concurrency.
func (w *worker) parShare() int { return max(1, ceilDiv(w.cfg.Concurrency, w.count)) }

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// connLine is the progress line part about connections.
func connLine(counts map[string]int64, want int) string {
	return fmt.Sprintf("open %d/%d  failed %d  closed %d  errors %d", counts[cOpen], want,
		counts[cDialFailed], counts[cClosed], counts[cErrors])
}
