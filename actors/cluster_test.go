//go:build !race

// Proto.Actor's remoting and gossip race with themselves (and grpc's global
// logger) when several members share one process, so these in-process
// cluster tests are built without the race detector: `make test` runs them
// in a second pass without it. The multi-process tests in cmd/presenced run
// one member per process.

package actors

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	testprovider "github.com/asynkron/protoactor-go/cluster/clusterproviders/test"

	"github.com/presenced/presenced/internal/memstore"
	"github.com/presenced/presenced/messages"
)

// These tests run several members in one process with Proto.Actor's test
// membership provider, a shared store and the real clock: cluster traffic
// is real remoting over loopback. They wait for frames (with a deadline,
// clusterWait), never for time.

type testCluster struct {
	t       *testing.T
	name    string
	agent   *testprovider.InMemAgent
	store   *memstore.Store
	members []*Engine
}

func newTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("cluster tests take seconds (-short)")
	}
	tc := &testCluster{t: t, name: fmt.Sprintf("test-%d", rand.Int64()), agent: testprovider.NewInMemAgent(), store: memstore.New()}
	t.Cleanup(tc.shutdown)
	for range n {
		tc.add()
	}
	tc.waitMembers(n)
	return tc
}

func (tc *testCluster) add() *Engine {
	tc.t.Helper()
	e, err := New(Options{
		Logger: slog.New(slog.NewTextHandler(tLog{tc.t}, &slog.HandlerOptions{Level: slog.LevelDebug})).
			With("m", len(tc.members)),
		Store: tc.store,
		// Long enough that no test connection times out: these tests send
		// no heartbeats unless they mean to.
		HeartbeatInterval: 30 * time.Second,
		HeartbeatTimeout:  time.Minute,
		OfflineGrace:      300 * time.Millisecond,
		CoalesceWindow:    20 * time.Millisecond,
		Cluster: &ClusterOptions{
			Name: tc.name, Host: "127.0.0.1", Port: 0,
			Provider: testprovider.NewTestProvider(tc.agent,
				testprovider.WithTestProviderRefreshTtl(200*time.Millisecond),
				testprovider.WithTestProviderServiceTtl(time.Second)),
			LeaveDelay: 300 * time.Millisecond,
		},
	})
	if err != nil {
		tc.t.Fatalf("starting member: %v", err)
	}
	tc.members = append(tc.members, e)
	return e
}

// shutdown stops every member at once: leaving takes seconds each.
func (tc *testCluster) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, e := range tc.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = e.Shutdown(ctx)
		}()
	}
	wg.Wait()
}

// tLog writes a member's log into the test's.
type tLog struct{ t *testing.T }

func (w tLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// waitMembers waits until every member sees n members.
func (tc *testCluster) waitMembers(n int) {
	tc.t.Helper()
	for _, e := range tc.members {
		eventually(tc.t, func() bool { return len(e.env.memberAddrs()) == n },
			func() string {
				return fmt.Sprintf("member %s sees %v, want %d members", e.env.member, e.env.memberAddrs(), n)
			})
	}
}

func (tc *testCluster) connect(e *Engine, user, role string) *liveProbe {
	tc.t.Helper()
	p := newLiveProbe()
	s, err := e.Connect(context.Background(), user, role, p)
	if err != nil {
		tc.t.Fatalf("connecting %s: %v", user, err)
	}
	p.sess = s
	if f := p.next(tc.t); f.Type != messages.TypePresenceConnected {
		tc.t.Fatalf("%s's first frame %s", user, f.Type)
	}
	return p
}

func (tc *testCluster) memberAt(addr string) *Engine {
	for _, e := range tc.members {
		if e.env.member == addr {
			return e
		}
	}
	tc.t.Fatalf("no member at %s", addr)
	return nil
}

func (tc *testCluster) conversation(a, b string) string {
	conv, err := tc.members[0].CreateConversation(context.Background(), a, client, []string{a, b})
	if err != nil {
		tc.t.Fatal(err)
	}
	return conv.Id
}

func TestClusterPresenceAndMessagesAcrossMembers(t *testing.T) {
	tc := newTestCluster(t, 2)
	a, b := tc.members[0], tc.members[1]
	conv := tc.conversation("alice", "bob")
	tc.conversation("alice", "carol")
	bob := tc.connect(b, "bob", freelancer)
	carol := tc.connect(a, "carol", client)
	alice := tc.connect(a, "alice", client)
	bob.status(t, "alice", "active")
	carol.status(t, "alice", "active")

	if err := alice.sess.Focus("bob"); err != nil {
		t.Fatal(err)
	}
	bob.status(t, "alice", "online")
	carol.quiet(t, 200*time.Millisecond, "alice")

	// A message from member A to a focused recipient on member B.
	if err := bob.sess.Focus("alice"); err != nil {
		t.Fatal(err)
	}
	alice.status(t, "bob", "online")
	alice.sess.Send("s1", conv, "across the cluster", "m1")
	var sent struct {
		Delivered bool
		Message   wireMsg
	}
	mustDecode(t, alice.until(t, messages.TypeMessageSent).Data, &sent)
	if !sent.Delivered || sent.Message.Seq != 1 {
		t.Fatalf("message:sent %+v", sent)
	}
	var got struct{ Message wireMsg }
	mustDecode(t, bob.until(t, messages.TypeNewMessage).Data, &got)
	if got.Message.ID != sent.Message.ID {
		t.Fatalf("bob got %+v", got.Message)
	}
	var read readData
	mustDecode(t, alice.until(t, messages.TypeMessageRead).Data, &read)
	if read.UserID != "bob" || read.UpToSeq != 1 {
		t.Fatalf("receipt %+v", read)
	}
}

func TestClusterOneUserOnTwoMembers(t *testing.T) {
	tc := newTestCluster(t, 2)
	a, b := tc.members[0], tc.members[1]
	tc.conversation("alice", "viewer")
	viewer := tc.connect(a, "viewer", client)
	tab1 := tc.connect(a, "alice", client)
	viewer.status(t, "alice", "active")
	tab2 := tc.connect(b, "alice", client)

	// Each user has one grain, on one member, whatever holds its tabs.
	online := func() float64 {
		return gauge(t, a.env.metrics.usersOnline) + gauge(t, b.env.metrics.usersOnline)
	}
	if n := online(); n != 2 {
		t.Fatalf("users_online summed over the members = %v, want 2 (viewer, alice)", n)
	}

	tab1.sess.Close()
	viewer.quiet(t, 800*time.Millisecond, "alice") // past the grace: tab2 still holds alice
	tab2.sess.Close()
	viewer.status(t, "alice", "offline")
	eventually(t, func() bool { return online() == 1 },
		func() string { return fmt.Sprintf("users_online = %v after alice left, want 1", online()) })
}

// TestClusterGrainReactivation stops alice's grain (a panic, which a grain
// answers by stopping): its connections re-attach to a new activation,
// viewers see nothing, and focus changes keep working.
func TestClusterGrainReactivation(t *testing.T) {
	tc := newTestCluster(t, 2)
	a, b := tc.members[0], tc.members[1]
	tc.conversation("alice", "bob")
	bob := tc.connect(a, "bob", client)
	alice := tc.connect(b, "alice", client)
	bob.status(t, "alice", "active")
	if err := alice.sess.Focus("bob"); err != nil {
		t.Fatal(err)
	}
	bob.status(t, "alice", "online")

	old := alice.sess.grain()
	// crash is not a wire message: send it from the grain's own member, on
	// a fresh PID (a PID caches the process that resolved it, and this one
	// was resolved by the session's member, as a remote one).
	tc.memberAt(old.Address).root.Send(actor.NewPID(old.Address, old.Id), &crash{})
	eventually(t, func() bool { return !alice.sess.grain().Equal(old) },
		func() string { return "the connection never re-attached to a new activation" })
	bob.quiet(t, 300*time.Millisecond, "alice")
	alice.sess.Blur("bob")
	bob.status(t, "alice", "active")
}

// TestClusterMemberLeavesGracefully shuts down the member hosting users'
// grains while their connections live elsewhere: no flicker.
func TestClusterMemberLeavesGracefully(t *testing.T) {
	tc := newTestCluster(t, 3)
	a, b, leaving := tc.members[0], tc.members[1], tc.members[2]
	users := []string{"u0", "u1", "u2", "u3", "u4", "u5"}
	viewer := tc.connect(a, "admin", admin)
	var probes []*liveProbe
	hosted := 0
	for i := 0; i < len(users) || hosted == 0; i++ {
		if i >= len(users) {
			users = append(users, fmt.Sprintf("u%d", i))
		}
		p := tc.connect(b, users[i], client)
		probes = append(probes, p)
		viewer.status(t, users[i], "active")
		if p.sess.grain().Address == leaving.env.member {
			hosted++
		}
		if i > 60 {
			t.Fatal("no grain placed on the leaving member")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := leaving.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	viewer.quiet(t, 1500*time.Millisecond, users...)
	for i, p := range probes {
		if err := p.sess.Focus("admin"); err != nil {
			t.Fatal(err)
		}
		viewer.status(t, users[i], "online")
	}
}

// TestClusterMemberJoinMovesGrains adds a member: the grains it now owns
// move to it (placement stops them where they were, their connections
// re-attach there), viewers see no flicker, and the moved users work.
func TestClusterMemberJoinMovesGrains(t *testing.T) {
	tc := newTestCluster(t, 2)
	a, b := tc.members[0], tc.members[1]
	viewer := tc.connect(a, "admin", admin)
	var users []string
	var probes []*liveProbe
	for i := range 12 {
		u := fmt.Sprintf("j%d", i)
		users = append(users, u)
		probes = append(probes, tc.connect(b, u, client))
		viewer.status(t, u, "active")
	}
	joined := tc.add()
	tc.waitMembers(3)
	members := *joined.env.cl.place.members.Load()
	var moving []int
	for i, u := range users {
		if ownerOf(u, members) == joined.env.member {
			moving = append(moving, i)
		}
	}
	if len(moving) == 0 {
		t.Fatal("the new member owns none of the users; pick other ids")
	}
	for _, i := range moving {
		eventually(t, func() bool { return probes[i].sess.grain().Address == joined.env.member },
			func() string {
				return fmt.Sprintf("%s's connection is attached to %v, want a grain on the new member %s",
					users[i], probes[i].sess.grain(), joined.env.member)
			})
	}
	viewer.quiet(t, 500*time.Millisecond, users...)
	for _, i := range moving {
		if err := probes[i].sess.Focus("admin"); err != nil {
			t.Fatal(err)
		}
		viewer.status(t, users[i], "online")
	}
}

// TestClusterAnswersOlderMembersActivationRequests asks a member for an
// activation the way a member of the version before does (Proto.Actor's
// disthash, by its actor's name, over remoting): the grain is activated
// there and works.
func TestClusterAnswersOlderMembersActivationRequests(t *testing.T) {
	tc := newTestCluster(t, 2)
	a, b := tc.members[0], tc.members[1]
	user := "old0"
	for i := 1; ownerOf(user, *b.env.cl.place.members.Load()) != b.env.member; i++ {
		user = fmt.Sprintf("old%d", i) // one that b owns: then both ways agree
	}
	req := &cluster.ActivationRequest{ClusterIdentity: cluster.NewClusterIdentity(user, userKind)}
	res, err := a.root.RequestFuture(actor.NewPID(b.env.member, disthashActivator), req, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	pid := res.(*cluster.ActivationResponse).GetPid()
	if pid == nil || pid.Address != b.env.member {
		t.Fatalf("activation answered %v, want a grain on %s", res, b.env.member)
	}
	if got := a.env.cl.place.Get(cluster.NewClusterIdentity(user, userKind)); !got.Equal(pid) {
		t.Fatalf("placement gives %v, not the grain activated the old way (%v)", got, pid)
	}
}

// TestClusterMemberCrash kills a member without a word: its users, whose
// connections died with it, go offline on the others (no ghosts), and
// users connected elsewhere keep working.
func TestClusterMemberCrash(t *testing.T) {
	tc := newTestCluster(t, 3)
	a, doomed := tc.members[0], tc.members[2]
	viewer := tc.connect(a, "admin", admin)
	var lost []string
	for i := range 6 {
		u := fmt.Sprintf("lost%d", i)
		lost = append(lost, u)
		tc.connect(doomed, u, client)
		viewer.status(t, u, "active")
	}
	survivor := tc.connect(tc.members[1], "survivor", client)
	viewer.status(t, "survivor", "active")

	crashMember(doomed, tc.agent)
	start := time.Now()
	for _, u := range lost {
		viewer.status(t, u, "offline")
	}
	t.Logf("users of the crashed member offline after %v", time.Since(start))
	if err := survivor.sess.Focus("admin"); err != nil {
		t.Fatal(err)
	}
	viewer.status(t, "survivor", "online")
}

// crashMember stops a member's remoting abruptly and removes it from the
// test provider's agent, which, unlike real providers, never expires a
// dead member by itself.
func crashMember(e *Engine, agent *testprovider.InMemAgent) {
	c := e.env.cl.c
	agent.DeregisterService(c.ActorSystem.ID)
	c.Remote.Shutdown(false)
}

// TestClusterCallTimeoutsDoNotLeak checks the workaround for Proto.Actor's
// shared call configuration: a call made with a tiny timeout must not make
// later calls time out.
func TestClusterCallTimeoutsDoNotLeak(t *testing.T) {
	tc := newTestCluster(t, 1)
	e := tc.members[0]
	_, _ = messages.GetUserGrainClient(e.env.cl.c, "anyone").Attach(&messages.Attach{
		Conn: &messages.ConnRef{Member: e.env.member, Id: 999}, UserId: "anyone", Role: client,
	}, cluster.WithTimeout(time.Nanosecond), cluster.WithRetryCount(1))
	tc.connect(e, "alice", client)
}
