package actors

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestPanickingUserActorRestartsWithItsConnections(t *testing.T) {
	logs := &errorLog{}
	h := newHarness(t, func(o *Options) { o.Logger = slog.New(logs) })
	h.contacts("alice", "bob")
	h.contacts("carol", "bob")
	bob, _ := h.connect("bob", client)
	tab1, _ := h.connect("alice", client)
	tab2, _ := h.connect("alice", client)
	carol, _ := h.connect("carol", client)
	if err := tab1.sess.Focus("bob"); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Second)
	h.updates(bob)

	h.e.root.Send(tab1.sess.grain(), &crash{})
	h.clock.Advance(time.Second)
	h.expectNothing(bob) // still online for bob: the focus survived
	if got := logs.errors(); !slices.Contains(got, "actor panicked; restarting it") {
		t.Fatalf("the panic was not logged at ERROR: %q", got)
	}
	for _, p := range []*probe{tab1, tab2, carol} {
		if closed, _ := p.isClosed(); closed {
			t.Fatal("a connection was dropped by the restart")
		}
	}

	// The rebuilt actor serves the connections it rebuilt.
	tab1.sess.Blur("bob")
	h.clock.Advance(time.Second)
	h.expectUpdate(bob, map[string]string{"alice": "active"})
	for range 3 {
		h.clock.Advance(20 * time.Second)
		tab1.sess.Heartbeat()
		bob.sess.Heartbeat()
		carol.sess.Heartbeat()
	}
	if closed, _ := tab2.isClosed(); !closed {
		t.Fatal("the silent tab outlived its heartbeat deadline after the restart")
	}
	h.expectNothing(bob) // tab1 still holds alice's presence
	tab1.sess.Close()
	h.clock.Advance(2 * time.Second)
	h.expectUpdate(bob, map[string]string{"alice": "offline"})
}

func TestRepeatedFailuresCloseTheUsersConnectionsOnly(t *testing.T) {
	h := newHarness(t)
	h.contacts("alice", "bob")
	bob, _ := h.connect("bob", client)
	alice, _ := h.connect("alice", client)
	for range 11 { // more than supervision allows in its window
		h.e.root.Send(alice.sess.grain(), &crash{})
	}
	if closed, code := alice.isClosed(); !closed || code != CloseInternalError {
		t.Fatalf("closed=%v code=%d, want alice's connection closed with 1011 so it reconnects", closed, code)
	}
	if closed, _ := bob.isClosed(); closed {
		t.Fatal("another user's connection was dropped")
	}
	// alice reconnects to a fresh actor.
	h.connect("alice", client)
}

func TestShutdownEndsUsersWithoutCallingItFailure(t *testing.T) {
	logs := &errorLog{}
	h := newHarness(t, func(o *Options) { o.Logger = slog.New(logs) })
	alice, _ := h.connect("alice", client)
	bob, _ := h.connect("bob", client)

	if err := h.e.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*probe{alice, bob} {
		if closed, code := p.isClosed(); !closed || code != CloseServiceRestart {
			t.Fatalf("connection closed=%v with %d, want %d (service restart)", closed, code, CloseServiceRestart)
		}
	}
	if got := logs.errors(); len(got) > 0 {
		t.Fatalf("shutdown logged errors: %q", got)
	}
}

// errorLog records the messages of ERROR records.
type errorLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *errorLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelError }
func (l *errorLog) WithAttrs([]slog.Attr) slog.Handler            { return l }
func (l *errorLog) WithGroup(string) slog.Handler                 { return l }
func (l *errorLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}

func (l *errorLog) errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.msgs)
}
