package actors

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/proto"

	"github.com/presenced/presenced/messages"
)

// ClusterOptions make an Engine a member of a Proto.Actor cluster: users
// become grains (virtual actors) placed across members, and presence and
// messages flow between members. Every member must share the store.
type ClusterOptions struct {
	// Name: members with the same name form one cluster.
	Name string
	// Host and Port bind actor remoting; Port 0 picks a free port.
	Host string
	Port int
	// AdvertisedAddress is host:port as other members reach this one,
	// when it differs from Host:Port (NAT, containers).
	AdvertisedAddress string
	// Provider discovers members (automanaged, etcd, or the test provider).
	Provider cluster.ClusterProvider
	// CallTimeout bounds one call to a grain, each retry included (5s).
	CallTimeout time.Duration
	// LeaveDelay is how long a leaving member waits between leaving the
	// membership and stopping its grains, so that the others no longer
	// place users on it when its connections re-attach (1s; make it a
	// couple of the provider's refresh periods).
	LeaveDelay time.Duration
}

// userKind is the cluster kind of user grains (the service name of
// messages/grains.proto).
const userKind = "User"

// clusterState is what a member knows of its cluster.
type clusterState struct {
	c        *cluster.Cluster
	place    *placement
	opts     ClusterOptions
	members  atomic.Pointer[[]string] // member addresses, self included, sorted
	ready    atomic.Bool
	mu       sync.Mutex
	joinedAt map[string]time.Time
}

func (env *env) clustered() bool { return env.cl != nil }

// endpointWriterQueue is the first size of a remote endpoint's queue.
const endpointWriterQueue = 4096

// startCluster joins the cluster. It blocks about a second (Proto.Actor
// waits for the first gossip round).
func (env *env) startCluster(o ClusterOptions) (err error) {
	if o.CallTimeout <= 0 {
		o.CallTimeout = 5 * time.Second
	}
	if o.LeaveDelay <= 0 {
		o.LeaveDelay = time.Second
	}
	env.cl = &clusterState{opts: o, joinedAt: make(map[string]time.Time)}
	env.cl.members.Store(&[]string{})
	// Proto.Actor's default gives each remote member's endpoint writer a
	// ring of 1,000,000 slots up front: 16 MiB per member, 30 MiB of a
	// three-member cluster's 92 MiB heap at 6,000 connections per member.
	// The ring doubles when it fills, so a small start loses nothing.
	ropts := []remote.ConfigOption{remote.WithEndpointWriterQueueSize(endpointWriterQueue)}
	if o.AdvertisedAddress != "" {
		ropts = append(ropts, remote.WithAdvertisedHost(o.AdvertisedAddress))
	}
	// Placement spawns the grains from these props as they are. The kinds
	// are declared only so that members advertise them: cluster.NewKind
	// adds Proto.Actor's own middleware to its copy, which nothing spawns.
	grain := actor.PropsFromProducer(func() actor.Actor { return &grainActor{env: env} },
		actor.WithMailbox(actor.UnboundedLockfree()), actor.WithDispatcher(env.dispatcher()))
	env.cl.place = newPlacement(env, grain)
	cfg := cluster.Configure(o.Name, o.Provider, env.cl.place, remote.Configure(o.Host, o.Port, ropts...),
		cluster.WithKinds(cluster.NewKind(userKind, grain), cluster.NewKind(placementKind, grain)),
		cluster.WithRequestTimeout(o.CallTimeout))
	env.cl.c = cluster.New(env.system, cfg)
	env.system.EventStream.Subscribe(func(evt any) {
		if t, ok := evt.(*cluster.ClusterTopology); ok {
			env.topologyChanged(t)
		}
	})
	defer func() {
		if r := recover(); r != nil { // Proto.Actor panics when a provider fails
			err = fmt.Errorf("joining cluster %s: %v", o.Name, r)
		}
	}()
	env.cl.c.StartMember()
	env.member = env.system.Address()
	env.cl.ready.Store(true)
	env.log.Info("joined cluster", "cluster", o.Name, "member", env.member)
	return nil
}

// topologyChanged runs on the publisher's goroutine (Proto.Actor's event
// stream): it only records and sends, never blocks.
func (env *env) topologyChanged(t *cluster.ClusterTopology) {
	addrs := make([]string, 0, len(t.Members))
	for _, m := range t.Members {
		addrs = append(addrs, m.Address())
	}
	sort.Strings(addrs)
	env.cl.members.Store(&addrs)
	now := time.Now()
	env.cl.mu.Lock()
	for _, m := range t.Joined {
		env.cl.joinedAt[m.Address()] = now
	}
	for _, m := range t.Left {
		delete(env.cl.joinedAt, m.Address())
	}
	env.cl.mu.Unlock()
	for _, m := range t.Left {
		left := &memberLeft{addr: m.Address()}
		env.system.Root.Send(env.users, left)
		env.system.Root.Send(env.registry, left)
	}
	for _, m := range t.Joined {
		if m.Address() != env.system.Address() {
			env.system.Root.Send(env.users, &memberJoined{addr: m.Address()})
		}
	}
}

// leave takes the member out of the cluster gracefully: first out of the
// membership, so that the other members re-attach the connections of users
// whose grains live here to new activations elsewhere (the grains here are
// told to forget them, quietly); then the grains here stop, handing over
// what is left.
func (env *env) leave(ctx context.Context) {
	env.cl.ready.Store(false)
	if err := env.cl.opts.Provider.Shutdown(true); err != nil {
		env.log.Warn("leaving the membership", "err", err)
	}
	select {
	case <-time.After(env.cl.opts.LeaveDelay):
	case <-ctx.Done():
	}
	env.cl.c.Shutdown(true)
}

// memberLeft and memberJoined are topology changes, told to the member's
// router (which tells the local grains) and registry.
type memberLeft struct{ addr string }

type memberJoined struct{ addr string }

// memberAddrs is every member's address (just this one, single node).
func (env *env) memberAddrs() []string {
	if env.cl == nil {
		return []string{env.member}
	}
	return *env.cl.members.Load()
}

// memberList is the list of just member addr, sharing the string and the
// array of the member list itself, or nil when addr is no member now. A
// member holds a presence per online user of the cluster, each naming
// its owner and the members of its connections: sharing keeps those
// from being a copy each. Cluster only (one node lists a fresh slice).
func (env *env) memberList(addr string) []string {
	members := env.memberAddrs()
	if i, ok := slices.BinarySearch(members, addr); ok {
		return members[i : i+1 : i+1]
	}
	return nil
}

// registryAt is the registry of a member.
func (env *env) registryAt(member string) *actor.PID {
	if member == env.member {
		return env.registry
	}
	return actor.NewPID(member, registryName)
}

// grainCall is how every call to a grain is made: explicit options on
// every call (Proto.Actor's RequestFuture shares one global call config)
// and a retry that actually waits (its default sleeps nanoseconds).
func (env *env) grainCall() []cluster.GrainCallOption {
	return []cluster.GrainCallOption{
		cluster.WithTimeout(env.cl.opts.CallTimeout),
		cluster.WithRetryCount(4),
		cluster.WithRetryAction(func(i int) int {
			time.Sleep(time.Duration(25<<i) * time.Millisecond)
			return i + 1
		}),
	}
}

// attachGrain registers a connection with its user's grain, wherever it
// lives, activating it if needed. Blocking: never call it on an actor.
func (env *env) attachGrain(a *messages.Attach) (*messages.AttachReply, error) {
	reply, err := messages.GetUserGrainClient(env.cl.c, a.UserId).Attach(a, env.grainCall()...)
	if err != nil {
		return nil, fmt.Errorf("%w: attaching to the grain of %s: %v", messages.ErrUnavailable, a.UserId, err)
	}
	return reply, nil
}

// Member is one member of the cluster as GET /v1/cluster/members shows it.
type Member struct {
	Address     string
	Self        bool
	JoinedAt    time.Time // zero when unknown (single node)
	Connections int64     // -1 when the member did not answer
}

// Members lists the cluster's members with their connection counts (asked
// of each member's registry); single node, just this one.
func (e *Engine) Members(ctx context.Context) ([]Member, error) {
	if !e.env.clustered() {
		return []Member{{Address: e.env.member, Self: true, Connections: int64(e.Connections())}}, nil
	}
	var out []Member
	for _, addr := range e.env.memberAddrs() {
		m := Member{Address: addr, Self: addr == e.env.member}
		e.env.cl.mu.Lock()
		m.JoinedAt = e.env.cl.joinedAt[addr]
		e.env.cl.mu.Unlock()
		res, err := e.ask(ctx, e.env.registryAt(addr), &messages.ConnCountRequest{})
		if err == nil {
			m.Connections = res.(*messages.ConnCountReply).Connections
		} else {
			m.Connections = -1 // unreachable right now
		}
		out = append(out, m)
	}
	return out, nil
}

// grainActor is a user grain: the user actor, spawned by placement, which
// gives it its identity through its name. It takes the place of the
// generated UserActor, which waits for the identity from Proto.Actor's
// cluster middleware: an actor with any receiver middleware keeps its
// context's extras for life (~250 B per user), and the middleware would
// only have told the grain what its name already says.
type grainActor struct {
	env *env
	u   *userActor
}

// attachMethod is the index of User.Attach in messages/grains.proto, the
// grain's only method; the generated client sends it in GrainRequest.
const attachMethod = 0

func (g *grainActor) Receive(c actor.Context) {
	defer g.stopOnPanic(c)
	switch m := c.Message().(type) {
	case *actor.Started:
		id := identityOf(c.Self())
		g.u = newUserActor(g.env, id)
		// A fresh activation has nothing to show until a connection attaches.
		g.u.offline = true
	case *actor.Stopped:
		g.env.cl.place.stopped(c.Self())
		g.u.stopping(c)
	case actor.AutoReceiveMessage, actor.SystemMessage:
	case *cluster.GrainRequest:
		g.request(c, m)
	default:
		g.u.Receive(c)
	}
}

func (g *grainActor) request(c actor.Context, m *cluster.GrainRequest) {
	if m.MethodIndex != attachMethod {
		c.Respond(cluster.NewGrainErrorResponse(cluster.ErrorReason_INVALID_ARGUMENT,
			fmt.Sprintf("user grain: no method %d", m.MethodIndex)))
		return
	}
	req := &messages.Attach{}
	if err := proto.Unmarshal(m.MessageData, req); err != nil {
		c.Respond(cluster.NewGrainErrorResponse(cluster.ErrorReason_INVALID_ARGUMENT, err.Error()))
		return
	}
	c.Respond(g.u.attach(c, req))
}

// stopOnPanic is the grains' answer to a panic. Proto.Actor would restart
// the grain with a fresh actor that never saw Started, so a panicking
// grain is logged and stopped instead; its connections re-attach and a
// fresh activation rebuilds from them.
func (g *grainActor) stopOnPanic(c actor.Context) {
	if r := recover(); r != nil {
		g.env.log.Error("user grain panicked; stopping it, its connections re-attach",
			"actor", c.Self().GetId(), "message", fmt.Sprintf("%T", c.Message()), "panic", r)
		c.Stop(c.Self())
	}
}

// connMembers lists the members holding a user's connections.
func connMembers(env *env, conns userConns) []string {
	if len(conns) == 0 {
		return nil
	}
	if !env.clustered() {
		return env.self // shared and never modified: one member, this one
	}
	first := conns[0].ref.GetMember()
	if !slices.ContainsFunc(conns, func(uc *userConn) bool { return uc.ref.GetMember() != first }) {
		if m := env.memberList(first); m != nil {
			return m // the usual case, one member
		}
	}
	var out []string
	for _, uc := range conns {
		if m := uc.ref.GetMember(); !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}
