package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"time"
)

// The garbage collector lets the heap grow by GOGC percent of what is live
// before collecting. A presence server's heap is mostly connection state
// that lives for hours: at 19,000 idle connections Go's default (100) let
// each carry about 5 KiB of garbage, as much as the connection itself;
// while with few connections and many messages a small percentage makes
// the collector run all the time. So the headroom over the live heap is
// sized by how fast the server allocates: what it allocates in gcSpacing,
// within [gcMinHeadroom, gcMaxHeadroom] and GOGC ≤ gcMaxPercent (Go's
// default). GOGC stays ≥ gcIdlePercent, so that each collection, which
// costs in proportion to the live heap, comes after allocating as much in
// proportion; at the full headroom (busy), ≥ gcMinPercent. Idle
// connections allocate little (heartbeats): at 10,000 of them the
// collector runs every few seconds with 5 MiB of headroom instead of 16
// (a sixth of each connection's share of memory), and a burst of work
// gets its 16 MiB within a second. The rate is the highest of the last
// gcRateWindow seconds, so that a lull between bursts does not shrink the
// headroom. GOGC in the environment turns this off.
//
// A burst (thousands of connections opening at once) leaves pages the heap
// no longer needs but the process still holds: the runtime returns them
// only gradually, and at 10,000 idle connections ~6 MiB were still held a
// minute after the connections settled. Once the allocation rate has been
// low for the whole window (at most gcMinHeadroom per gcSpacing), the
// tuner returns them at once: a forced collection, cheap while idle, at
// most once per gcReleaseEvery and only with gcReleaseMin to return. A
// server allocating steadily would touch returned pages again within
// seconds, so it is left to the runtime.
const (
	gcMinHeadroom = 4 << 20
	gcMaxHeadroom = 16 << 20
	gcSpacing     = 2 * time.Second
	gcMinPercent  = 25
	gcIdlePercent = 10
	gcMaxPercent  = 100
	gcTuneEvery   = time.Second
	gcRateWindow  = 30

	gcReleaseMin   = 4 << 20
	gcReleaseEvery = time.Minute
)

// tuneGC runs until ctx ends.
func tuneGC(ctx context.Context) {
	sample := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:bytes"}, {Name: "/memory/classes/heap/free:bytes"},
	}
	set := -1
	var released time.Time
	var rates []uint64 // bytes allocated in each of the last seconds
	var allocated uint64
	tick := time.NewTicker(gcTuneEvery)
	defer tick.Stop()
	for {
		metrics.Read(sample)
		total := sample[1].Value.Uint64()
		if allocated > 0 {
			rates = append(rates, uint64(float64(total-allocated)/gcTuneEvery.Seconds()))
			if len(rates) > gcRateWindow {
				rates = rates[1:]
			}
		}
		allocated = total
		rate := uint64(gcMaxHeadroom) // until measured: as busy as can be
		if len(rates) > 0 {
			rate = slices.Max(rates)
		}
		if pct := gcPercentFor(sample[0].Value.Uint64(), rate); pct != set {
			debug.SetGCPercent(pct)
			set = pct
		}
		now := time.Now()
		if len(rates) == gcRateWindow && shouldRelease(sample[2].Value.Uint64(), rate, now.Sub(released)) {
			debug.FreeOSMemory()
			released = now
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// gcPercentFor is the GOGC that gives a live heap the headroom its
// allocation rate (bytes per second) needs.
func gcPercentFor(live, rate uint64) int {
	if live == 0 {
		return gcMaxPercent
	}
	headroom := min(max(perSpacing(rate), gcMinHeadroom), gcMaxHeadroom)
	floor := uint64(gcIdlePercent)
	if headroom == gcMaxHeadroom {
		floor = gcMinPercent
	}
	return int(min(max(headroom*100/live, floor), gcMaxPercent))
}

// shouldRelease: the heap holds free pages worth returning (free bytes),
// and the server has been quiet (rate: the highest allocation rate of the
// window, bytes per second) long enough that a burst is over, not paused;
// since is the time since the last release.
func shouldRelease(free, rate uint64, since time.Duration) bool {
	return free >= gcReleaseMin && perSpacing(rate) <= gcMinHeadroom && since >= gcReleaseEvery
}

// perSpacing is what a rate (bytes per second) allocates in gcSpacing.
func perSpacing(rate uint64) uint64 { return rate * uint64(gcSpacing/time.Second) }
