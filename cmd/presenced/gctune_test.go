package main

import "testing"

func TestGCPercentKeepsAFixedHeadroom(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, gcMaxPercent},
		{4 << 20, gcMaxPercent},   // few connections: Go's default
		{64 << 20, 50},            // half the default at 64 MiB live
		{400 << 20, gcMinPercent}, // many connections: little garbage each
	} {
		if got := gcPercentFor(tc.live); got != tc.want {
			t.Errorf("live %d MiB: GOGC %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}
