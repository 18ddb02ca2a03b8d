package main

import (
	"testing"
	"time"
)

func TestGCPercentGivesTheHeadroomTheAllocationRateNeeds(t *testing.T) {
	const busy, idle = 50 << 20, 500 << 10 // bytes allocated per second
	for _, tc := range []struct {
		live, rate uint64
		want       int
	}{
		{0, busy, gcMaxPercent},
		{4 << 20, busy, gcMaxPercent}, // few connections: Go's default
		{32 << 20, busy, 50},          // 16 MiB over 32 MiB live
		{48 << 20, busy, 33},
		{400 << 20, busy, gcMinPercent}, // many connections, busy: GOGC ≥ 25
		{4 << 20, idle, gcMaxPercent},
		{32 << 20, idle, 12},             // idle: 4 MiB over 32 MiB live
		{50 << 20, idle, gcIdlePercent},  // idle: 5 MiB, not 4, over 50 MiB live
		{400 << 20, idle, gcIdlePercent}, // idle, many connections
		{50 << 20, 4 << 20, 16},          // in between: 2 s of allocation, 8 MiB
	} {
		if got := gcPercentFor(tc.live, tc.rate); got != tc.want {
			t.Errorf("live %d MiB, %d KiB/s allocated: GOGC %d, want %d", tc.live>>20, tc.rate>>10, got, tc.want)
		}
	}
}

func TestFreePagesAreReturnedOnlyOnceABurstIsOver(t *testing.T) {
	const idle, busy = 500 << 10, 50 << 20 // bytes allocated per second
	for _, tc := range []struct {
		name        string
		free, rate  uint64
		since       time.Duration
		wantRelease bool
	}{
		{"quiet after a burst", 8 << 20, idle, time.Hour, true},
		{"still busy", 8 << 20, busy, time.Hour, false},
		{"allocating steadily, between idle and busy", 8 << 20, 4 << 20, time.Hour, false},
		{"too little to return", 1 << 20, idle, time.Hour, false},
		{"returned a moment ago", 8 << 20, idle, 10 * time.Second, false},
	} {
		if got := shouldRelease(tc.free, tc.rate, tc.since); got != tc.wantRelease {
			t.Errorf("%s: release %v, want %v", tc.name, got, tc.wantRelease)
		}
	}
}
