package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/presenced/presenced/messages"
)

// Engine runs the actors of one member: the users supervisor with a user
// actor per connected user, the registry, and the persistence actor. It is
// what transport talks to.
type Engine struct {
	opts     Options
	system   *actor.ActorSystem
	root     *actor.RootContext
	env      *env
	nextConn atomic.Uint64
	closing  atomic.Bool
}

// New starts an engine's actors.
func New(opts Options) (*Engine, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	system := actor.NewActorSystem(
		actor.WithLoggerFactory(func(s *actor.ActorSystem) *slog.Logger {
			return slog.New(quietHandler{opts.Logger.Handler()}).With("lib", "protoactor")
		}),
		// Dead letters are expected (a message to a user who just left) and
		// are not worth a log line each.
		actor.WithDeadLetterThrottleCount(1),
		actor.WithDeadLetterThrottleInterval(time.Minute),
		actor.WithDeadLetterRequestLogging(false),
	)
	e := &Engine{opts: opts, system: system, root: system.Root}
	e.env = newEnv(&e.opts, system)
	if err := e.env.spawnAll(); err != nil {
		system.Shutdown()
		return nil, err
	}
	if opts.Cluster != nil {
		if err := e.env.startCluster(*opts.Cluster); err != nil {
			system.Shutdown()
			return nil, err
		}
	}
	return e, nil
}

// Connect registers a new connection of an authenticated user, before the
// WebSocket upgrade, so that a refusal (too many connections) can still be
// an HTTP answer. The first frame pushed to conn is presence:connected.
func (e *Engine) Connect(ctx context.Context, userID, role string, conn Conn) (*Session, error) {
	if e.closing.Load() {
		return nil, messages.Errorf(messages.CodeUnavailable, "server is shutting down")
	}
	s := &Session{
		e:    e,
		ref:  &messages.ConnRef{Member: e.env.member, Id: e.nextConn.Add(1)},
		user: userID,
		role: role,
		conn: conn,
	}
	e.env.conns.add(s)
	reply, err := e.attach(ctx, s)
	if err != nil {
		e.env.conns.remove(s)
		// An attach that timed out may still land: make sure it ends.
		e.root.Send(e.env.users, &routed{user: userID, msg: &messages.Detach{Conn: s.ref}})
		return nil, err
	}
	if reply.ErrorCode != "" {
		e.env.conns.remove(s)
		return nil, messages.Errorf(messages.Code(reply.ErrorCode),
			"user %s has reached its limit of %d connections", userID, e.opts.MaxConnectionsPerUser)
	}
	s.setGrain(actor.NewPID(reply.UserPidAddress, reply.UserPidId))
	return s, nil
}

// attach registers a session with its user: the local supervisor's
// actor, or the user's grain wherever it lives.
func (e *Engine) attach(ctx context.Context, s *Session) (*messages.AttachReply, error) {
	if e.env.clustered() {
		return e.env.attachGrain(s.attachMsg(false))
	}
	res, err := e.ask(ctx, e.env.users, s.attachMsg(false))
	if err != nil {
		return nil, err
	}
	return res.(*messages.AttachReply), nil
}

// Ready reports whether the engine can serve: its store answers and, in a
// cluster, it has joined.
func (e *Engine) Ready(ctx context.Context) error {
	if e.closing.Load() {
		return errors.New("shutting down")
	}
	if e.env.clustered() && !e.env.cl.ready.Load() {
		return errors.New("not joined to the cluster yet")
	}
	return e.opts.Store.Ping(ctx)
}

// Connections is the number of live connections on this member.
func (e *Engine) Connections() int { return e.env.conns.len() }

// HeartbeatInterval is what clients are told to heartbeat at.
func (e *Engine) HeartbeatInterval() time.Duration { return e.opts.HeartbeatInterval }

// Shutdown closes every connection with code 1012 (service restart), stops
// the actors, and waits for pending store writes, until ctx ends.
func (e *Engine) Shutdown(ctx context.Context) error {
	if !e.closing.CompareAndSwap(false, true) {
		return nil
	}
	for _, s := range e.env.conns.all() {
		s.conn.Close(CloseServiceRestart, "server restarting, reconnect")
	}
	if e.env.clustered() {
		e.env.leave(ctx)
	}
	// Users first: their last state (lastSeen) goes to the persistence
	// actor, which drains every pending write before it is stopped last.
	var err error
	stop := func(pid *actor.PID) {
		if _, ferr := e.root.PoisonFuture(pid).Result(); ferr != nil && err == nil {
			err = fmt.Errorf("stopping %s: %w", pid.Id, ferr)
		}
	}
	stop(e.env.users)
	stop(e.env.registry)
	// The drain may take the whole shutdown budget, not one ask's timeout:
	// a slow store still holds acknowledged work's records (last seen).
	if _, derr := e.askWithin(ctx, e.env.persist, &drainReq{}); derr != nil {
		err = errors.Join(err, fmt.Errorf("draining store writes: %w", derr))
	}
	stop(e.env.persist)
	done := make(chan struct{})
	go func() { e.env.run.wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, fmt.Errorf("waiting for store calls: %w", ctx.Err()))
	}
	if !e.system.IsStopped() { // leaving a cluster stops it already
		e.system.Shutdown()
	}
	e.env.pool.Close()
	return err
}

// ask sends a request to an actor from outside the actors and waits for the
// answer, bounded by AskTimeout and ctx.
func (e *Engine) ask(ctx context.Context, pid *actor.PID, msg any) (any, error) {
	timeout := e.opts.AskTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	return e.askFor(pid, msg, timeout)
}

// askWithin is ask bounded by ctx alone when it has a deadline.
func (e *Engine) askWithin(ctx context.Context, pid *actor.PID, msg any) (any, error) {
	if dl, ok := ctx.Deadline(); ok {
		return e.askFor(pid, msg, time.Until(dl))
	}
	return e.ask(ctx, pid, msg)
}

func (e *Engine) askFor(pid *actor.PID, msg any, timeout time.Duration) (any, error) {
	if timeout <= 0 {
		return nil, messages.Errorf(messages.CodeUnavailable, "request timed out")
	}
	res, err := e.root.RequestFuture(pid, msg, timeout).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: asking %s: %v", messages.ErrUnavailable, pid.Id, err)
	}
	if rerr, ok := res.(error); ok {
		return nil, rerr
	}
	return res, nil
}
