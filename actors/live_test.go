package actors

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/messages"
)

// Tests on the real dispatchers (clusters, parallel commits) cannot know
// when the actors are done; they wait for what they expect, up to
// clusterWait, never for a fixed time.
const clusterWait = 15 * time.Second

// eventually probes cond until it holds, failing with what() after
// clusterWait: membership and remoting run on real time, not the fake
// clock.
func eventually(t testing.TB, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(clusterWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(what())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// liveProbe is a connection recording frames for tests that wait for them.
// It remembers the latest status of every user its presence frames showed,
// since one frame may carry several users.
type liveProbe struct {
	frames chan frame
	closed chan int
	sess   *Session
	once   sync.Once
	seen   map[string]string
}

func newLiveProbe() *liveProbe {
	return &liveProbe{frames: make(chan frame, 4096), closed: make(chan int, 1), seen: make(map[string]string)}
}

func (p *liveProbe) Push(b []byte) bool {
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		panic(string(b))
	}
	select {
	case p.frames <- f:
		return true
	default:
		return false
	}
}

// Unwritten: a live probe takes every frame at once.
func (p *liveProbe) Unwritten() int { return 0 }

func (p *liveProbe) Close(code int, _ string) {
	p.once.Do(func() {
		p.closed <- code
		if p.sess != nil {
			p.sess.Close()
		}
	})
}

// read takes one frame (waiting until deadline), recording presence.
func (p *liveProbe) read(t *testing.T, deadline <-chan time.Time) (frame, bool) {
	t.Helper()
	select {
	case f := <-p.frames:
		if f.Type == messages.TypePresenceUpdate || f.Type == messages.TypePresenceConnected {
			var d struct{ Users []wirePresence }
			mustDecode(t, f.Data, &d)
			for _, u := range d.Users {
				p.seen[u.UserID] = u.Status
			}
		}
		return f, true
	case <-deadline:
		return frame{}, false
	}
}

func (p *liveProbe) next(t *testing.T) frame {
	t.Helper()
	f, ok := p.read(t, time.After(clusterWait))
	if !ok {
		t.Fatal("no frame in time")
	}
	return f
}

// status waits until the latest status this viewer was shown of user is want.
func (p *liveProbe) status(t *testing.T, user, want string) {
	t.Helper()
	deadline := time.After(clusterWait)
	for p.seen[user] != want {
		if _, ok := p.read(t, deadline); !ok {
			t.Fatalf("never saw %s %s (last: %q)", user, want, p.seen[user])
		}
	}
}

// until waits for a frame of a type.
func (p *liveProbe) until(t *testing.T, typ string) frame {
	t.Helper()
	deadline := time.After(clusterWait)
	for {
		f, ok := p.read(t, deadline)
		if !ok {
			t.Fatalf("no %s in time", typ)
		}
		if f.Type == typ {
			return f
		}
	}
}

// quiet asserts that the status shown of each user stays as it is for d:
// for a negative there is no event to wait for.
func (p *liveProbe) quiet(t *testing.T, d time.Duration, users ...string) {
	t.Helper()
	before := make(map[string]string)
	for _, u := range users {
		before[u] = p.seen[u]
	}
	deadline := time.After(d)
	for {
		if _, ok := p.read(t, deadline); !ok {
			return
		}
		for _, u := range users {
			if p.seen[u] != before[u] {
				t.Fatalf("%s changed from %s to %s", u, before[u], p.seen[u])
			}
		}
	}
}
