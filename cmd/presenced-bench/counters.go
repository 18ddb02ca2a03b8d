package main

import (
	"sync"
	"sync/atomic"
)

// counters are a worker's named event counts (connections opened, frames
// received, errors by code). Getting a counter is a map lookup; adding to it
// is one atomic operation, so thousands of reader goroutines can count
// without a shared lock. Safe for concurrent use.
type counters struct {
	m sync.Map // name → *atomic.Int64
}

// get returns the counter called name, creating it at 0.
func (c *counters) get(name string) *atomic.Int64 {
	if v, ok := c.m.Load(name); ok {
		return v.(*atomic.Int64)
	}
	v, _ := c.m.LoadOrStore(name, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// add adds n to the counter called name.
func (c *counters) add(name string, n int64) { c.get(name).Add(n) }

// snapshot returns every counter's current value.
func (c *counters) snapshot() map[string]int64 {
	out := make(map[string]int64)
	c.m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// Counter names shared by the scenarios. Per-code counts are these
// prefixes plus the code: "error:rate_limited", "close:1008".
const (
	cDialStarted = "dial_started"
	cOpened      = "opened"      // upgraded and presence:connected received
	cDialFailed  = "dial_failed" // any failure before presence:connected
	cOpen        = "open"        // open now (gauge: opened minus ended)
	cClosed      = "closed"      // ended by the server or the network, not by us
	cFramesIn    = "frames_in"
	cBytesIn     = "bytes_in"
	cFramesOut   = "frames_out"
	cHeartbeats  = "heartbeats"
	cAcks        = "heartbeat_acks"
	cErrors      = "errors" // error frames received, all codes
	pError       = "error:"
	pClose       = "close:"
	pDialFail    = "dial_failed:"
)
