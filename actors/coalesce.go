package actors

import (
	"container/heap"
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
	pending  map[string]messages.Status // user → status the viewer saw before
	order    []string
	queued   bool
}

// offer takes the change of e to st for this connection, which last saw
// it at was.
func (vc *viewerConn) offer(r *registry, e *entry, was, st messages.Status) {
	now := r.env.clock.Now()
	window := r.env.opts.CoalesceWindow
	if !vc.queued && now.Sub(vc.lastSent) >= window {
		r.push(vc, e.single(st), 1)
		vc.lastSent = now
		e.observeDelay(r, now)
		return
	}
	user := e.p.UserId
	if vc.pending == nil {
		vc.pending = make(map[string]messages.Status)
	}
	if _, ok := vc.pending[user]; !ok {
		vc.pending[user] = was
		vc.order = append(vc.order, user)
	}
	if !vc.queued {
		vc.queued = true
		r.flush.add(vc, vc.lastSent.Add(window))
	}
}

// flushNow sends what piled up during the window, if anything still differs
// from what the viewer saw.
func (vc *viewerConn) flushNow(r *registry) {
	vc.queued = false
	now := r.env.clock.Now()
	frags := make([][]byte, 0, len(vc.order))
	for _, u := range vc.order {
		e := r.users[u]
		if e == nil || !r.visible(vc, u) {
			continue
		}
		if st := statusFor(e.p, vc.v.id); st != vc.pending[u] {
			frags = append(frags, e.fragment(st))
			e.observeDelay(r, now)
		}
	}
	clear(vc.pending)
	vc.order = vc.order[:0]
	if len(frags) == 0 {
		return
	}
	r.push(vc, messages.AppendPresenceFrame(nil, messages.TypePresenceUpdate, "", frags), len(frags))
	vc.lastSent = now
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
			it.vc.flushNow(r)
		}
	}
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
