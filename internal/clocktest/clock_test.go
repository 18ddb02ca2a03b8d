package clocktest

import (
	"testing"
	"time"
)

func TestAdvanceRunsTimersInDueOrderAtTheirTime(t *testing.T) {
	c := New(time.Unix(0, 0))
	var got []time.Duration
	record := func() { got = append(got, c.Now().Sub(time.Unix(0, 0))) }
	c.AfterFunc(3*time.Second, record)
	c.AfterFunc(1*time.Second, func() {
		record()
		c.AfterFunc(time.Second, record) // due at 2s, inside the same advance
	})
	stop := c.AfterFunc(2500*time.Millisecond, record)
	if !stop() {
		t.Fatal("stopping a pending timer reported false")
	}
	c.Advance(5 * time.Second)
	want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}
	if len(got) != len(want) {
		t.Fatalf("fired at %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("fired at %v, want %v", got, want)
		}
	}
	if c.Pending() != 0 {
		t.Fatalf("%d timers left", c.Pending())
	}
}

func TestTimerNotDueDoesNotRun(t *testing.T) {
	c := New(time.Unix(0, 0))
	ran := false
	c.AfterFunc(time.Second, func() { ran = true })
	c.Advance(999 * time.Millisecond)
	if ran {
		t.Fatal("timer ran before it was due")
	}
	c.Advance(time.Millisecond)
	if !ran {
		t.Fatal("timer did not run exactly at its due time")
	}
}
