package actors

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/presenced/presenced/internal/workpool"
	"github.com/presenced/presenced/messages"
)

// Names of the member-wide actors; other members address them by name.
const (
	usersName    = "users"
	registryName = "registry"
	persistName  = "persistence"
)

// env is what every actor of a member shares: options, time, the local
// connection table, and the PIDs of the member-wide actors. It is built
// once before the actors start and never changes after.
type env struct {
	opts    *Options
	log     *slog.Logger
	clock   Clock
	system  *actor.ActorSystem
	member  string
	self    []string // {member}, shared by every presence this member publishes
	conns   *connTable
	run     *runner
	pool    *workpool.Pool // where actors run their messages
	metrics *metrics
	online  onlineSet     // users the registry knows connected (cluster)
	cl      *clusterState // nil on a single node
	// restarting holds the PIDs of user actors being restarted by their
	// supervisor, for the new instance to know it must rebuild.
	restarting sync.Map

	users, registry, persist *actor.PID
}

func newEnv(opts *Options, system *actor.ActorSystem) *env {
	env := &env{
		opts:    opts,
		log:     opts.Logger,
		clock:   opts.Clock,
		system:  system,
		member:  system.Address(),
		self:    []string{system.Address()},
		conns:   newConnTable(),
		run:     newRunner(opts.Synchronous, 64),
		pool:    workpool.New(),
		metrics: newMetrics(opts.Registerer),
	}
	return env
}

func (env *env) spawnAll() error {
	spawn := func(name string, p *actor.Props) (*actor.PID, error) {
		pid, err := env.system.Root.SpawnNamed(p, name)
		if err != nil {
			return nil, fmt.Errorf("spawning %s: %w", name, err)
		}
		return pid, nil
	}
	var err error
	if env.persist, err = spawn(persistName, env.props(func() actor.Actor { return newPersistActor(env) })); err != nil {
		return err
	}
	if env.registry, err = spawn(registryName, env.props(func() actor.Actor { return newRegistry(env) })); err != nil {
		return err
	}
	if env.opts.Cluster != nil {
		env.users, err = spawn(usersName, env.props(func() actor.Actor { return newClusterRouter(env) }))
		return err
	}
	env.users, err = spawn(usersName, env.props(func() actor.Actor { return newUsersActor(env) },
		actor.WithSupervisor(restartMarker{actor.NewOneForOneStrategy(10, 10*time.Second, actor.DefaultDecider), env})))
	return err
}

// props builds the props every actor of ours gets: panic logging, and the
// synchronous dispatcher in deterministic tests.
func (env *env) props(produce actor.Producer, opts ...actor.PropsOption) *actor.Props {
	opts = append(opts, actor.WithDispatcher(env.dispatcher()))
	return actor.PropsFromProducer(func() actor.Actor { return &panicLogged{produce(), env} }, opts...)
}

// panicLogged logs an actor's panic at Error with its stack, which
// Proto.Actor itself reports at Info without one, then lets supervision
// restart it. A wrapper rather than receiver middleware: Proto.Actor gives
// an actor with middleware its context's extras (~300 bytes per user
// actor, kept for its life) and wraps every message in a new envelope.
type panicLogged struct {
	actor.Actor
	env *env
}

func (p *panicLogged) Receive(c actor.Context) {
	defer func() {
		if r := recover(); r != nil {
			p.env.log.Error("actor panicked; restarting it",
				"actor", c.Self().GetId(), "message", fmt.Sprintf("%T", c.Message()),
				"panic", r, "stack", string(debug.Stack()))
			panic(r)
		}
	}()
	p.Actor.Receive(c)
}

// dispatcher runs actors' messages. Proto.Actor's default starts a new
// goroutine each time a mailbox gets work, which then grows its stack from
// scratch; ours runs them on pooled workers that keep theirs. In
// deterministic tests, messages run on the sender's goroutine.
func (env *env) dispatcher() actor.Dispatcher {
	if env.opts.Synchronous {
		return actor.NewSynchronizedDispatcher(dispatchThroughput)
	}
	return pooledDispatcher{env.pool}
}

// dispatchThroughput is how many messages an actor handles before it
// yields, as Proto.Actor's default dispatcher does.
const dispatchThroughput = 300

type pooledDispatcher struct{ pool *workpool.Pool }

func (d pooledDispatcher) Schedule(fn func()) { d.pool.Go(fn) }
func (d pooledDispatcher) Throughput() int    { return dispatchThroughput }

// after delivers msg to pid after d on the engine's clock.
func (env *env) after(d time.Duration, pid *actor.PID, msg any) func() bool {
	return env.clock.AfterFunc(d, func() { env.system.Root.Send(pid, msg) })
}

// async runs f off the actor (store I/O) and delivers its result to the
// actor as a message.
func (env *env) async(c actor.Context, f func(ctx context.Context) any) {
	self := c.Self()
	env.run.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		env.system.Root.Send(self, f(ctx))
	})
}

// registryOf is the registry of the member holding a connection.
func (env *env) registryOf(ref *messages.ConnRef) *actor.PID { return env.registryAt(ref.GetMember()) }

// localSession is the session of a connection held by this member, nil
// when it is gone; local is false when another member holds it.
func (env *env) localSession(ref *messages.ConnRef) (s *Session, local bool) {
	if ref.GetMember() != env.member {
		return nil, false
	}
	return env.conns.get(ref.GetId()), true
}

// push queues a frame on connections, wherever they are.
func (env *env) push(frame []byte, refs ...*messages.ConnRef) {
	var remote map[string][]uint64
	for _, ref := range refs {
		if s, local := env.localSession(ref); local {
			if s != nil {
				env.pushLocal(s, frame)
			}
			continue
		}
		if remote == nil {
			remote = make(map[string][]uint64)
		}
		remote[ref.GetMember()] = append(remote[ref.GetMember()], ref.GetId())
	}
	for member, ids := range remote {
		env.system.Root.Send(actor.NewPID(member, registryName), &messages.Push{ConnIds: ids, Frame: frame})
	}
}

// pushLocal queues a frame on a connection this member holds.
func (env *env) pushLocal(s *Session, frame []byte) { env.pushLocalReturned(s, frame, nil) }

// pushLocalReturned hands frame's buffer to done once written, when done
// is set and the connection can (a ReturningConn).
func (env *env) pushLocalReturned(s *Session, frame []byte, done func([]byte)) {
	var ok bool
	if rc, can := s.conn.(ReturningConn); can && done != nil {
		ok = rc.PushReturned(frame, done)
	} else {
		ok = s.conn.Push(frame)
	}
	if ok {
		env.metrics.framesPushed.Inc()
	}
}

// closeConn ends a connection wherever it is.
func (env *env) closeConn(ref *messages.ConnRef, code int, reason string) {
	if s, local := env.localSession(ref); local {
		if s != nil {
			s.conn.Close(code, reason)
		}
		return
	}
	env.system.Root.Send(actor.NewPID(ref.GetMember(), registryName),
		&messages.CloseConns{ConnIds: []uint64{ref.GetId()}, Code: int32(code), Reason: reason})
}

// runner runs store calls off the actors, at most limit at a time, and knows
// when they are all done (shutdown waits for it). In deterministic tests it
// runs them inline.
type runner struct {
	inline bool
	sem    chan struct{}
	wg     sync.WaitGroup
}

func newRunner(inline bool, limit int) *runner {
	return &runner{inline: inline, sem: make(chan struct{}, limit)}
}

func (r *runner) Go(f func()) {
	if r.inline {
		f()
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.sem <- struct{}{}
		defer func() { <-r.sem }()
		f()
	}()
}

func (r *runner) wait() { r.wg.Wait() }

// quietHandler demotes Proto.Actor's Info logs (actor started, recovering,
// dead letters) to Debug so that it is quiet at our default level.
type quietHandler struct{ slog.Handler }

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	if l == slog.LevelInfo {
		l = slog.LevelDebug
	}
	return h.Handler.Enabled(ctx, l)
}

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo {
		r.Level = slog.LevelDebug
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(as)}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(name)}
}
