package main

import (
	"context"
	"fmt"
)

// idleScenario holds --conns connections open for --duration, each
// heartbeating at the interval presence:connected advertised and answering
// the server's pings, and reads what they cost the server: its resident
// memory before the first connection, once all are open, at the end of the
// hold, and at checkpoints on the way (1,000, 2,000, 5,000, 10,000, ...
// connections), each as bytes per open connection.
//
// Barriers: "start" (all workers ready), "connected" (all open), "held"
// (the hold is over; memory is read before anything closes).
type idleScenario struct{}

func (idleScenario) work(ctx context.Context, w *worker) (*Partial, error) {
	o, err := openShare(ctx, w, "i")
	defer o.set.closeAll(w.parShare())
	if err != nil {
		return nil, err
	}
	if err := w.barrier(ctx, "connected"); err != nil {
		return nil, err
	}
	if err := sleepCtx(ctx, w.cfg.Duration); err != nil {
		return nil, fmt.Errorf("holding connections: %w", err)
	}
	if err := w.barrier(ctx, "held"); err != nil {
		return nil, err
	}
	p := newPartial()
	o.report(p)
	p.Counts["open_at_end"] = w.cnt.get(cOpen).Load()
	return p, nil
}

func (idleScenario) atBarrier(co *coordinator, name string, counts map[string]int64) {
	if co.server == nil {
		return
	}
	switch name {
	case "connected":
		co.server.RSSConnected = co.rss()
		co.checkpoint(counts[cOpen], co.server.RSSConnected)
	case "held":
		co.readAfter(counts[cOpen])
	}
}

// checkpointAt are the connection counts where idle reads memory on the way.
var checkpointAt = []int64{1000, 2000, 5000, 10000, 19000, 20000, 50000, 100000, 200000}

// checkpoint records the memory at open connections when it has passed a
// checkpoint not yet recorded.
func (co *coordinator) checkpoint(open, rss int64) {
	if co.server == nil || rss == 0 {
		return
	}
	done := int64(0)
	if n := len(co.server.Checkpoints); n > 0 {
		done = co.server.Checkpoints[n-1].Conns
	}
	for _, at := range checkpointAt {
		if open >= at && done < at {
			co.server.Checkpoints = append(co.server.Checkpoints, Checkpoint{Conns: open, RSS: rss, BytesPerConn: co.perConn(rss, open)})
			return
		}
	}
}

func (idleScenario) tick(co *coordinator, counts map[string]int64) string {
	rss := co.rss()
	if co.phase == "start" || co.phase == "starting" {
		co.checkpoint(counts[cOpen], rss)
	}
	line := connLine(counts, co.cfg.Conns) + fmt.Sprintf("  heartbeats %d/%d acked", counts[cAcks], counts[cHeartbeats])
	if rss > 0 {
		line += fmt.Sprintf("  server %s", fmtBytes(float64(rss)))
	}
	return line
}

func (idleScenario) finish(co *coordinator, p *Partial, r *Result) {
	c := co.cfg
	opened := connectResult(p, r)
	r.row("connections", "%d opened of %d, %d failed, %d open at the end", opened, c.Conns, p.Counts[cDialFailed], p.Counts["open_at_end"])
	r.row("connect rate", "%.0f/s", r.Rates["connects"])
	r.latencyRow("connect time", "connect")
	r.row("held", "%s; %d heartbeats, %d acked; %d closed by the server; %d error frames",
		c.Duration, p.Counts[cHeartbeats], p.Counts[cAcks], p.Counts[cClosed], p.Counts[cErrors])
	if s := co.server; s != nil {
		r.Values["bytesPerConn"] = s.BytesPerConn
		r.row("server memory per conn", "%s (RSS %s → %s over %d connections)", fmtBytes(s.BytesPerConn),
			fmtBytes(float64(s.RSSBefore)), fmtBytes(float64(s.RSSAfter)), p.Counts["open_at_end"])
		for _, cp := range s.Checkpoints {
			r.row(fmt.Sprintf("  at %d conns", cp.Conns), "%s per conn", fmtBytes(cp.BytesPerConn))
		}
	}
	r.check(opened < int64(c.Conns), "%d of %d connections failed", int64(c.Conns)-opened, c.Conns)
	r.check(p.Counts[cClosed] > 0, "the server closed %d connections during the hold", p.Counts[cClosed])
	r.check(p.Counts[cErrors] > 0, "%d error frames", p.Counts[cErrors])
}
