package actors

import (
	"strings"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/presenced/presenced/messages"
)

// routed carries a message to the actor of one user through the
// supervisor, which knows who is alive. Local only.
type routed struct {
	user string
	msg  any
}

// idle is a user actor telling the supervisor it went offline and could go.
type idle struct{ user string }

// stopIfIdle asks a user actor to stop unless something arrived since it
// said it was idle; it answers with stopAck.
type stopIfIdle struct{}

type stopAck struct {
	user    string
	pid     *actor.PID
	stopped bool
}

// usersActor supervises one user actor per user that has a connection or is
// inside its offline grace. A user actor is stopped only through a
// handshake (idle, stopIfIdle, stopAck) during which messages for that user
// are held, so that a connection arriving just as the user went offline is
// never forwarded to an actor that is stopping.
type usersActor struct {
	env      *env
	props    *actor.Props // every user actor's: one, shared
	children map[string]*child
	byPID    map[string]string // child PID id → user id
	// ending is set once the supervisor itself stops (shutdown): its
	// children end with it, and that is no failure.
	ending bool
}

type child struct {
	pid      *actor.PID
	stopping bool
	held     []heldMsg
}

type heldMsg struct {
	msg    any
	sender *actor.PID
}

func newUsersActor(env *env) *usersActor {
	return &usersActor{
		env: env,
		// One Props for all: a user actor learns its user from its name,
		// and whether it is a restart from the supervisor (see spawn).
		props: env.props(func() actor.Actor { return newUserActor(env, "") },
			// Cheaper to allocate than the default, for actors mostly idle.
			actor.WithMailbox(actor.UnboundedLockfree())),
		children: make(map[string]*child),
		byPID:    make(map[string]string),
	}
}

// userOfPID is the user of a user actor spawned by spawn: its id is
// "users/<user>/$<n>", and user ids never contain a slash.
func userOfPID(id string) string {
	id = strings.TrimPrefix(id, usersName+"/")
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		return id[:i]
	}
	return id
}

// restartMarker wraps the supervision of user actors to remember which
// one is being restarted: the new instance then rebuilds its state from
// the member's sessions.
type restartMarker struct {
	actor.SupervisorStrategy
	env *env
}

func (r restartMarker) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	rs *actor.RestartStatistics, reason interface{}, message interface{}) {
	r.env.restarting.Store(child.Id, struct{}{})
	r.SupervisorStrategy.HandleFailure(sys, sup, child, rs, reason, message)
}

func (a *usersActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *messages.Attach:
		a.deliver(c, m.UserId, m, c.Sender())
	case *routed:
		a.deliver(c, m.user, m.msg, c.Sender())
	case *idle:
		if ch := a.children[m.user]; ch != nil && !ch.stopping {
			ch.stopping = true
			c.Request(ch.pid, &stopIfIdle{})
		}
	case *stopAck:
		a.stopped(c, m)
	case *actor.Stopping:
		a.ending = true
	case *actor.Terminated:
		a.terminated(c, m)
	}
}

// deliver forwards msg from sender to the user's actor, spawning it for an
// Attach. Anything else for a user without an actor is answered as
// undeliverable.
func (a *usersActor) deliver(c actor.Context, user string, msg any, sender *actor.PID) {
	ch := a.children[user]
	if ch == nil {
		if _, attach := msg.(*messages.Attach); !attach {
			answerAbsentTo(c, sender, user, msg)
			return
		}
		ch = a.spawn(c, user)
	}
	if ch.stopping {
		ch.held = append(ch.held, heldMsg{msg, sender})
		return
	}
	c.RequestWithCustomSender(ch.pid, msg, sender)
}

func (a *usersActor) spawn(c actor.Context, user string) *child {
	pid := c.SpawnPrefix(a.props, user+"/")
	ch := &child{pid: pid}
	a.children[user] = ch
	a.byPID[pid.Id] = user
	a.env.metrics.usersOnline.Inc()
	return ch
}

func (a *usersActor) stopped(c actor.Context, m *stopAck) {
	ch := a.children[m.user]
	if ch == nil || !ch.pid.Equal(m.pid) {
		return // Terminated came first and already settled it
	}
	if m.stopped {
		a.forget(m.user, ch.pid)
	}
	a.release(c, m.user, ch)
}

// release ends a stop handshake: what was held for the user goes to its
// actor, or to a new one when the old one stopped.
func (a *usersActor) release(c actor.Context, user string, ch *child) {
	held := ch.held
	ch.held, ch.stopping = nil, false
	for _, h := range held {
		a.deliver(c, user, h.msg, h.sender)
	}
}

func (a *usersActor) forget(user string, pid *actor.PID) {
	delete(a.children, user)
	delete(a.byPID, pid.Id)
	a.env.metrics.usersOnline.Dec()
}

// terminated handles a user actor that stopped. During the stop handshake
// that is the expected end (Terminated, a system message, may overtake the
// stopAck). Otherwise it died without the handshake: it failed more often
// than supervision allows, and its connections would be orphans, so they
// are closed; their clients reconnect to a fresh actor.
func (a *usersActor) terminated(c actor.Context, m *actor.Terminated) {
	user, ok := a.byPID[m.Who.Id]
	if !ok {
		return
	}
	ch := a.children[user]
	a.forget(user, m.Who)
	if ch.stopping && !a.ending {
		a.release(c, user, ch)
		return
	}
	if !a.ending {
		a.env.log.Error("user actor stopped after repeated failures; closing its connections", "user_id", user)
		for _, s := range a.env.conns.ofUser(user) {
			s.conn.Close(CloseInternalError, "internal error, reconnect")
		}
	}
	for _, h := range ch.held {
		answerAbsentTo(c, h.sender, user, h.msg)
	}
}

// answerAbsentTo answers a request meant for a user who has no actor: not
// delivered to anyone. Other messages for an absent user need no answer.
func answerAbsentTo(c actor.SenderContext, to *actor.PID, user string, msg any) {
	if to == nil {
		return
	}
	switch m := msg.(type) {
	case *messages.Deliver:
		c.Send(to, &messages.DeliverReply{UserId: user, MessageId: m.GetMessage().GetId()})
	case *messages.Attach:
		// Only reachable after a failure: the client will retry.
		c.Send(to, messages.Errorf(messages.CodeUnavailable, "user %s is restarting", m.UserId))
	}
}
