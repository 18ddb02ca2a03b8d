package actors

import (
	"context"
	"runtime"
	"strconv"
	"testing"
)

// BenchmarkHeapPerConnectedUser: what a connected user costs the actors'
// heap (its user actor, Proto.Actor's bookkeeping of it, the registry's
// entries, the connection table), the transport's side excluded. Run it
// with a fixed count, so that every run holds as many users:
//
//	go test -run '^$' -bench HeapPerConnectedUser -benchtime 10000x ./actors/
func BenchmarkHeapPerConnectedUser(b *testing.B) {
	h := newHarness(b)
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	n := 0
	for b.Loop() {
		if _, err := h.e.Connect(ctx, "u"+strconv.Itoa(n), client, discard{}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(n), "heap-B/user")
}
