package actors

import (
	"context"
	"strconv"
	"testing"
)

// discard is a connection that writes everything at once and keeps
// nothing, handing buffers straight back.
type discard struct{}

func (discard) Push([]byte) bool { return true }
func (discard) PushReturned(frame []byte, done func([]byte)) bool {
	done(frame)
	return true
}
func (discard) Close(int, string) {}
func (discard) Unwritten() int    { return 0 }

// BenchmarkGreetingOfAViewerWhoSeesEveryone: a tab of an ADMIN opened and
// closed while 10,000 users are online: the registry's greeting lists them
// all. The first tab's connect is the only presence change (the next ones
// come back inside the grace, which the fake clock never ends).
func BenchmarkGreetingOfAViewerWhoSeesEveryone(b *testing.B) {
	h := newHarness(b)
	ctx := context.Background()
	for i := range 10_000 {
		if _, err := h.e.Connect(ctx, "u"+strconv.Itoa(i), client, discard{}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		s, err := h.e.Connect(ctx, "admin", admin, discard{})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
