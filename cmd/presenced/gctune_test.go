package main

import "testing"

func TestGCPercentKeepsAFixedHeadroom(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, gcMaxPercent},
		{4 << 20, gcMaxPercent}, // few connections: Go's default
		{32 << 20, 50},          // 16 MiB over 32 MiB live
		{48 << 20, 33},
		{400 << 20, gcMinPercent}, // many connections: little garbage each
	} {
		if got := gcPercentFor(tc.live); got != tc.want {
			t.Errorf("live %d MiB: GOGC %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}
