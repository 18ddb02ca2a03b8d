package main

import (
	"context"
	"fmt"
)

// stormScenario opens --conns connections as fast as --concurrency allows
// (that many dials in flight over all workers) and times each from the dial
// to its presence:connected frame: TCP connect, upgrade and authentication,
// and the server's work to bring the user online. Connections stay open
// until every worker is done, so the server holds them all at the end.
//
// Barriers: "start" (all workers ready), "stormed" (all attempts over;
// memory is read before anything closes).
type stormScenario struct{}

func (stormScenario) work(ctx context.Context, w *worker) (*Partial, error) {
	o, err := openShare(ctx, w, "s")
	defer o.set.closeAll(w.parShare())
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("storm interrupted: %w", err)
	}
	if err := w.barrier(ctx, "stormed"); err != nil {
		return nil, err
	}
	p := newPartial()
	o.report(p)
	return p, nil
}

func (stormScenario) atBarrier(co *coordinator, name string, counts map[string]int64) {
	if name == "stormed" && co.server != nil {
		co.readAfter(counts[cOpen])
	}
}

func (stormScenario) tick(co *coordinator, counts map[string]int64) string {
	return connLine(counts, co.cfg.Conns)
}

func (stormScenario) finish(co *coordinator, p *Partial, r *Result) {
	c := co.cfg
	served := connectResult(p, r)
	r.Counts["served"] = served
	r.Counts["failed"] = p.Counts[cDialFailed]
	r.row("connections", "%d served of %d, %d failed (concurrency %d)", served, c.Conns, p.Counts[cDialFailed], c.Concurrency)
	r.row("connect rate", "%.0f/s", r.Rates["connects"])
	r.latencyRow("connect time", "connect")
	r.check(served < int64(c.Conns), "%d of %d connections were not served", int64(c.Conns)-served, c.Conns)
}
