package actors

import "time"

// Clock is how time enters the actors: every deadline, grace period and
// coalescing window is measured and scheduled through it, so tests can drive
// a fake clock instead of sleeping.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f on its own goroutine after d. The returned stop
	// prevents the call if it has not started, reporting whether it did.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// RealClock is the production Clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
