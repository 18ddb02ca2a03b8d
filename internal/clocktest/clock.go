// Package clocktest is a fake clock for deterministic tests of the actors:
// time stands still until the test advances it, and due timers run in the
// order they are due, on the test's goroutine.
package clocktest

import (
	"sort"
	"sync"
	"time"
)

// Clock is a fake actors.Clock.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers []*timer
}

type timer struct {
	due     time.Time
	seq     uint64
	f       func()
	stopped bool
}

// New returns a clock standing at start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f at Now()+d; it runs during the Advance that reaches it.
func (c *Clock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &timer{due: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped && c.has(t)
		t.stopped = true
		return was
	}
}

func (c *Clock) has(t *timer) bool {
	for _, x := range c.timers {
		if x == t {
			return true
		}
	}
	return false
}

// Advance moves the clock forward by d. Every timer due by then runs in due
// order (ties in the order they were set), with Now() reading its due time;
// timers set by those calls run too if they fall due within d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	for {
		t := c.nextDue(target)
		if t == nil {
			break
		}
		c.now = t.due
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
	c.now = target
	c.mu.Unlock()
}

// nextDue removes and returns the earliest live timer due by target.
func (c *Clock) nextDue(target time.Time) *timer {
	live := c.timers[:0]
	for _, t := range c.timers {
		if !t.stopped {
			live = append(live, t)
		}
	}
	c.timers = live
	sort.Slice(c.timers, func(i, j int) bool {
		a, b := c.timers[i], c.timers[j]
		if !a.due.Equal(b.due) {
			return a.due.Before(b.due)
		}
		return a.seq < b.seq
	})
	if len(c.timers) == 0 || c.timers[0].due.After(target) {
		return nil
	}
	t := c.timers[0]
	c.timers = c.timers[1:]
	return t
}

// Pending is the number of timers set and not yet run or stopped.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped {
			n++
		}
	}
	return n
}
