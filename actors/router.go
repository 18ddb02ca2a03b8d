package actors

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/presenced/presenced/messages"
)

// clusterRouter is a member's "users" actor in a cluster. It routes
// messages addressed to a user to that user's grain, in the order they were
// sent, without ever blocking on the cluster's identity lookup; and it
// keeps the member's connections attached to their grains when a grain
// moves, dies with its member, or is stopped.
type clusterRouter struct {
	env     *env
	pids    map[string]*actor.PID
	waiting map[string][]heldMsg
}

func newClusterRouter(env *env) *clusterRouter {
	return &clusterRouter{env: env, pids: make(map[string]*actor.PID), waiting: make(map[string][]heldMsg)}
}

// resolved is the grain PID of a user, found off the actor.
type resolved struct {
	user string
	pid  *actor.PID
}

// reattach re-registers a local session with its user's grain: on every
// heartbeat (a grain that lost its state rebuilds from these within one
// heartbeat interval) and whenever the grain it was attached to is gone.
type reattach struct{ s *Session }

type reattached struct {
	s     *Session
	reply *messages.AttachReply
	err   error
}

func (r *clusterRouter) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *routed:
		r.route(c, m.user, m.msg, c.Sender())
	case *resolved:
		r.resolved(c, m)
	case *reattach:
		r.reattach(c, m.s)
	case *reattached:
		r.reattached(c, m)
	case *messages.Reattach:
		for _, id := range m.ConnIds {
			if s := r.env.conns.get(id); s != nil {
				r.reattach(c, s)
			}
		}
	case *memberLeft:
		r.env.log.Debug("router: member left", "addr", m.addr)
		clear(r.pids)
		r.env.cl.place.each(func(pid *actor.PID) { c.Send(pid, m) })
		for _, s := range r.env.conns.all() {
			if pid := s.grain(); pid != nil && pid.Address == m.addr {
				r.reattach(c, s)
			}
		}
	case *memberJoined:
		// Grains may move to the new member: resolve afresh, and let every
		// local grain show its user to the new member's registry.
		clear(r.pids)
		r.env.cl.place.each(func(pid *actor.PID) { c.Send(pid, m) })
	}
}

// route sends msg to the user's grain. A user the registry knows offline
// has no grain worth activating: the message is answered as undeliverable
// (a Deliver then simply waits in the store as unread).
func (r *clusterRouter) route(c actor.Context, user string, msg any, sender *actor.PID) {
	if !r.env.online.has(user) {
		answerAbsentTo(c, sender, user, msg)
		return
	}
	if q, ok := r.waiting[user]; ok {
		r.waiting[user] = append(q, heldMsg{msg, sender})
		return
	}
	if pid := r.pids[user]; pid != nil {
		c.RequestWithCustomSender(pid, msg, sender)
		return
	}
	r.waiting[user] = []heldMsg{{msg, sender}}
	cl := r.env.cl.c
	self := c.Self()
	r.env.run.Go(func() {
		r.env.system.Root.Send(self, &resolved{user: user, pid: cl.Get(user, userKind)})
	})
}

func (r *clusterRouter) resolved(c actor.Context, m *resolved) {
	q := r.waiting[m.user]
	delete(r.waiting, m.user)
	if m.pid != nil {
		r.pids[m.user] = m.pid
	}
	for _, h := range q {
		if m.pid == nil {
			answerAbsentTo(c, h.sender, m.user, h.msg)
			continue
		}
		c.RequestWithCustomSender(m.pid, h.msg, h.sender)
	}
}

func (r *clusterRouter) reattach(c actor.Context, s *Session) {
	self, env := c.Self(), r.env
	a := s.attachMsg(true)
	env.run.Go(func() {
		reply, err := env.attachGrain(a)
		env.system.Root.Send(self, &reattached{s: s, reply: reply, err: err})
	})
}

// reattached records the grain a session is attached to now. When it
// changed, the previous activation (a duplicate, or one that is moving) is
// told to forget the connection without telling viewers anything.
func (r *clusterRouter) reattached(c actor.Context, m *reattached) {
	if m.s.isClosed() {
		return
	}
	if m.err != nil {
		r.env.log.Warn("re-attaching a connection failed; retrying", "user_id", m.s.user, "conn_id", m.s.ref.Id, "err", m.err)
		r.env.after(storeRetryDelay, c.Self(), &reattach{s: m.s})
		return
	}
	pid := actor.NewPID(m.reply.UserPidAddress, m.reply.UserPidId)
	r.env.log.Debug("re-attached", "user_id", m.s.user, "conn_id", m.s.ref.Id, "grain", pid)
	if old := m.s.setGrain(pid); old != nil && !old.Equal(pid) {
		c.Send(old, &messages.Detach{Conn: m.s.ref, Superseded: true})
	}
	r.pids[m.s.user] = pid
}

// onlineSet is the users the member's registry knows connected; read by
// routers on any goroutine. A map behind a lock rather than a sync.Map: it
// holds every online user of the cluster, and a sync.Map costs about a
// hundred bytes more per entry; writes are rare (see set).
type onlineSet struct {
	mu sync.RWMutex
	m  map[string]struct{}
}

// set is called on every presence change, heartbeats included, by the
// registry alone; only a change of connectedness writes.
func (o *onlineSet) set(user string, on bool) {
	if o.has(user) == on {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if on {
		if o.m == nil {
			o.m = make(map[string]struct{})
		}
		o.m[user] = struct{}{}
	} else {
		delete(o.m, user)
	}
}

func (o *onlineSet) has(user string) bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	_, ok := o.m[user]
	return ok
}
