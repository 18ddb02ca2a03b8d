package actors

import (
	"slices"
	"sync"

	"github.com/presenced/presenced/messages"
)

// Conn is a live client connection as the actors see it; transport
// implements it. Both methods are called from actor goroutines and must
// never block.
type Conn interface {
	// Push queues one encoded frame for the client. It returns false when
	// the connection is closed, or when its queue overflowed, in which case
	// the connection closes itself: a slow reader never slows an actor.
	Push(frame []byte) bool
	// Close ends the connection with a WebSocket close code and reason.
	Close(code int, reason string)
	// Unwritten counts the frames pushed and not yet handed to the socket
	// (one being written counts no more: its client may already have it):
	// the registry holds presence back from a connection that is behind,
	// to merge it into fewer frames.
	Unwritten() int
}

// ReturningConn is a Conn that can hand a frame's buffer back once the
// frame is written. The registry's greetings are as long as the online
// list (a megabyte at 10,000 users seeing each other): allocated anew for
// every connection, they were most of the garbage, and most of the
// collector's work, while thousands of users came online.
type ReturningConn interface {
	Conn
	// PushReturned is Push for a frame whose buffer the pusher wants back:
	// done gets it once the frame is written, and nothing of the
	// connection holds it after. A frame never written is not handed back.
	PushReturned(frame []byte, done func([]byte)) bool
}

// WebSocket close codes the actors use.
const (
	CloseNormal         = 1000
	ClosePolicy         = 1008
	CloseInternalError  = 1011
	CloseServiceRestart = 1012
)

// connKey identifies a connection anywhere in the cluster, as a map key.
type connKey struct {
	member string
	id     uint64
}

func keyOf(ref *messages.ConnRef) connKey { return connKey{ref.GetMember(), ref.GetId()} }

// connTable is the member's index of its local sessions, by id and by user.
// Actors reach local connections through it without a hop; it is also what
// a restarted user actor rebuilds its connections from.
type connTable struct {
	mu     sync.RWMutex
	byID   map[uint64]*Session
	byUser map[string][]*Session // a user has a few connections at most
}

func newConnTable() *connTable {
	return &connTable{byID: make(map[uint64]*Session), byUser: make(map[string][]*Session)}
}

func (t *connTable) add(s *Session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byID[s.ref.Id] = s
	t.byUser[s.user] = append(t.byUser[s.user], s)
}

func (t *connTable) remove(s *Session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID[s.ref.Id] != s {
		return
	}
	delete(t.byID, s.ref.Id)
	rest := slices.DeleteFunc(t.byUser[s.user], func(x *Session) bool { return x == s })
	if len(rest) == 0 {
		delete(t.byUser, s.user)
	} else {
		t.byUser[s.user] = rest
	}
}

func (t *connTable) get(id uint64) *Session {
	t.mu.RLock()
	s := t.byID[id]
	t.mu.RUnlock()
	return s
}

func (t *connTable) ofUser(user string) []*Session {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Clone(t.byUser[user])
}

func (t *connTable) all() []*Session {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*Session, 0, len(t.byID))
	for _, s := range t.byID {
		out = append(out, s)
	}
	return out
}

func (t *connTable) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.byID)
}
