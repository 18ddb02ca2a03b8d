package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The garbage collector lets the heap grow by GOGC percent of what is live
// before collecting. A presence server's heap is mostly connection state
// that lives for hours: at 19,000 idle connections Go's default (100) let
// each carry about 5 KiB of garbage, as much as the connection itself;
// while with few connections and many messages a small percentage makes
// the collector run all the time. So the headroom is kept at a fixed
// amount, gcHeadroom, within [gcMinPercent, gcMaxPercent] (Go's default)
// of the live heap, re-read every gcTuneEvery. 16 MiB, not 32: at 10,000
// idle connections (~55 MiB live) 32 MiB of headroom was a third of each
// connection's share of memory. GOGC in the environment turns this off.
const (
	gcHeadroom   = 16 << 20
	gcMinPercent = 25
	gcMaxPercent = 100
	gcTuneEvery  = time.Second
)

// tuneGC runs until ctx ends.
func tuneGC(ctx context.Context) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	set := -1
	tick := time.NewTicker(gcTuneEvery)
	defer tick.Stop()
	for {
		metrics.Read(sample)
		if pct := gcPercentFor(sample[0].Value.Uint64()); pct != set {
			debug.SetGCPercent(pct)
			set = pct
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// gcPercentFor is the GOGC that gives a live heap gcHeadroom to grow.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return gcMaxPercent
	}
	return int(min(max(gcHeadroom*100/live, gcMinPercent), gcMaxPercent))
}
