package actors

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/presenced/presenced/messages"
)

// registry is the member's presence fan-out. It holds the latest presence of
// every user it heard of, and the member's viewer connections with what each
// may see: the viewer's contacts (loaded from the store, kept current when
// conversations are created), ADMIN or visibility "all", and the
// connection's own subscriptions. On each change it tells exactly the
// connections whose view of the user changed, through their coalescers.
type registry struct {
	env   *env
	users map[string]*entry
	// viewers are the users with a connection on this member.
	viewers map[string]*viewer
	conns   map[connKey]*viewerConn
	// contactOf: user → local viewers having that user as a contact.
	contactOf map[string]map[*viewer]struct{}
	// subscribers: user → local connections subscribed to that user.
	subscribers map[string]map[*viewerConn]struct{}
	// broad are the connections that see every user (visibility "all", or
	// ADMIN), in a slice: a change visits each of them.
	broad      []*viewerConn
	flush      *flusher
	stamp      uint64 // dedupes connections reached twice in one fan-out
	mark       uint64 // dedupes users changed twice in one window (entry.mark)
	greetFrags [][]byte
	online     onlineList
	log        changeLog
	nextSweep  *sweepDue
	stopSweep  func() bool
}

// offlineRetention is how long the registry keeps the presence of a user
// who is offline (gone, or loaded for a subscription) once no connection
// subscribes to it; then the store's record answers for the user. Without
// an end the registry would hold every user it ever saw, and a client
// subscribing to ever new ids could grow it at will. Long past anything
// still in flight about the user: a late state, or a change held for a
// slow connection.
const offlineRetention = 10 * time.Minute

// sweepEvery is how often the registry looks for users to forget: a user
// is forgotten between the retention and the retention and this after it
// went offline.
const sweepEvery = offlineRetention / 4

// sweepDue asks the registry to forget users offline for the retention.
// The registry arms one at a time and acts on that one only, so a
// restarted registry does not inherit its predecessor's (the field gives
// each its own address: pointers to empty structs may all be equal).
type sweepDue struct{ _ byte }

// entry is the latest presence of a user and its encodings, one per status a
// viewer can see, made at most once per version and shared by all viewers.
// A member holds an entry for every online user of the cluster, most of
// which no local viewer may see: their encodings are never made.
type entry struct {
	p    *messages.UserPresence
	at   int64 // unix ns on the engine's clock: when the registry learned of p
	enc  *encodings
	mark uint64 // the registry's mark when a coalescer last counted this user
	// listed is 1 + the user's index in registry.online, 0 when offline.
	listed int32
}

type encodings struct {
	frags, singles [3][]byte
}

func (e *entry) encodings() *encodings {
	if e.enc == nil {
		e.enc = new(encodings)
	}
	return e.enc
}

func (e *entry) fragment(st messages.Status) []byte {
	enc := e.encodings()
	if enc.frags[st] == nil {
		pr := messages.Presence{
			UserID: e.p.UserId, Role: e.p.Role, Status: st,
			LastActive: e.p.LastActiveMs, LastSeen: e.p.LastSeenMs,
		}
		enc.frags[st] = pr.AppendJSON(nil)
	}
	return enc.frags[st]
}

type viewer struct {
	id, role string
	contacts map[string]struct{}
	loaded   bool
	conns    []*viewerConn // a user has a few connections at most
}

type viewerConn struct {
	ref     *messages.ConnRef
	sess    *Session // nil when another member holds the connection
	v       *viewer
	replyTo *actor.PID // the user actor waiting for ViewerReady
	ready   bool
	subs    map[string]struct{}
	broad   int // index in registry.broad, or -1
	coalescer
	stamp uint64
}

func newRegistry(env *env) *registry {
	return &registry{
		env:         env,
		users:       make(map[string]*entry),
		viewers:     make(map[string]*viewer),
		conns:       make(map[connKey]*viewerConn),
		contactOf:   make(map[string]map[*viewer]struct{}),
		subscribers: make(map[string]map[*viewerConn]struct{}),
	}
}

// contactsLoaded is the store's answer for a viewer's contacts.
type contactsLoaded struct {
	viewer   string
	contacts []string
	err      error
}

// usersLoaded is the store's answer for users a subscription asked about.
type usersLoaded struct {
	sub   *messages.Subscribe
	users map[string]messages.UserRecord
	err   error
}

// retryContacts asks the registry to try loading a viewer's contacts again.
type retryContacts struct{ viewer string }

func (r *registry) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		r.flush = newFlusher(r.env, c.Self())
		r.countHeld() // a restarted registry starts empty
		r.armSweep(c)
	case *sweepDue:
		if m == r.nextSweep {
			r.sweep()
			r.armSweep(c)
		}
	case *messages.PresenceChanged:
		start := time.Now()
		r.changed(m.Presence)
		r.env.metrics.fanout.Observe(time.Since(start).Seconds())
	case *messages.ViewerJoin:
		r.join(c, m)
	case *messages.ViewerLeave:
		r.leave(m.Conn)
	case *contactsLoaded:
		r.contactsLoaded(c, m)
	case *retryContacts:
		if v := r.viewers[m.viewer]; v != nil && !v.loaded {
			r.loadContacts(c, v)
		}
	case *messages.Subscribe:
		r.subscribe(c, m)
	case *usersLoaded:
		r.subscribed(m)
	case *messages.Unsubscribe:
		r.unsubscribe(m)
	case *messages.ContactsAdded:
		r.contactsAdded(m.Conversation.GetMemberIds())
	case *presenceQuery:
		c.Respond(r.lookup(m.user))
	case *flushDue:
		r.flush.run(r)
	case *messages.Push:
		for _, id := range m.ConnIds {
			if s := r.env.conns.get(id); s != nil {
				r.env.pushLocal(s, m.Frame)
			}
		}
	case *messages.CloseConns:
		for _, id := range m.ConnIds {
			if s := r.env.conns.get(id); s != nil {
				s.conn.Close(int(m.Code), m.Reason)
			}
		}
	case *memberLeft:
		r.memberLeft(c)
	case *offlineIfGone:
		r.offlineIfGone(m)
	case *messages.ConnCountRequest:
		c.Respond(&messages.ConnCountReply{Member: r.env.member, Connections: int64(r.env.conns.len())})
	case *actor.Stopping:
		r.flush.stop()
		if r.stopSweep != nil {
			r.stopSweep()
		}
	}
}

// offlineIfGone turns a user offline if, by the end of the grace after a
// member left, neither the user's actor nor any of its connections is on a
// live member.
type offlineIfGone struct {
	user string
	seen int64
}

func (r *registry) armSweep(c actor.Context) {
	r.nextSweep = &sweepDue{}
	r.stopSweep = r.env.after(sweepEvery, c.Self(), r.nextSweep)
}

// sweep forgets the users offline for longer than the retention that no
// connection subscribes to.
func (r *registry) sweep() {
	limit := r.env.clock.Now().Add(-offlineRetention).UnixNano()
	for id, e := range r.users {
		if !e.p.Connected && e.at < limit && len(r.subscribers[id]) == 0 {
			delete(r.users, id)
		}
	}
	r.countHeld()
}

// countHeld publishes how many users the registry holds.
func (r *registry) countHeld() { r.env.metrics.usersHeld.Set(float64(len(r.users))) }

// memberLeft: a user whose grain and connections were all on members that
// are gone is offline after the grace, unless by then it is back (a new
// activation publishes with a live owner). Usually the grain says so
// itself; but it may have died with them, and without this they would be
// ghosts.
func (r *registry) memberLeft(c actor.Context) {
	now := unixMs(r.env.clock.Now())
	for id, e := range r.users {
		if r.gone(e.p) {
			r.env.after(r.env.opts.OfflineGrace, c.Self(), &offlineIfGone{user: id, seen: now})
		}
	}
}

// gone: shown connected, yet nothing of the user is on a live member.
func (r *registry) gone(p *messages.UserPresence) bool {
	alive := r.env.memberAddrs()
	return p.Connected && !slices.Contains(alive, p.Owner) &&
		!slices.ContainsFunc(p.ConnMembers, func(m string) bool { return slices.Contains(alive, m) })
}

func (r *registry) offlineIfGone(m *offlineIfGone) {
	e := r.users[m.user]
	if e == nil || !r.gone(e.p) {
		return
	}
	r.env.log.Info("user gone with its member", "user_id", m.user, "member", e.p.Owner)
	r.changed(&messages.UserPresence{
		UserId: m.user, Role: e.p.Role, LastActiveMs: e.p.LastActiveMs, LastSeenMs: m.seen,
		// Newer than what we had, older than anything a new activation
		// publishes: a grain's versions start from its clock.
		Version: e.p.Version + 1,
	})
}

// changed records a user's new presence and tells the viewers who see a
// difference. A focus-only change concerns the partners that gained or lost
// focus and nobody else, so it costs nothing for other viewers.
func (r *registry) changed(p *messages.UserPresence) {
	old := r.users[p.UserId]
	if old != nil && p.Version <= old.p.Version {
		return // a late state: a newer one is already known
	}
	if p.Owner != r.env.member {
		r.share(p)
	}
	var before *messages.UserPresence
	e := old
	if e == nil {
		e = &entry{}
		r.users[p.UserId] = e
		r.countHeld()
	} else {
		before = e.p
	}
	// One entry per user for good: changes still waiting in coalescers
	// point at it, and see its latest state when their window ends.
	e.p, e.at, e.enc = p, r.env.clock.Now().UnixNano(), nil
	r.online.update(e, before)
	if r.env.cl != nil {
		// Only the cluster's router asks; on one node the set would cost
		// every connected user a few hundred bytes for nothing.
		r.env.online.set(p.UserId, p.Connected)
	}
	r.log.add(e, before)
	r.stamp++
	if before != nil && before.Connected == p.Connected {
		for _, partner := range focusDiff(before.Focus, p.Focus) {
			if v := r.viewers[partner]; v != nil {
				for _, vc := range v.conns {
					r.offer(vc, e, before)
				}
			}
		}
		return
	}
	r.forWatchers(p.UserId, func(vc *viewerConn) { r.offer(vc, e, before) })
}

// share makes a presence published by another member point at strings
// this member holds anyway: the role constant and the members' addresses.
// Unmarshalled for this registry alone, it is the registry's to change.
func (r *registry) share(p *messages.UserPresence) {
	p.Role = messages.CanonicalRole(p.Role)
	if m := r.env.memberList(p.Owner); m != nil {
		p.Owner = m[0]
	}
	if len(p.ConnMembers) == 1 {
		if m := r.env.memberList(p.ConnMembers[0]); m != nil {
			p.ConnMembers = m
		}
	}
}

// forWatchers calls f once for every local connection that may see user.
func (r *registry) forWatchers(user string, f func(*viewerConn)) {
	once := func(vc *viewerConn) {
		if vc.stamp != r.stamp {
			vc.stamp = r.stamp
			f(vc)
		}
	}
	for _, vc := range r.broad {
		once(vc)
	}
	if r.env.opts.Visibility == VisibilityAll {
		return
	}
	for v := range r.contactOf[user] {
		for _, vc := range v.conns {
			once(vc)
		}
	}
	for vc := range r.subscribers[user] {
		once(vc)
	}
}

// offer queues the change of e for one connection if that viewer may see it
// and its status, as that viewer sees it, differs from before.
func (r *registry) offer(vc *viewerConn, e *entry, before *messages.UserPresence) {
	if vc.broad >= 0 && vc.queued {
		return // the change log has it for the connection's flush
	}
	if !vc.ready || !r.visible(vc, e.p.UserId) {
		return
	}
	was, now := statusFor(before, vc.v.id), statusFor(e.p, vc.v.id)
	if was == now {
		return
	}
	vc.offer(r, e, was, now)
}

func (r *registry) visible(vc *viewerConn, user string) bool {
	_, contact := vc.v.contacts[user]
	_, sub := vc.subs[user]
	return canSee(r.env.opts.Visibility, vc.v.id, vc.v.role, user, contact, sub)
}

// needsContacts: only viewers limited to their contacts need them loaded.
func (r *registry) needsContacts(role string) bool {
	return r.env.opts.Visibility != VisibilityAll && role != messages.RoleAdmin
}

func (r *registry) join(c actor.Context, m *messages.ViewerJoin) {
	k := keyOf(m.Conn)
	if vc := r.conns[k]; vc != nil {
		// A rebuilt user actor re-registering: answer it, no new snapshot.
		vc.replyTo = c.Sender()
		if vc.ready {
			c.Send(vc.replyTo, &messages.ViewerReady{Conn: vc.ref})
		}
		return
	}
	v := r.viewers[m.UserId]
	if v == nil {
		v = &viewer{id: m.UserId, role: m.Role}
		r.viewers[m.UserId] = v
		if r.needsContacts(m.Role) {
			r.loadContacts(c, v)
		} else {
			v.loaded = true
		}
	}
	sess, _ := r.env.localSession(m.Conn)
	vc := &viewerConn{ref: m.Conn, sess: sess, v: v, replyTo: c.Sender(), broad: -1}
	if !r.needsContacts(v.role) { // sees every user
		vc.broad = len(r.broad)
		r.broad = append(r.broad, vc)
	}
	v.conns = append(v.conns, vc)
	r.conns[k] = vc
	if v.loaded {
		r.greet(c, vc)
	}
}

func (r *registry) loadContacts(c actor.Context, v *viewer) {
	store, id := r.env.opts.Store, v.id
	r.env.async(c, func(ctx context.Context) any {
		contacts, err := store.Contacts(ctx, id)
		return &contactsLoaded{viewer: id, contacts: contacts, err: err}
	})
}

func (r *registry) contactsLoaded(c actor.Context, m *contactsLoaded) {
	v := r.viewers[m.viewer]
	if v == nil || v.loaded {
		return
	}
	if m.err != nil {
		// Presence without contacts beats no presence: greet now with what
		// the viewer may see anyway, and keep trying the store.
		r.env.log.Warn("loading contacts failed; retrying", "user_id", v.id, "err", m.err)
		r.env.after(storeRetryDelay, c.Self(), &retryContacts{viewer: v.id})
	} else {
		v.loaded = true
	}
	r.addContacts(v, m.contacts)
	for _, vc := range v.conns {
		if !vc.ready {
			r.greet(c, vc)
		}
	}
}

// greet sends presence:connected, the connection's first frame: every user
// the viewer may see who is online now.
func (r *registry) greet(c actor.Context, vc *viewerConn) {
	// The list is as long as the online users: reused, not grown anew for
	// every connection (gigabytes of garbage while 10,000 came online).
	frags := r.greetFrags[:0]
	defer func() { clear(frags); r.greetFrags = frags[:0] }()
	users := 0
	if r.needsContacts(vc.v.role) {
		for u := range vc.v.contacts {
			if e := r.users[u]; e != nil && e.p.Connected {
				frags = append(frags, e.fragment(statusFor(e.p, vc.v.id)))
			}
		}
		users = len(frags)
	} else {
		frags, users = r.online.greeting(frags, vc.v.id, r.users[vc.v.id])
	}
	buf := greetBuffers.Get().(*[]byte)
	frame := messages.AppendConnectedFrame((*buf)[:0], vc.v.id, vc.v.role, frags, r.env.opts.HeartbeatInterval.Milliseconds())
	r.pushReturned(vc, frame, users, returnGreetBuffer)
	vc.ready = true
	if vc.replyTo != nil {
		c.Send(vc.replyTo, &messages.ViewerReady{Conn: vc.ref})
	}
}

// greetBuffers are the buffers of greetings written and handed back.
var greetBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledGreeting bounds a buffer kept for reuse: one 10,000-user
// greeting, not whatever an outlier grew to.
const maxPooledGreeting = 2 << 20

func returnGreetBuffer(b []byte) {
	if cap(b) <= maxPooledGreeting {
		b = b[:0]
		greetBuffers.Put(&b)
	}
}

func (r *registry) leave(ref *messages.ConnRef) {
	k := keyOf(ref)
	vc := r.conns[k]
	if vc == nil {
		return
	}
	delete(r.conns, k)
	for u := range vc.subs {
		r.unwatch(vc, u)
	}
	if i := vc.broad; i >= 0 {
		last := r.broad[len(r.broad)-1]
		r.broad[i], last.broad = last, i
		r.broad[len(r.broad)-1] = nil
		r.broad = r.broad[:len(r.broad)-1]
		if vc.queued {
			r.log.unpin()
		}
	}
	vc.pending = nil
	v := vc.v
	v.conns = slices.DeleteFunc(v.conns, func(x *viewerConn) bool { return x == vc })
	if len(v.conns) > 0 {
		return
	}
	delete(r.viewers, v.id)
	for u := range v.contacts {
		if m := r.contactOf[u]; m != nil {
			delete(m, v)
			if len(m) == 0 {
				delete(r.contactOf, u)
			}
		}
	}
}

// addContacts makes users contacts of v, telling v's connections about
// those of them now visible and online.
func (r *registry) addContacts(v *viewer, users []string) {
	if v.contacts == nil {
		v.contacts = make(map[string]struct{}, len(users))
	}
	for _, u := range users {
		if _, ok := v.contacts[u]; ok || u == v.id {
			continue
		}
		// Who newly sees u must be known before u becomes a contact; only
		// an online u is news to them.
		e := r.users[u]
		var hidden []*viewerConn
		if e != nil && e.p.Connected {
			for _, vc := range v.conns {
				if vc.ready && !r.visible(vc, u) {
					hidden = append(hidden, vc)
				}
			}
		}
		v.contacts[u] = struct{}{}
		m := r.contactOf[u]
		if m == nil {
			m = make(map[*viewer]struct{})
			r.contactOf[u] = m
		}
		m[v] = struct{}{}
		for _, vc := range hidden {
			vc.offer(r, e, messages.StatusOffline, statusFor(e.p, vc.v.id))
		}
	}
}

// contactsAdded: the members of a new conversation now see each other.
func (r *registry) contactsAdded(members []string) {
	for _, id := range members {
		if v := r.viewers[id]; v != nil && r.needsContacts(v.role) {
			r.addContacts(v, members)
		}
	}
}

func (r *registry) push(vc *viewerConn, frame []byte, users int) {
	r.pushReturned(vc, frame, users, nil)
}

// pushReturned is push for a frame whose buffer done takes back once it is
// written, where the connection can hand it back; elsewhere (a plain
// Conn, another member's connection) the buffer is simply not returned.
func (r *registry) pushReturned(vc *viewerConn, frame []byte, users int, done func([]byte)) {
	r.env.metrics.fanoutBatch.Observe(float64(users))
	if vc.sess != nil {
		r.env.pushLocalReturned(vc.sess, frame, done)
		return
	}
	r.env.push(frame, vc.ref)
}

// lookup answers a presence query from outside: the user's latest presence,
// or nil when this registry never heard of the user.
func (r *registry) lookup(user string) *messages.UserPresence {
	if e := r.users[user]; e != nil {
		return e.p
	}
	return nil
}

// presenceQuery asks the registry for a user's latest presence. Local.
type presenceQuery struct{ user string }

func (r *registry) subscribe(c actor.Context, m *messages.Subscribe) {
	vc := r.conns[keyOf(m.Conn)]
	if vc == nil {
		return
	}
	ids := slices.Compact(slices.Sorted(slices.Values(m.UserIds)))
	added := 0
	for _, id := range ids {
		if _, ok := vc.subs[id]; !ok {
			added++
		}
	}
	if limit := r.env.opts.MaxSubscriptions; len(vc.subs)+added > limit {
		r.env.push(messages.ErrorFrame(m.Ref, messages.CodeLimitExceeded,
			"at most "+strconv.Itoa(limit)+" subscriptions per connection"), vc.ref)
		return
	}
	var unknown []string
	for _, id := range ids {
		if r.users[id] == nil {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) == 0 {
		r.subscribed(&usersLoaded{sub: m})
		return
	}
	store := r.env.opts.Store
	r.env.async(c, func(ctx context.Context) any {
		users, err := store.Users(ctx, unknown)
		return &usersLoaded{sub: m, users: users, err: err}
	})
}

// subscribed completes a subscription once the users it names are known:
// it registers them and answers presence:snapshot in the order asked.
func (r *registry) subscribed(m *usersLoaded) {
	vc := r.conns[keyOf(m.sub.Conn)]
	if vc == nil {
		return
	}
	if m.err != nil {
		r.env.log.Warn("loading subscribed users failed", "err", m.err)
	}
	if m.err == nil {
		// Offline users, known to the store or never seen, are remembered
		// while subscribed to (version 0 yields to any live state), so that
		// subscribing to them again costs no store query: a client could
		// otherwise make the store look up a thousand users fifty times a
		// second.
		for _, id := range m.sub.UserIds {
			if r.users[id] == nil {
				rec := m.users[id]
				r.users[id] = &entry{p: &messages.UserPresence{UserId: id, Role: rec.Role, LastSeenMs: unixMs(rec.LastSeen)}}
				r.countHeld()
			}
		}
	}
	if vc.subs == nil {
		vc.subs = make(map[string]struct{}, len(m.sub.UserIds))
	}
	seen := make(map[string]bool, len(m.sub.UserIds))
	frags := make([][]byte, 0, len(m.sub.UserIds))
	for _, id := range m.sub.UserIds {
		if seen[id] {
			continue
		}
		seen[id] = true
		if _, ok := vc.subs[id]; !ok {
			vc.subs[id] = struct{}{}
			set := r.subscribers[id]
			if set == nil {
				set = make(map[*viewerConn]struct{})
				r.subscribers[id] = set
			}
			set[vc] = struct{}{}
		}
		e := r.users[id]
		if e == nil {
			e = &entry{p: &messages.UserPresence{UserId: id}}
		}
		frags = append(frags, e.fragment(statusFor(e.p, vc.v.id)))
	}
	r.push(vc, messages.AppendPresenceFrame(nil, messages.TypePresenceSnapshot, m.sub.Ref, frags), len(frags))
}

func (r *registry) unsubscribe(m *messages.Unsubscribe) {
	vc := r.conns[keyOf(m.Conn)]
	if vc == nil {
		return
	}
	for _, id := range m.UserIds {
		if _, ok := vc.subs[id]; ok {
			delete(vc.subs, id)
			r.unwatch(vc, id)
		}
	}
}

func (r *registry) unwatch(vc *viewerConn, user string) {
	if set := r.subscribers[user]; set != nil {
		delete(set, vc)
		if len(set) == 0 {
			delete(r.subscribers, user)
			// A user known only from the store for a subscription goes
			// with its last subscriber: a client subscribing to ever new
			// ids holds at most its subscriptions' worth.
			if e := r.users[user]; e != nil && e.at == 0 && !e.p.Connected {
				delete(r.users, user)
				r.countHeld()
			}
		}
	}
}
