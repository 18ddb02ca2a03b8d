package actors

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/clocktest"
	"github.com/presenced/presenced/internal/memstore"
	"github.com/presenced/presenced/messages"
)

// laneStore is a store that commits several batches at once, and records
// how the writer used that: whether batches were ever in flight together,
// and whether one conversation ever was in two of them.
type laneStore struct {
	*memstore.Store
	mu         sync.Mutex
	inFlight   map[string]bool
	flying     int
	first      bool
	overlapped bool
	together   chan struct{} // closed when a second batch started before the first ended
	mixed      []string      // conversations in two batches in flight at once
}

func (s *laneStore) WriteLanes() int { return 4 }

func (s *laneStore) AppendMessages(ctx context.Context, msgs []messages.NewMessage) ([]messages.AppendResult, error) {
	convs := make(map[string]bool)
	for _, m := range msgs {
		convs[m.ConversationID] = true
	}
	s.mu.Lock()
	for c := range convs {
		if s.inFlight[c] {
			s.mixed = append(s.mixed, c)
		}
		s.inFlight[c] = true
	}
	s.flying++
	hold := !s.first
	s.first = true
	if s.flying == 2 && !s.overlapped {
		s.overlapped = true
		close(s.together)
	}
	s.mu.Unlock()
	if hold {
		// The first batch commits only once another is in flight: with
		// one lane, none ever is, and the wait runs out.
		select {
		case <-s.together:
		case <-time.After(clusterWait / 3):
		}
	}
	res, err := s.Store.AppendMessages(ctx, msgs)
	s.mu.Lock()
	for c := range convs {
		delete(s.inFlight, c)
	}
	s.flying--
	s.mu.Unlock()
	return res, err
}

// With a store that commits several batches at once, batches of different
// conversations commit side by side, and each conversation's messages are
// still stored in the order they were sent.
func TestParallelCommitsKeepEachConversationInOrder(t *testing.T) {
	store := &laneStore{Store: memstore.New(), inFlight: make(map[string]bool), together: make(chan struct{})}
	e, err := New(Options{Store: store, Clock: clocktest.New(t0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	const pairs, each = 16, 10
	convs := make([]string, pairs)
	senders := make([]*liveProbe, pairs)
	for i := range pairs {
		from, to := fmt.Sprintf("s%d", i), fmt.Sprintf("r%d", i)
		conv, err := e.CreateConversation(context.Background(), from, client, []string{from, to})
		if err != nil {
			t.Fatal(err)
		}
		convs[i] = conv.Id
		p := newLiveProbe()
		if p.sess, err = e.Connect(context.Background(), from, client, p); err != nil {
			t.Fatal(err)
		}
		senders[i] = p
	}
	for n := range each {
		for i, p := range senders {
			p.sess.Send("r", convs[i], strconv.Itoa(n), fmt.Sprintf("m%d", n))
		}
	}
	for _, p := range senders {
		for range each {
			if f := p.until(t, messages.TypeMessageSent); f.Type != messages.TypeMessageSent {
				t.Fatalf("got %s", f.Type)
			}
		}
	}

	select {
	case <-store.together:
	default:
		t.Fatal("no two batches were ever committed at once")
	}
	if len(store.mixed) > 0 {
		t.Fatalf("conversations %v were in two batches committing at once", store.mixed)
	}
	for _, conv := range convs {
		page, err := store.History(context.Background(), messages.HistoryQuery{ConversationID: conv, Limit: each})
		if err != nil {
			t.Fatal(err)
		}
		for n, m := range page.Messages {
			if m.Seq != int64(n+1) || m.Content != strconv.Itoa(n) {
				t.Fatalf("%s: message %d is seq %d %q, want seq %d %q", conv, n, m.Seq, m.Content, n+1, strconv.Itoa(n))
			}
		}
		if len(page.Messages) != each {
			t.Fatalf("%s holds %d messages, want %d", conv, len(page.Messages), each)
		}
	}
}

// slowUsersStore holds its first write of user records until released: a
// disk slower than one ask's timeout.
type slowUsersStore struct {
	*memstore.Store
	once    sync.Once
	started chan struct{}
	release chan struct{}
}

func (s *slowUsersStore) SaveUsers(ctx context.Context, users []messages.UserSeen) error {
	first := false
	s.once.Do(func() { first = true; close(s.started) })
	if first {
		<-s.release
	}
	return s.Store.SaveUsers(ctx, users)
}

// Shutdown drains store writes for as long as its context allows, not one
// ask's timeout: a user's last seen queued behind a slow write is stored,
// and the shutdown reports no error.
func TestShutdownDrainsSlowWritesWithinItsBudget(t *testing.T) {
	store := &slowUsersStore{Store: memstore.New(), started: make(chan struct{}), release: make(chan struct{})}
	const ask = 20 * time.Millisecond
	e, err := New(Options{Store: store, Clock: clocktest.New(t0), AskTimeout: ask})
	if err != nil {
		t.Fatal(err)
	}
	p := newLiveProbe()
	if p.sess, err = e.Connect(context.Background(), "alice", client, p); err != nil {
		t.Fatal(err)
	}
	<-store.started // alice's role is being written, and held
	release := time.AfterFunc(10*ask, func() { close(store.release) })
	defer release.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	recs, err := store.Users(context.Background(), []string{"alice"})
	if err != nil {
		t.Fatal(err)
	}
	if recs["alice"].LastSeen.IsZero() {
		t.Fatalf("alice's last seen, queued behind a slow write, was never stored: %+v", recs["alice"])
	}
}
