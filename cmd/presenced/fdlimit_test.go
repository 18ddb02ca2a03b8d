package main

import "testing"

func TestConnectionCapacityLeavesDescriptorsForTheRest(t *testing.T) {
	for _, tc := range []struct {
		limit int
		known bool
		want  int
	}{
		{20000, true, 19600},     // this project's machines: 2% kept back
		{1048576, true, 1027605}, // a raised limit keeps 2%
		{1024, true, 896},        // a small one keeps at least 128
		{256, true, 0},           // too small to keep any: no bound
		{0, false, 0},            // unknown: no bound
	} {
		if got := connectionCapacity(tc.limit, tc.known); got != tc.want {
			t.Errorf("connectionCapacity(%d, %v) = %d, want %d", tc.limit, tc.known, got, tc.want)
		}
	}
}
