package actors

import (
	"container/heap"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/presenced/presenced/messages"
)

// coalescer throttles presence frames of one viewer connection: the first
// change after a quiet window goes out at once; the changes that follow
// inside the window wait for its end and go out together in one frame,
// latest state only. A user whose status came back to what the viewer last
// saw is not sent at all.
type coalescer struct {
	lastSent time.Time
	// pending are the changes held in the window, in arrival order, each
	// with the status the viewer saw before it; a user changed twice is
	// listed twice until the flush keeps its first. Appending is all a
	// held change costs, which matters when thousands of viewers are held
	// at once.
	pending  []pendingChange
	distinct int // len(pending) after its last deduplication
	queued   bool
	// from is, for a connection that sees every user, the change log's
	// seq of its first held change: such a connection holds nothing of
	// its own (see changeLog).
	from uint64
}

type pendingChange struct {
	e   *entry
	was messages.Status
}

// offer takes the change of e to st for this connection, which last saw
// it at was.
func (vc *viewerConn) offer(r *registry, e *entry, was, st messages.Status) {
	now := r.env.clock.Now()
	window := r.env.opts.CoalesceWindow
	quiet := !vc.queued && now.Sub(vc.lastSent) >= window
	if quiet && !vc.backlogged(r) {
		r.push(vc, e.single(st), 1)
		vc.lastSent = now
		e.observeDelay(r, now)
		return
	}
	if vc.broad >= 0 {
		vc.from = r.log.last() // offered from changed, right after log.add
		r.log.pin()
	} else {
		vc.pending = append(vc.pending, pendingChange{e, was})
		if len(vc.pending) > 2*vc.distinct+16 {
			// A connection held for long (a client that stopped reading)
			// keeps a user once, not once per change.
			vc.pending = r.dedup(vc.pending)
			vc.distinct = len(vc.pending)
		}
	}
	if !vc.queued {
		vc.queued = true
		due := vc.lastSent.Add(window)
		if quiet { // and backlogged
			due = now.Add(window)
		}
		r.flush.add(vc, due)
	}
}

// dedup keeps the first change of each user, in order.
func (r *registry) dedup(list []pendingChange) []pendingChange {
	r.mark++
	out := list[:0]
	for _, pc := range list {
		if pc.e.mark != r.mark {
			pc.e.mark = r.mark
			out = append(out, pc)
		}
	}
	clear(list[len(out):])
	return out
}

// backlogged: the connection has not yet written a frame it was given. Its
// changes then wait for the end of a window, however quiet the viewer has
// been, and go out together: when the server falls behind (thousands of
// viewers told of every change), each viewer gets fewer, fuller frames
// instead of a queue of stale ones, and the writes, a system call each,
// shrink to what the cores can do.
func (vc *viewerConn) backlogged(r *registry) bool {
	if vc.sess == nil {
		return false
	}
	if vc.sess.conn.Unwritten() == 0 {
		return false
	}
	r.env.metrics.presenceHeld.Inc()
	return true
}

// flushNow sends what piled up during the window, if anything still differs
// from what the viewer saw; a connection still writing its last frame keeps
// it for one more window.
func (vc *viewerConn) flushNow(r *registry, share *frameShare) {
	now := r.env.clock.Now()
	if vc.backlogged(r) {
		r.flush.add(vc, now.Add(r.env.opts.CoalesceWindow))
		return
	}
	vc.queued = false
	frags := share.scratch[:0]
	if vc.broad >= 0 {
		r.log.unpin()
		r.mark++
		for _, c := range r.log.since(vc.from) {
			e := c.e
			if e.mark == r.mark || e.p.UserId == vc.v.id {
				continue
			}
			e.mark = r.mark // its first change holds what the viewer saw
			if st := statusFor(e.p, vc.v.id); st != statusFor(c.before, vc.v.id) {
				frags = append(frags, e.fragment(st))
				e.observeDelay(r, now)
			}
		}
	}
	for _, pc := range r.dedup(vc.pending) {
		if !r.visible(vc, pc.e.p.UserId) {
			continue
		}
		if st := statusFor(pc.e.p, vc.v.id); st != pc.was {
			frags = append(frags, pc.e.fragment(st))
			pc.e.observeDelay(r, now)
		}
	}
	share.scratch = frags[:0]
	clear(vc.pending)
	vc.pending, vc.distinct = vc.pending[:0], 0
	if len(frags) == 0 {
		return
	}
	r.push(vc, share.frame(frags), len(frags))
	vc.lastSent = now
}

// changeLog is the registry's record of recent changes for the
// connections that see every user. Held in a window, such a connection
// would be told of nearly every change; instead of each keeping its own
// list (at 10,000 viewers, 10,000 appends per change and as many lists),
// it keeps the seq of its first held change and reads the log when its
// window ends. The log keeps what a held connection may still read: it is
// emptied whenever none is held, and trimmed to the oldest held one when
// it has doubled.
type changeLog struct {
	first  uint64 // seq of items[0]
	items  []loggedChange
	pins   int // connections held, each reading from some seq on
	trimAt int
}

type loggedChange struct {
	e      *entry
	before *messages.UserPresence // nil: the user was unknown
}

func (l *changeLog) add(e *entry, before *messages.UserPresence) {
	if l.pins == 0 {
		l.first += uint64(len(l.items))
		clear(l.items)
		l.items = l.items[:0]
	}
	l.items = append(l.items, loggedChange{e, before})
}

// last is the seq of the newest change.
func (l *changeLog) last() uint64 { return l.first + uint64(len(l.items)) - 1 }

func (l *changeLog) pin()   { l.pins++ }
func (l *changeLog) unpin() { l.pins-- }

// since: a held connection's seq is never trimmed away; were it, the
// connection gets what the log still has rather than the registry failing.
func (l *changeLog) since(seq uint64) []loggedChange {
	return l.items[min(max(seq, l.first)-l.first, uint64(len(l.items))):]
}

// trim drops the changes no held connection may read any more, once the
// log has doubled since it was last trimmed (the scan of the broad
// connections is then paid for by as many changes).
func (l *changeLog) trim(broad []*viewerConn) {
	if l.pins == 0 || len(l.items) < max(l.trimAt, 1024) {
		return
	}
	oldest := l.last() + 1
	for _, vc := range broad {
		if vc.queued {
			oldest = min(oldest, vc.from)
		}
	}
	n := copy(l.items, l.items[oldest-l.first:])
	clear(l.items[n:])
	l.items, l.first = l.items[:n], oldest
	l.trimAt = 2 * n
}

// frameShare lets the connections flushed together share one frame when
// they are told the same changes. Viewers told of a change at once start
// their windows together, so with visibility "all" nearly every viewer
// ends its window with the same fragments: one frame serves them all,
// where building one per viewer was the registry's largest cost (and most
// of the garbage) at 10,000 viewers.
type frameShare struct {
	scratch [][]byte
	built   map[fragsKey][]builtFrame
}

// fragsKey narrows the search: the first fragment and how many there are.
// Fragments are made once per user version, so identity is equality.
type fragsKey struct {
	first *byte
	n     int
}

type builtFrame struct {
	frags [][]byte
	frame []byte
}

func (s *frameShare) frame(frags [][]byte) []byte {
	k := fragsKey{&frags[0][0], len(frags)}
	for _, b := range s.built[k] {
		if sameFragments(b.frags, frags) {
			return b.frame
		}
	}
	frame := messages.AppendPresenceFrame(nil, messages.TypePresenceUpdate, "", frags)
	if s.built == nil {
		s.built = make(map[fragsKey][]builtFrame)
	}
	s.built[k] = append(s.built[k], builtFrame{slices.Clone(frags), frame})
	return frame
}

// reset forgets the frames of one flush: the next flush's changes differ.
func (s *frameShare) reset() { clear(s.built) }

func sameFragments(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, func(x, y []byte) bool { return len(x) == len(y) && &x[0] == &y[0] })
}

// observeDelay records how long the change of e took to be queued for a
// viewer, at now: a change replaced inside the window counts from the
// latest state, the one the viewer is told.
func (e *entry) observeDelay(r *registry, now time.Time) {
	r.env.metrics.presenceDelay.Observe(float64(now.UnixNano()-e.at) / 1e9)
}

// single is the presence:update frame of this user alone at a status, made
// once per version and shared by every viewer told at once.
func (e *entry) single(st messages.Status) []byte {
	enc := e.encodings()
	if enc.singles[st] == nil {
		enc.singles[st] = messages.AppendPresenceFrame(nil, messages.TypePresenceUpdate, "", [][]byte{e.fragment(st)})
	}
	return enc.singles[st]
}

// flushDue wakes the registry when the earliest coalescing window ends.
type flushDue struct{}

// flusher keeps the connections with pending changes ordered by the end of
// their window, and one clock timer for the earliest.
type flusher struct {
	env   *env
	self  *actor.PID
	queue dueQueue
	armed time.Time
	stopT func() bool
	share frameShare
}

func newFlusher(env *env, self *actor.PID) *flusher { return &flusher{env: env, self: self} }

func (f *flusher) add(vc *viewerConn, due time.Time) {
	heap.Push(&f.queue, dueItem{due: due, vc: vc})
	f.arm()
}

func (f *flusher) run(r *registry) {
	f.armed, f.stopT = time.Time{}, nil
	now := f.env.clock.Now()
	for f.queue.Len() > 0 && !f.queue[0].due.After(now) {
		it := heap.Pop(&f.queue).(dueItem)
		if it.vc.queued && r.conns[keyOf(it.vc.ref)] == it.vc {
			it.vc.flushNow(r, &f.share)
		}
	}
	f.share.reset()
	r.log.trim(r.broad)
	f.arm()
}

func (f *flusher) arm() {
	if f.queue.Len() == 0 {
		return
	}
	due := f.queue[0].due
	if f.stopT != nil && !f.armed.After(due) {
		return
	}
	if f.stopT != nil {
		f.stopT()
	}
	f.armed = due
	f.stopT = f.env.after(max(due.Sub(f.env.clock.Now()), 0), f.self, &flushDue{})
}

func (f *flusher) stop() {
	if f != nil && f.stopT != nil {
		f.stopT()
	}
}

type dueItem struct {
	due time.Time
	vc  *viewerConn
}

type dueQueue []dueItem

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q dueQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)        { *q = append(*q, x.(dueItem)) }
func (q *dueQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = dueItem{}
	*q = old[:len(old)-1]
	return it
}
