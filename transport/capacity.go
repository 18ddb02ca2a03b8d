package transport

import (
	"sync/atomic"
	"time"
)

// capacity bounds the WebSocket connections one process holds. Past its
// open-file limit a process can no longer accept: clients would wait in the
// listen backlog until their dial timed out, and /healthz, /metrics and the
// store's own files would be out of reach with them. Refusing an upgrade at
// the bound, with a status a client or a load balancer can act on, keeps
// the descriptors the rest of the server needs.
type capacity struct {
	max  int64 // 0: no bound
	open atomic.Int64
	// warned gates the log: a full server refuses thousands of upgrades a
	// second, the log needs one.
	warned minuteGate
}

// take counts a connection in, or reports that the server is full.
func (c *capacity) take() bool {
	if c.open.Add(1) <= c.max || c.max == 0 {
		return true
	}
	c.open.Add(-1)
	return false
}

// full reports whether the next connection would be refused.
func (c *capacity) full() bool { return c.max > 0 && c.open.Load() >= c.max }

// give counts out a connection that take counted in.
func (c *capacity) give() { c.open.Add(-1) }

// minuteGate lets one of many goroutines through at most once a minute:
// for warnings about a condition that repeats thousands of times a second.
type minuteGate struct {
	last atomic.Int64 // unix ns of the last time through
}

// open reports whether now is the first time through in a minute.
func (g *minuteGate) open(now time.Time) bool {
	last := g.last.Load()
	return now.UnixNano()-last >= int64(time.Minute) && g.last.CompareAndSwap(last, now.UnixNano())
}
