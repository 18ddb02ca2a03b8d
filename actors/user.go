package actors

import (
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/presenced/presenced/messages"
)

// tick wakes a user actor when its earliest deadline is due: a silent
// connection, a lingering focus, or the end of the offline grace. Handling
// it recomputes everything from the clock, so a late or stale tick is
// harmless.
type tick struct{}

// crash makes a user actor panic. Tests send it to show that supervision
// restarts the actor without losing its connections.
type crash struct{}

// userActor owns one user's presence: its connections, each one's focus and
// heartbeat deadline, the offline grace, lastActive and lastSeen, and the
// version that orders its changes. All of it is soft state: after a restart
// it is rebuilt from the member's sessions.
type userActor struct {
	env     *env
	id      string
	role    string
	rebuild bool

	conns      userConns
	lingering  map[string]time.Time // partner → until: focus of ended connections, kept over a reload
	lastActive time.Time
	lastEnd    time.Time // when the last connection ended; zero while one is live
	offline    bool      // the grace ran out and offline was published
	version    uint64
	published  *messages.UserPresence

	timerDue  time.Time
	timerStop func() bool
	stopAsked bool // a grain asked itself to stop
	quiet     bool // stopping as a superseded duplicate: nothing to hand over

	convs       map[string][]string // conversation → members, of conversations used
	convWaiters map[string][]convWaiter
	sends       map[string]*pendingSend // by message id
}

// userConns are a user's connections: a few at most, so a slice.
type userConns []*userConn

func (cs userConns) get(k connKey) *userConn {
	for _, uc := range cs {
		if keyOf(uc.ref) == k {
			return uc
		}
	}
	return nil
}

// remove takes a connection out and returns it, or nil.
func (cs *userConns) remove(k connKey) *userConn {
	for i, uc := range *cs {
		if keyOf(uc.ref) == k {
			*cs = slices.Delete(*cs, i, i+1)
			return uc
		}
	}
	return nil
}

type userConn struct {
	ref       *messages.ConnRef
	focus     []string
	joined    []string
	typing    []string // conversations this connection last said it types in
	lastFrame time.Time
	greeted   bool     // presence:connected and unread went out
	held      [][]byte // frames waiting for the greeting to end
}

func newUserActor(env *env, id string) *userActor {
	return &userActor{
		env: env,
		id:  id,
		// The other maps are made when first needed: most users never
		// linger, and a connected user that never sends holds none.
	}
}

func (u *userActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		if u.id == "" { // a local actor, spawned by the users supervisor
			u.id = userOfPID(c.Self().Id)
			_, u.rebuild = u.env.restarting.LoadAndDelete(c.Self().Id)
		}
		if u.rebuild {
			u.rebuildFromSessions(c)
		}
	case *messages.Attach:
		c.Respond(u.attach(c, m))
	case *messages.Detach:
		if m.Superseded {
			u.superseded(c, keyOf(m.Conn))
			return
		}
		u.endConn(c, keyOf(m.Conn))
		u.update(c)
	case *messages.Touch:
		u.touch(c, m)
	case *messages.Focus:
		if uc := u.conns.get(keyOf(m.Conn)); uc != nil {
			u.alive(uc)
			if !slices.Contains(uc.focus, m.PartnerId) {
				uc.focus = append(uc.focus, m.PartnerId)
			}
			u.update(c)
		}
	case *messages.Blur:
		u.blur(c, m)
	case *messages.ViewerReady:
		if uc := u.conns.get(keyOf(m.Conn)); uc != nil && !uc.greeted {
			// The client learns the heartbeat interval from its greeting,
			// and the transport reads nothing before it: silence counts
			// from here. A registry running late (thousands connecting at
			// once) would otherwise close healthy connections.
			u.alive(uc)
			u.loadUnread(c, uc)
		}
	case *tick:
		u.timerDue, u.timerStop = time.Time{}, nil
		u.expire(c)
		u.update(c)
	case *stopIfIdle:
		stop := u.offline && len(u.conns) == 0
		c.Respond(&stopAck{user: u.id, pid: c.Self(), stopped: stop})
		if stop {
			c.Stop(c.Self())
		}
	case *crash:
		panic("crash requested")
	case *stopNow:
		if u.idle() {
			c.Stop(c.Self())
		}
	case *memberLeft:
		for _, uc := range slices.Clone(u.conns) {
			if uc.ref.GetMember() == m.addr {
				u.endConn(c, keyOf(uc.ref))
			}
		}
		u.update(c)
	case *memberJoined:
		if u.published != nil {
			c.Send(u.env.registryAt(m.addr), &messages.PresenceChanged{Presence: u.published})
		}
	case *actor.Stopping:
		u.stopping(c)
	default:
		u.messaging(c, m)
	}
}

// attach registers a connection, or refreshes one re-registering (rejoin)
// with what the connection declared: a grain rebuilt elsewhere, or the
// heartbeat re-registration of a cluster, converge on the session's state.
func (u *userActor) attach(c actor.Context, m *messages.Attach) *messages.AttachReply {
	k := keyOf(m.Conn)
	uc := u.conns.get(k)
	known := uc != nil
	if !known && !m.Rejoin && len(u.conns) >= u.env.opts.MaxConnectionsPerUser {
		return &messages.AttachReply{ErrorCode: string(messages.CodeLimitExceeded)}
	}
	firstEver := u.role == "" && u.version == 0
	if m.Role != "" {
		u.role = m.Role
	}
	switch {
	case !known:
		u.addConn(c, m.Conn, m.Focus, m.Joined, m.Greeted)
	case m.Rejoin:
		u.alive(uc)
		u.lastActive = uc.lastFrame
		uc.focus, uc.joined = slices.Clone(m.Focus), slices.Clone(m.Joined)
	}
	if firstEver && !m.Rejoin {
		// Remember the role for viewers who ask about this user once offline.
		c.Send(u.env.persist, &saveUser{seen: messages.UserSeen{ID: u.id, Role: u.role}})
	}
	u.update(c)
	return &messages.AttachReply{UserPidAddress: c.Self().Address, UserPidId: c.Self().Id}
}

// superseded forgets a connection that re-attached to another activation
// of this user (a duplicate grain, or one that moved). Nothing changed for
// viewers, so nothing is published; an activation left with no connection
// stops quietly, leaving the user to the other one.
func (u *userActor) superseded(c actor.Context, k connKey) {
	if u.conns.remove(k) == nil {
		return
	}
	if len(u.conns) == 0 {
		u.quiet = true
		c.Stop(c.Self())
	}
}

// stopNow asks a grain to stop if it is still idle when it reads it.
type stopNow struct{}

func (u *userActor) idle() bool {
	return u.offline && len(u.conns) == 0 && len(u.sends) == 0
}

func (u *userActor) addConn(c actor.Context, ref *messages.ConnRef, focus, joined []string, greeted bool) {
	now := u.env.clock.Now()
	k := keyOf(ref)
	if u.conns.get(k) == nil {
		u.conns = append(u.conns, &userConn{ref: ref, focus: slices.Clone(focus), joined: slices.Clone(joined), lastFrame: now, greeted: greeted})
	}
	u.lastActive, u.lastEnd, u.offline = now, time.Time{}, false
	c.Request(u.env.registryOf(ref), &messages.ViewerJoin{Conn: ref, UserId: u.id, Role: u.role})
}

// rebuildFromSessions restores the connections a restart lost from the
// sessions of the member, each with its own record of its open chats.
func (u *userActor) rebuildFromSessions(c actor.Context) {
	for _, s := range u.env.conns.ofUser(u.id) {
		focus, joined, greeted := s.registration()
		u.role = s.role
		u.addConn(c, s.ref, focus, joined, greeted)
	}
	if len(u.conns) == 0 {
		// The state we lost may have shown this user online: let the grace
		// run out so that viewers see offline rather than a ghost.
		u.lastEnd = u.env.clock.Now()
	}
	u.env.log.Warn("user actor restarted; rebuilt from sessions", "user_id", u.id, "connections", len(u.conns))
	u.update(c)
}

func (u *userActor) touch(c actor.Context, m *messages.Touch) {
	uc := u.conns.get(keyOf(m.Conn))
	if uc == nil {
		return
	}
	u.alive(uc)
	if !m.Heartbeat {
		return
	}
	u.heartbeat(c, uc)
}

func (u *userActor) heartbeat(c actor.Context, uc *userConn) {
	u.lastActive = uc.lastFrame
	// lastActive alone is not a change viewers are told about; refresh the
	// registries' copy at most once per heartbeat interval.
	if p := u.published; p != nil && u.lastActive.UnixMilli()-p.LastActiveMs >= u.env.opts.HeartbeatInterval.Milliseconds() {
		u.publish(c, u.snapshot())
	}
}

func (u *userActor) alive(uc *userConn) { uc.lastFrame = u.env.clock.Now() }

func (u *userActor) blur(c actor.Context, m *messages.Blur) {
	uc := u.conns.get(keyOf(m.Conn))
	if uc == nil {
		return
	}
	u.alive(uc)
	if m.PartnerId == "" {
		uc.focus = nil
		clear(u.lingering)
	} else {
		uc.focus = slices.DeleteFunc(uc.focus, func(p string) bool { return p == m.PartnerId })
		delete(u.lingering, m.PartnerId)
	}
	u.update(c)
}

// endConn forgets a connection. Its open chats linger for the offline grace
// so that a reload shows no flicker to the partner.
func (u *userActor) endConn(c actor.Context, k connKey) {
	uc := u.conns.remove(k)
	if uc == nil {
		return
	}
	now := u.env.clock.Now()
	for _, p := range uc.focus {
		if u.lingering == nil {
			u.lingering = make(map[string]time.Time)
		}
		u.lingering[p] = now.Add(u.env.opts.OfflineGrace)
	}
	if len(u.conns) == 0 {
		u.lastEnd = now
	}
	u.stopTyping(c, uc)
	c.Send(u.env.registryOf(uc.ref), &messages.ViewerLeave{Conn: uc.ref})
}

// expire closes connections silent past the heartbeat timeout (at exactly
// the deadline), drops lingering focus whose time is up, and turns the user
// offline when the grace after its last connection has run out.
func (u *userActor) expire(c actor.Context) {
	now := u.env.clock.Now()
	for _, uc := range slices.Clone(u.conns) {
		if !now.Before(uc.lastFrame.Add(u.env.opts.HeartbeatTimeout)) {
			u.env.closeConn(uc.ref, CloseNormal, "heartbeat timeout")
			u.endConn(c, keyOf(uc.ref))
		}
	}
	for p, until := range u.lingering {
		if !now.Before(until) {
			delete(u.lingering, p)
		}
	}
	if len(u.conns) == 0 && !u.offline && !now.Before(u.lastEnd.Add(u.env.opts.OfflineGrace)) {
		u.offline = true
		clear(u.lingering)
		c.Send(u.env.persist, &saveUser{seen: messages.UserSeen{ID: u.id, LastSeen: u.lastEnd}})
	}
}

// update publishes the user's state if viewers could see a difference,
// re-arms the timer, and offers the supervisor to stop this actor once the
// user is offline.
func (u *userActor) update(c actor.Context) {
	next := u.snapshot()
	if p := u.published; p == nil && next.Connected || p != nil && (p.Connected != next.Connected ||
		!slices.Equal(p.Focus, next.Focus) || p.Role != next.Role || !slices.Equal(p.ConnMembers, next.ConnMembers)) {
		u.publish(c, next)
	}
	u.arm(c)
	switch {
	case !u.idle():
	case u.env.clustered():
		if !u.stopAsked {
			u.stopAsked = true
			c.Send(c.Self(), &stopNow{})
		}
	default:
		c.Send(c.Parent(), &idle{user: u.id})
	}
}

// snapshot is the user's presence now, without a version.
func (u *userActor) snapshot() *messages.UserPresence {
	p := &messages.UserPresence{
		UserId:       u.id,
		Role:         u.role,
		Connected:    !u.offline,
		LastActiveMs: unixMs(u.lastActive),
		ConnMembers:  connMembers(u.env, u.conns),
		Owner:        u.env.member,
	}
	if u.offline {
		p.LastSeenMs = unixMs(u.lastEnd)
		return p
	}
	for _, uc := range u.conns {
		p.Focus = append(p.Focus, uc.focus...)
	}
	for partner := range u.lingering {
		p.Focus = append(p.Focus, partner)
	}
	slices.Sort(p.Focus)
	p.Focus = slices.Compact(p.Focus)
	return p
}

// publish sends a new version of the user's presence to every registry.
// Versions come from the clock as well as a counter, so that the state of
// a rebuilt actor orders after everything its predecessor published.
func (u *userActor) publish(c actor.Context, p *messages.UserPresence) {
	u.version = max(u.version+1, uint64(u.env.clock.Now().UnixNano()))
	p.Version = u.version
	u.published = p
	u.env.metrics.presenceChanges.Inc()
	changed := &messages.PresenceChanged{Presence: p}
	for _, member := range u.env.memberAddrs() {
		c.Send(u.env.registryAt(member), changed) // one send per member, whatever its viewers
	}
}

// arm keeps one timer at the earliest deadline of this user.
func (u *userActor) arm(c actor.Context) {
	var due time.Time
	consider := func(t time.Time) {
		if due.IsZero() || t.Before(due) {
			due = t
		}
	}
	for _, uc := range u.conns {
		consider(uc.lastFrame.Add(u.env.opts.HeartbeatTimeout))
	}
	for _, until := range u.lingering {
		consider(until)
	}
	if len(u.conns) == 0 && !u.offline {
		consider(u.lastEnd.Add(u.env.opts.OfflineGrace))
	}
	if due.IsZero() || (u.timerStop != nil && !u.timerDue.After(due)) {
		return
	}
	if u.timerStop != nil {
		u.timerStop()
	}
	u.timerDue = due
	u.timerStop = u.env.after(max(due.Sub(u.env.clock.Now()), 0), c.Self(), &tick{})
}

// stopping runs when the actor stops. A grain stopped while it still
// holds connections (it moved, or its member is leaving) hands them over:
// their members re-attach them to a new activation. Otherwise a user still
// shown online (the member is shutting down) is recorded as last seen now.
func (u *userActor) stopping(c actor.Context) {
	if u.timerStop != nil {
		u.timerStop()
	}
	if u.quiet {
		return
	}
	if u.env.clustered() && len(u.conns) > 0 {
		byMember := make(map[string][]uint64)
		for _, uc := range u.conns {
			byMember[uc.ref.GetMember()] = append(byMember[uc.ref.GetMember()], uc.ref.GetId())
		}
		for member, ids := range byMember {
			c.Send(actor.NewPID(member, usersName), &messages.Reattach{ConnIds: ids})
		}
		return
	}
	if !u.offline {
		seen := u.lastEnd
		if seen.IsZero() {
			seen = u.env.clock.Now()
		}
		c.Send(u.env.persist, &saveUser{seen: messages.UserSeen{ID: u.id, LastSeen: seen}})
	}
}
