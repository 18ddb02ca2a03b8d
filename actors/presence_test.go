package actors

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/presenced/presenced/messages"
)

const (
	client     = messages.RoleClient
	freelancer = messages.RoleFreelancer
	admin      = messages.RoleAdmin
)

func TestFirstFrameIsTheSnapshotOfVisibleOnlineUsers(t *testing.T) {
	h := newHarness(t)
	h.contacts("alice", "bob")
	h.connect("alice", client)
	h.connect("mallory", client) // online, but no contact of bob

	_, c := h.connect("bob", freelancer)
	if c.You.UserID != "bob" || c.You.Role != freelancer {
		t.Fatalf("you = %+v", c.You)
	}
	if c.HeartbeatIntervalMs != 25000 {
		t.Fatalf("heartbeatIntervalMs = %d", c.HeartbeatIntervalMs)
	}
	if got := sortedIDs(c.Users); !slices.Equal(got, []string{"alice"}) {
		t.Fatalf("snapshot users %v, want only alice", got)
	}
	if c.status("alice") != "active" || c.Users[0].LastSeen != nil || c.Users[0].Role != client {
		t.Fatalf("alice in snapshot = %+v", c.Users[0])
	}
}

func TestContactsSeeConnectAndOfflineAfterGraceWithLastSeen(t *testing.T) {
	h := newHarness(t)
	h.contacts("alice", "bob")
	bob, _ := h.connect("bob", client)

	alice, _ := h.connect("alice", client)
	h.expectUpdate(bob, map[string]string{"alice": "active"})

	h.clock.Advance(time.Second)
	closedAt := h.clock.Now()
	alice.sess.Close()
	h.expectNothing(bob)
	h.clock.Advance(2*time.Second - time.Millisecond)
	h.expectNothing(bob) // still inside the grace
	h.clock.Advance(time.Millisecond)
	u := h.expectUpdate(bob, map[string]string{"alice": "offline"})
	if u[0].LastSeen == nil || *u[0].LastSeen != closedAt.UnixMilli() {
		t.Fatalf("lastSeen = %v, want the moment the last connection ended (%d)", u[0].LastSeen, closedAt.UnixMilli())
	}
}

func TestReloadInsideGraceShowsNoChange(t *testing.T) {
	h := newHarness(t)
	h.contacts("alice", "bob")
	bob, _ := h.connect("bob", client)
	alice, _ := h.connect("alice", client)
	h.expectUpdate(bob, map[string]string{"alice": "active"})
	alice.sess.Focus("bob")
	h.clock.Advance(time.Second)
	h.expectUpdate(bob, map[string]string{"alice": "online"})

	alice.sess.Close()
	h.clock.Advance(1500 * time.Millisecond)
	alice2, _ := h.connect("alice", client)
	alice2.sess.Focus("bob")
	h.clock.Advance(10 * time.Second)
	h.expectNothing(bob)
}

func TestHeartbeatTimeoutClosesAtExactlyTheDeadline(t *testing.T) {
	h := newHarness(t)
	h.contacts("alice", "bob")
	bob, _ := h.connect("bob", client)
	alice, _ := h.connect("alice", client)
	h.updates(bob)

	h.clock.Advance(10 * time.Second)
	alice.sess.Heartbeat() // deadline moves to 40s
	bob.sess.Heartbeat()
	h.clock.Advance(30*time.Second - time.Millisecond)
	if closed, _ := alice.isClosed(); closed {
		t.Fatal("closed before its deadline")
	}
	bob.sess.Heartbeat()
	h.clock.Advance(time.Millisecond)
	closed, code := alice.isClosed()
	if !closed || code != CloseNormal {
		t.Fatalf("closed=%v code=%d at the deadline, want closed with %d", closed, code, CloseNormal)
	}
	deadline := h.clock.Now()
	h.clock.Advance(2 * time.Second)
	u := h.expectUpdate(bob, map[string]string{"alice": "offline"})
	if *u[0].LastSeen != deadline.UnixMilli() {
		t.Fatalf("lastSeen %d, want the close at %d", *u[0].LastSeen, deadline.UnixMilli())
	}
}

func TestSilenceCountsFromTheGreeting(t *testing.T) {
	h := newHarness(t)
	h.pause(h.e.env.registry) // late: a crowd connecting at once
	alice := &probe{}
	s, err := h.e.Connect(context.Background(), "alice", client, alice)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	alice.sess = s
	h.clock.Advance(20 * time.Second)
	h.resume(h.e.env.registry)
	if fs := alice.take(); len(fs) == 0 || fs[0].Type != messages.TypePresenceConnected {
		t.Fatalf("frames %v once the registry caught up, want presence:connected", types(fs))
	}

	// The client heard of the heartbeat interval only now.
	h.clock.Advance(30*time.Second - time.Millisecond)
	if closed, _ := alice.isClosed(); closed {
		t.Fatal("closed 30 s after it attached, though greeted only 10 s before")
	}
	h.clock.Advance(time.Millisecond)
	if closed, _ := alice.isClosed(); !closed {
		t.Fatal("still open 30 s after its greeting without a frame")
	}
}

func TestAnyFrameKeepsAConnectionAlive(t *testing.T) {
	h := newHarness(t)
	alice, _ := h.connect("alice", client)
	for range 5 {
		h.clock.Advance(20 * time.Second)
		alice.sess.Touch() // a pong, or any frame
	}
	if closed, _ := alice.isClosed(); closed {
		t.Fatal("a connection showing life every 20s was closed")
	}
}

func TestSecondTabIsOnePresence(t *testing.T) {
	h := newHarness(t)
	h.contacts("alice", "bob")
	bob, _ := h.connect("bob", client)
	tab1, _ := h.connect("alice", client)
	h.expectUpdate(bob, map[string]string{"alice": "active"})

	tab2, _ := h.connect("alice", client)
	h.expectNothing(bob)
	tab1.sess.Close()
	for range 3 {
		h.clock.Advance(20 * time.Second)
		tab2.sess.Heartbeat()
	}
	h.expectNothing(bob)
	if closed, _ := tab2.isClosed(); closed {
		t.Fatal("the remaining tab was closed")
	}
}

func TestFocusIsPerConnectionAndOnlyThePartnerSeesOnline(t *testing.T) {
	h := newHarness(t)
	h.contacts("alice", "bob")
	h.contacts("alice", "carol")
	bob, _ := h.connect("bob", client)
	carol, _ := h.connect("carol", client)
	tab1, _ := h.connect("alice", freelancer)
	tab2, _ := h.connect("alice", freelancer)
	h.updates(bob)
	h.updates(carol)

	if err := tab1.sess.Focus("bob"); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Second)
	h.expectUpdate(bob, map[string]string{"alice": "online"})
	h.expectNothing(carol) // carol never learns whom alice chats with

	tab2.sess.Blur("") // another tab closing its chats changes nothing
	h.clock.Advance(time.Second)
	h.expectNothing(bob)

	tab1.sess.Blur("bob")
	h.clock.Advance(time.Second)
	h.expectUpdate(bob, map[string]string{"alice": "active"})
	h.expectNothing(carol)
}

func TestVisibilityRules(t *testing.T) {
	t.Run("contacts only", func(t *testing.T) {
		h := newHarness(t)
		stranger, _ := h.connect("dave", client)
		h.connect("alice", client)
		h.expectNothing(stranger)
	})
	t.Run("admin sees everyone", func(t *testing.T) {
		h := newHarness(t)
		h.connect("alice", client)
		root, c := h.connect("root", admin)
		if c.status("alice") != "active" {
			t.Fatalf("admin snapshot %+v", c.Users)
		}
		h.connect("bob", freelancer)
		h.expectUpdate(root, map[string]string{"bob": "active"})
	})
	t.Run("visibility all", func(t *testing.T) {
		h := newHarness(t, func(o *Options) { o.Visibility = VisibilityAll })
		h.connect("alice", client)
		bob, c := h.connect("bob", client)
		if c.status("alice") != "active" {
			t.Fatalf("snapshot %+v", c.Users)
		}
		alice2, _ := h.connect("carol", client)
		h.expectUpdate(bob, map[string]string{"carol": "active"})
		alice2.sess.Focus("dave") // a third party's focus stays private
		h.clock.Advance(time.Second)
		h.expectNothing(bob)
	})
	t.Run("subscribe shows a stranger, unsubscribe hides", func(t *testing.T) {
		h := newHarness(t)
		viewer, _ := h.connect("viewer", client)
		h.connect("star", freelancer)
		viewer.sess.Subscribe("s1", []string{"star", "ghost"})
		fs := viewer.take()
		if len(fs) != 1 || fs[0].Type != messages.TypePresenceSnapshot || fs[0].Ref != "s1" {
			t.Fatalf("answer %v, want one presence:snapshot with ref s1", types(fs))
		}
		var snap struct{ Users []wirePresence }
		mustDecode(t, fs[0].Data, &snap)
		if statusIn(snap.Users, "star") != "active" || statusIn(snap.Users, "ghost") != "offline" {
			t.Fatalf("snapshot %+v", snap.Users)
		}
		h.clock.Advance(time.Second)
		h.connect("ghost", client)
		h.expectUpdate(viewer, map[string]string{"ghost": "active"})

		viewer.sess.Unsubscribe([]string{"ghost"})
		h.clock.Advance(time.Second)
		// ghost going offline is no longer shown.
		for _, s := range h.e.env.conns.ofUser("ghost") {
			s.Close()
		}
		h.clock.Advance(5 * time.Second)
		h.expectNothing(viewer)
	})
	t.Run("subscriptions are bounded", func(t *testing.T) {
		h := newHarness(t, func(o *Options) { o.MaxSubscriptions = 2 })
		viewer, _ := h.connect("viewer", client)
		viewer.sess.Subscribe("a", []string{"u1", "u2"})
		viewer.take()
		viewer.sess.Subscribe("b", []string{"u3"})
		fs := viewer.take()
		if len(fs) != 1 || fs[0].Type != messages.TypeError || fs[0].Ref != "b" {
			t.Fatalf("answer %v, want an error with ref b", types(fs))
		}
		var e struct{ Code string }
		mustDecode(t, fs[0].Data, &e)
		if e.Code != string(messages.CodeLimitExceeded) {
			t.Fatalf("code %s", e.Code)
		}
	})
	t.Run("a new conversation shows its members to each other", func(t *testing.T) {
		h := newHarness(t)
		alice, _ := h.connect("alice", client)
		bob, _ := h.connect("bob", freelancer)
		h.expectNothing(alice)
		h.contacts("alice", "bob")
		h.expectUpdate(alice, map[string]string{"bob": "active"})
		h.expectUpdate(bob, map[string]string{"alice": "active"})
	})
}

func TestBurstInsideTheWindowIsOneFrameWithTheLatestState(t *testing.T) {
	t.Run("all", func(t *testing.T) { testBurstInsideTheWindow(t, VisibilityAll) })
	t.Run("contacts", func(t *testing.T) { testBurstInsideTheWindow(t, VisibilityContacts) })
}

func testBurstInsideTheWindow(t *testing.T, vis Visibility) {
	h := newHarness(t, func(o *Options) { o.Visibility = vis })
	for _, u := range []string{"a", "b", "c"} {
		h.contacts("viewer", u)
	}
	viewer, _ := h.connect("viewer", client)
	a, _ := h.connect("a", client)
	h.expectUpdate(viewer, map[string]string{"a": "active"}) // a lone change goes at once

	h.clock.Advance(10 * time.Millisecond)
	h.connect("b", client)
	a.sess.Focus("viewer")
	h.clock.Advance(10 * time.Millisecond)
	a.sess.Blur("viewer")
	c, _ := h.connect("c", client)
	c.sess.Focus("viewer")
	h.expectNothing(viewer) // inside the window: held back

	h.clock.Advance(30 * time.Millisecond) // the window ends 50ms after the first frame
	// a went online and back: nothing to say; b and c in their last state.
	h.expectUpdate(viewer, map[string]string{"b": "active", "c": "online"})
}

// Viewers whose windows end together are told together, each what it
// sees: a change that concerns one of them only stays out of the others'
// frames, though their frames begin alike.
func TestViewersFlushedTogetherEachGetTheirOwnView(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Visibility = VisibilityAll })
	v1, _ := h.connect("v1", client)
	v2, _ := h.connect("v2", client)
	v3, _ := h.connect("v3", client)
	a, _ := h.connect("a", client)
	d, _ := h.connect("d", client)
	h.clock.Advance(time.Second)
	for _, p := range []*probe{v1, v2, v3, a, d} {
		h.updates(p)
	}

	h.connect("b", client) // a lone change: every window starts now
	for _, p := range []*probe{v1, v2, v3} {
		h.expectUpdate(p, map[string]string{"b": "active"})
	}
	h.clock.Advance(10 * time.Millisecond)
	h.connect("c", client)
	a.sess.Focus("v1")
	d.sess.Focus("v2")
	h.clock.Advance(40 * time.Millisecond)
	h.expectUpdate(v1, map[string]string{"c": "active", "a": "online"})
	h.expectUpdate(v2, map[string]string{"c": "active", "d": "online"})
	h.expectUpdate(v3, map[string]string{"c": "active"})
}

// A connection that has not written its last frame is behind: its changes
// wait for the end of a window and then go out together, latest state
// only, once it has caught up; the hold is counted.
func TestConnectionBehindGetsChangesMergedOnceItCatchesUp(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Visibility = VisibilityAll })
	viewer, _ := h.connect("viewer", client)
	fast, _ := h.connect("fast", client)
	h.clock.Advance(time.Second)
	h.updates(viewer)
	h.updates(fast)

	viewer.setBehind(1)
	a, _ := h.connect("a", client)
	h.expectUpdate(fast, map[string]string{"a": "active"}) // nobody else waits
	h.expectNothing(viewer)
	h.clock.Advance(50 * time.Millisecond)
	h.expectNothing(viewer) // still behind: one more window
	h.connect("b", client)
	a.sess.Focus("viewer")
	viewer.setBehind(0)
	h.clock.Advance(50 * time.Millisecond)
	h.expectUpdate(viewer, map[string]string{"a": "online", "b": "active"})
	if got := counter(t, h.e.env.metrics.presenceHeld); got != 2 {
		t.Fatalf("presenced_presence_held_total = %g, want 2 (the change, then the first window's end)", got)
	}

	h.clock.Advance(time.Second)
	h.connect("c", client) // caught up and quiet: at once again
	h.expectUpdate(viewer, map[string]string{"c": "active"})
}

// A connection held for long reads the changes since it was held, however
// many the others were told meanwhile: the log they share is trimmed only
// of what no held connection still needs.
func TestConnectionHeldForLongGetsEveryChangeSinceItWasHeld(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Visibility = VisibilityAll })
	slow, _ := h.connect("slow", client)
	fast, _ := h.connect("fast", client)
	a, _ := h.connect("a", client)
	h.clock.Advance(time.Second)
	for _, p := range []*probe{slow, fast, a} {
		h.updates(p)
	}

	slow.setBehind(1)
	h.connect("early", client)
	for i := range 1500 { // far more than the log keeps untrimmed
		h.clock.Advance(10 * time.Millisecond)
		if i%2 == 0 {
			a.sess.Focus("fast")
		} else {
			a.sess.Blur("fast")
		}
	}
	h.expectNothing(slow)
	slow.setBehind(0)
	h.clock.Advance(50 * time.Millisecond)
	h.expectUpdate(slow, map[string]string{"early": "active"})
}

// The server's presence delay counts, per viewer connection told, from the
// registry learning of a change to its frame queued: nothing for a lone
// change, the rest of the window for one held back by coalescing.
func TestPresenceDelayIsMeasuredPerViewerTold(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Visibility = VisibilityAll })
	viewer, _ := h.connect("viewer", client)
	a, _ := h.connect("a", client)
	h.expectUpdate(viewer, map[string]string{"a": "active"}) // at once

	h.clock.Advance(10 * time.Millisecond)
	h.connect("b", client)
	h.expectUpdate(a, map[string]string{"b": "active"}) // a's first: at once
	h.expectNothing(viewer)
	h.clock.Advance(40 * time.Millisecond) // the viewer's window ends
	h.expectUpdate(viewer, map[string]string{"b": "active"})

	n, sum := histogram(t, h.e.env.metrics.presenceDelay)
	if n != 3 || math.Abs(sum-0.040) > 1e-9 {
		t.Fatalf("presence delay: %d observations summing to %gs, want 3 summing to 0.040s (0, 0, and 40 ms held)", n, sum)
	}
}

func TestStaleStateNeverOverwritesANewerOne(t *testing.T) {
	h := newHarness(t)
	h.contacts("alice", "bob")
	bob, _ := h.connect("bob", client)
	h.connect("alice", client)
	h.updates(bob)

	// A late offline of alice, older than what the registry knows.
	h.e.root.Send(h.e.env.registry, &messages.PresenceChanged{Presence: &messages.UserPresence{
		UserId: "alice", Role: client, Connected: false, Version: 1,
	}})
	h.expectNothing(bob)

	// A late leave: the first connection ends after the second joined.
	tab1, _ := h.connect("alice", client)
	for _, s := range h.e.env.conns.ofUser("alice") {
		if s != tab1.sess {
			s.Close()
		}
	}
	h.e.root.Send(tab1.sess.grain(), &tick{}) // and a stale timer tick
	h.clock.Advance(time.Minute)
	tab1.sess.Heartbeat()
	h.clock.Advance(time.Second)
	h.expectNothing(bob)
}

func TestConnectionLimitPerUser(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxConnectionsPerUser = 2 })
	h.connect("alice", client)
	h.connect("alice", client)
	_, err := h.e.Connect(t.Context(), "alice", client, &probe{})
	if messages.CodeOf(err) != messages.CodeLimitExceeded {
		t.Fatalf("third connection: %v, want limit_exceeded", err)
	}
}

func TestLastSeenIsStoredAndServedOnceOffline(t *testing.T) {
	h := newHarness(t)
	h.contacts("alice", "bob")
	alice, _ := h.connect("alice", freelancer)
	h.clock.Advance(time.Second)
	left := h.clock.Now()
	alice.sess.Close()
	h.clock.Advance(3 * time.Second)

	p, err := h.e.Presence(t.Context(), "bob", client, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != messages.StatusOffline || p.LastSeen != left.UnixMilli() || p.Role != freelancer {
		t.Fatalf("presence %+v", p)
	}
	recs, _ := h.store.Users(t.Context(), []string{"alice"})
	if !recs["alice"].LastSeen.Equal(left) || recs["alice"].Role != freelancer {
		t.Fatalf("stored %+v", recs["alice"])
	}
	if _, err := h.e.Presence(t.Context(), "mallory", client, "alice"); messages.CodeOf(err) != messages.CodeNotFound {
		t.Fatalf("a stranger asking: %v, want not_found", err)
	}
}

// A viewer who connects later sees how recently a user was active, not when
// the user connected: heartbeats refresh the registry's copy (at most once per
// heartbeat interval, and without telling existing viewers of a non-change).
func TestHeartbeatsRefreshLastActiveForLaterViewers(t *testing.T) {
	h := newHarness(t)
	h.contacts("alice", "bob")
	alice, _ := h.connect("alice", client)
	for range 3 {
		h.clock.Advance(20 * time.Second)
		alice.sess.Heartbeat()
	}
	_, c := h.connect("bob", client)
	if len(c.Users) != 1 || c.Users[0].LastActive == nil {
		t.Fatalf("bob sees %+v, want alice with lastActive", c.Users)
	}
	got, connectedAt := *c.Users[0].LastActive, t0.UnixMilli()
	if got-connectedAt < 25_000 {
		t.Fatalf("lastActive %d ms after connect, want a heartbeat at least 25 s later", got-connectedAt)
	}
}

// The log keeps what the oldest held connection still has to read, and
// nothing older once it has doubled; with nobody held it starts afresh.
func TestChangeLogKeepsWhatHeldConnectionsStillRead(t *testing.T) {
	var l changeLog
	e := &entry{p: &messages.UserPresence{UserId: "u"}}
	held := &viewerConn{coalescer: coalescer{queued: true}}
	idle := &viewerConn{coalescer: coalescer{from: 0}}
	for range 10 {
		l.add(e, nil)
	}
	held.from = l.last()
	l.pin()
	for range 2000 {
		l.add(e, nil)
	}
	l.trim([]*viewerConn{idle, held})
	if l.first != 9 || len(l.since(held.from)) != 2001 || len(l.items) != 2001 {
		t.Fatalf("after trim: first %d, %d items; want the held connection's 2,001 from seq 9", l.first, len(l.items))
	}
	l.unpin()
	l.add(e, nil)
	if l.first != 2010 || len(l.items) != 1 {
		t.Fatalf("nobody held: first %d, %d items; want only the new change, seq 2010", l.first, len(l.items))
	}
}

// Whatever the interleaving of changes, windows and connections falling
// behind, every viewer ends with every user's latest state as it sees it.
func TestEveryViewerConvergesOnTheLatestStates(t *testing.T) {
	for _, vis := range []Visibility{VisibilityAll, VisibilityContacts} {
		for seed := range 20 {
			testConvergence(t, vis, uint64(seed))
		}
	}
}

func testConvergence(t *testing.T, vis Visibility, seed uint64) {
	h := newHarness(t, func(o *Options) { o.Visibility = vis })
	rng := rand.New(rand.NewPCG(seed, 7))
	viewers := []string{"v0", "v1", "v2", "v3"}
	users := []string{"u0", "u1", "u2", "u3", "u4", "u5"}
	if vis == VisibilityContacts {
		for _, v := range viewers {
			for _, u := range users {
				h.contacts(v, u)
			}
		}
	}
	views := make(map[string]map[string]string)
	probes := make(map[string]*probe)
	for _, v := range viewers {
		p, hello := h.connect(v, client)
		probes[v] = p
		views[v] = make(map[string]string)
		for _, u := range hello.Users {
			views[v][u.UserID] = u.Status
		}
	}
	apply := func() {
		for _, v := range viewers {
			for _, f := range h.updates(probes[v]) {
				for _, u := range f {
					views[v][u.UserID] = u.Status
				}
			}
		}
	}
	online := make(map[string]*probe)
	focus := make(map[string]map[string]bool) // user → viewers it focuses
	for range 400 {
		u := users[rng.IntN(len(users))]
		v := viewers[rng.IntN(len(viewers))]
		switch p := online[u]; {
		case rng.IntN(8) == 0:
			probes[v].setBehind(rng.IntN(2))
		case p == nil:
			online[u], _ = h.connect(u, client)
			focus[u] = make(map[string]bool)
		case rng.IntN(3) == 0:
			p.sess.Close()
			delete(online, u)
		case rng.IntN(2) == 0:
			if err := p.sess.Focus(v); err != nil {
				t.Fatal(err)
			}
			focus[u][v] = true
		default:
			p.sess.Blur(v)
			delete(focus[u], v)
		}
		h.clock.Advance(time.Duration(rng.IntN(40)) * time.Millisecond)
		apply()
	}
	for _, v := range viewers {
		probes[v].setBehind(0)
	}
	h.clock.Advance(5 * time.Second) // past the windows and the offline grace
	apply()
	for _, v := range viewers {
		for _, u := range users {
			want := "offline"
			switch {
			case online[u] != nil && focus[u][v]:
				want = "online"
			case online[u] != nil:
				want = "active"
			}
			if got := views[v][u]; got != want && (got != "" || want != "offline") {
				t.Fatalf("%v seed %d: %s sees %s %q, want %q", vis, seed, v, u, got, want)
			}
		}
	}
}

// The registry does not hold every user it ever saw: users offline for
// longer than the retention are forgotten, and so are strangers loaded for
// a subscription once nobody subscribes to them. What it forgot, the
// store still answers, and a forgotten user coming back is news again.
func TestRegistryForgetsUsersOfflineForLong(t *testing.T) {
	h := newHarness(t)
	h.contacts("alice", "bob")
	bob, _ := h.connect("bob", client)
	watcher, _ := h.connect("watcher", client)
	for i := range 50 {
		p, _ := h.connect("passer"+strconv.Itoa(i), client)
		p.sess.Close()
	}
	alice, _ := h.connect("alice", client)
	watcher.sess.Subscribe("s", []string{"stranger1", "stranger2"})
	alice.sess.Close()
	h.clock.Advance(time.Second)
	bob.take()
	h.clock.Advance(2 * time.Second) // past the grace: alice offline
	shown := h.expectUpdate(bob, map[string]string{"alice": "offline"})[0]
	// bob, watcher, alice, 50 passers, 2 strangers
	if got := gauge(t, h.e.env.metrics.usersHeld); got != 55 {
		t.Fatalf("registry holds %v users, want 55", got)
	}

	live := func(d time.Duration) {
		for end := h.clock.Now().Add(d); h.clock.Now().Before(end); {
			h.clock.Advance(20 * time.Second)
			bob.sess.Heartbeat()
			watcher.sess.Heartbeat()
		}
	}
	live(offlineRetention + sweepEvery)
	if got := gauge(t, h.e.env.metrics.usersHeld); got != 4 {
		t.Fatalf("registry holds %v users after the retention, want 4 (bob, watcher, the subscribed strangers)", got)
	}
	watcher.sess.Unsubscribe([]string{"stranger1", "stranger2"})
	if got := gauge(t, h.e.env.metrics.usersHeld); got != 2 {
		t.Fatalf("registry holds %v users once nobody subscribes, want 2", got)
	}

	p, err := h.e.Presence(context.Background(), "bob", client, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != messages.StatusOffline || shown.LastSeen == nil || p.LastSeen != *shown.LastSeen {
		t.Fatalf("forgotten alice is %+v, want offline with the lastSeen bob was shown (%v)", p, *shown.LastSeen)
	}
	bob.take()
	h.connect("alice", client)
	h.clock.Advance(time.Second)
	h.expectUpdate(bob, map[string]string{"alice": "active"})
}

// A connection that sees every user is greeted from the registry's online
// list, kept in blocks joined ahead of time. Whatever happened to the users
// since (connects, users gone offline out of the middle of the list, focus
// on the viewer, lastActive refreshed by heartbeats), its greeting must say
// what the greeting of a viewer seeing the same users as contacts says:
// the same users with the same lastActive, "online" exactly for the users
// focused on it, and never the viewer itself. Few changes a round, so that
// some blocks see nothing but a heartbeat between two greetings.
func TestGreetingOfAViewerWhoSeesEveryoneIsCurrent(t *testing.T) {
	h := newHarness(t)
	users := make([]string, 900)
	for i := range users {
		users[i] = "u" + strconv.Itoa(i)
		h.contacts("watcher", users[i])
	}
	watcher, _ := h.connect("watcher", client)
	admin, _ := h.connect("admin", messages.RoleAdmin)
	online := make(map[string]*probe)
	for _, u := range users[:600] { // ten blocks
		online[u], _ = h.connect(u, client)
	}
	focused := make(map[string]bool) // users whose chat is on "admin"
	closing := make(map[string]bool) // closed, inside the offline grace

	// check greets a second tab of each viewer (no change to the list)
	// and compares the two greetings with what is online.
	check := func(round int) {
		t.Helper()
		tab, w := h.connect("watcher", client)
		tab.sess.Close()
		tab, a := h.connect("admin", messages.RoleAdmin)
		tab.sess.Close()
		ws, as := make(map[string]wirePresence), make(map[string]wirePresence)
		for _, p := range w.Users {
			ws[p.UserID] = p
		}
		for _, p := range a.Users {
			as[p.UserID] = p
		}
		// The watcher sees its contacts; the admin sees them and the watcher.
		n := len(online) + len(closing)
		if len(ws) != n || len(as) != n+1 || len(a.Users) != len(as) || as["watcher"].Status != "active" {
			t.Fatalf("round %d: %d online, watcher greeted with %d, admin with %d", round, n, len(w.Users), len(a.Users))
		}
		for u, ref := range ws {
			got := as[u]
			want := "active"
			if focused[u] {
				want = "online"
			}
			if online[u] == nil && !closing[u] || got.Role != ref.Role || !closing[u] && (got.Status != want || ref.Status != "active") ||
				got.LastActive == nil || ref.LastActive == nil || *got.LastActive != *ref.LastActive {
				t.Fatalf("round %d: admin greeted with %s as %+v (lastActive %v), watcher with %+v (lastActive %v); want status %s",
					round, u, got, deref(got.LastActive), ref, deref(ref.LastActive), want)
			}
		}
	}

	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 24 {
		for range 4 {
			u := users[rng.IntN(len(users))]
			// Focus is rare, so that most blocks are copied whole.
			switch p, op := online[u], rng.IntN(10); {
			case closing[u]:
			case p == nil:
				online[u], _ = h.connect(u, client)
			case op < 3:
				p.sess.Close()
				delete(online, u)
				closing[u] = true
			case op == 3:
				if err := p.sess.Focus("admin"); err != nil {
					t.Fatal(err)
				}
				focused[u] = true
			case op < 7:
				p.sess.Blur("admin")
				delete(focused, u)
			}
		}
		check(round)
		// Past the grace; heartbeats keep everyone alive and refresh
		// lastActive (once per 25 s).
		h.clock.Advance(6 * time.Second)
		for u := range closing {
			delete(focused, u)
		}
		clear(closing)
		for _, p := range online {
			p.sess.Heartbeat()
		}
		watcher.sess.Heartbeat()
		admin.sess.Heartbeat()
		check(round)
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}
