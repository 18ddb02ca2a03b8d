package actors

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/presenced/presenced/messages"
)

// storeRetryDelay is how long a failed background write or load waits
// before it is tried again.
const storeRetryDelay = time.Second

// maxBatch bounds one group commit.
const maxBatch = 512

// maxPendingUsers bounds user records kept for retry while the store is down.
const maxPendingUsers = 100_000

// saveUser records a user's role or last seen. Fire and forget: it is
// retried until the store takes it.
type saveUser struct{ seen messages.UserSeen }

// appendReq asks to store a message; the answer is an appendDone to replyTo.
type appendReq struct {
	msg     messages.NewMessage
	replyTo *actor.PID
	tag     any
}

type appendDone struct {
	tag any
	res messages.AppendResult
	err error
}

// markReq asks to move a read watermark; the answer is a markDone.
type markReq struct {
	mark    messages.ReadMark
	replyTo *actor.PID
	tag     any
}

type markDone struct {
	tag any
	res messages.ReadResult
	err error
}

// drainReq is answered once nothing is pending or being written.
type drainReq struct{}

type batch struct {
	users   []messages.UserSeen
	appends []appendReq
	marks   []markReq
}

type batchDone struct {
	lane     int
	b        batch
	usersErr error
	appends  []messages.AppendResult
	appErr   error
	marks    []messages.ReadResult
	markErr  error
}

// ParallelWriter is a Store that commits several write transactions at
// once (PostgreSQL): the persistence actor then keeps that many batches in
// flight. A store that is not one (SQLite) gets one at a time.
type ParallelWriter interface {
	WriteLanes() int
}

// persistActor is the member's writer. Writes that arrive while a batch is
// being committed wait and go together in the next one (group commit: one
// transaction and one fsync for many sends), so durability costs latency
// only under load, and a lone write is never delayed.
//
// A store that takes several transactions at once gets several lanes, each
// committing its own batches: a commit's round trips and waits then overlap
// another's. A conversation's writes (messages, read marks) always take the
// same lane, and so do a user's records, so each stays in the order it was
// sent.
type persistActor struct {
	env      *env
	lanes    []lane
	seed     maphash.Seed // spreads keys over lanes; any seed keeps a key in one
	retrying bool
	drains   []*actor.PID
}

type lane struct {
	busy    bool
	pending batch
}

// maxLanes bounds the batches in flight whatever the store offers.
const maxLanes = 8

func newPersistActor(env *env) *persistActor {
	n := 1
	if pw, ok := env.opts.Store.(ParallelWriter); ok {
		n = min(max(pw.WriteLanes(), 1), maxLanes)
	}
	return &persistActor{env: env, lanes: make([]lane, n), seed: maphash.MakeSeed()}
}

// laneOf is the lane of a conversation's or a user's writes.
func (p *persistActor) laneOf(key string) *lane {
	if len(p.lanes) == 1 {
		return &p.lanes[0]
	}
	return &p.lanes[maphash.String(p.seed, key)%uint64(len(p.lanes))]
}

func (p *persistActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *saveUser:
		l := p.laneOf(m.seen.ID)
		l.pending.users = append(l.pending.users, m.seen)
		if n := len(l.pending.users); n > maxPendingUsers/len(p.lanes) {
			drop := n - maxPendingUsers/len(p.lanes)
			p.env.log.Warn("store unreachable too long; dropping oldest user records", "dropped", drop)
			l.pending.users = l.pending.users[drop:]
		}
	case *appendReq:
		l := p.laneOf(m.msg.ConversationID)
		l.pending.appends = append(l.pending.appends, *m)
	case *markReq:
		l := p.laneOf(m.mark.ConversationID)
		l.pending.marks = append(l.pending.marks, *m)
	case *batchDone:
		p.lanes[m.lane].busy = false
		p.done(c, m)
	case *retryWrites:
		p.retrying = false
	case *drainReq:
		p.drains = append(p.drains, c.Sender())
	}
	p.kick(c)
}

// retryWrites ends the pause after a failed write of user records.
type retryWrites struct{}

// kick starts a commit on every idle lane with writes pending, and answers
// drains once no lane has any.
func (p *persistActor) kick(c actor.Context) {
	idle := true
	for i := range p.lanes {
		l := &p.lanes[i]
		if !l.busy {
			p.start(c, i)
		}
		idle = idle && !l.busy
	}
	if idle {
		for _, d := range p.drains {
			c.Send(d, &drainReq{})
		}
		p.drains = nil
	}
}

func (p *persistActor) start(c actor.Context, i int) {
	l := &p.lanes[i]
	b := p.take(l)
	if len(b.users)+len(b.appends)+len(b.marks) == 0 {
		return
	}
	l.busy = true
	store, m := p.env.opts.Store, p.env.metrics
	m.storeBatch.Observe(float64(len(b.users) + len(b.appends) + len(b.marks)))
	p.env.async(c, func(ctx context.Context) any {
		start := time.Now()
		d := execute(ctx, store, b)
		d.lane = i
		m.storeLatency.Observe(time.Since(start).Seconds())
		return d
	})
}

// take moves up to maxBatch of each kind of a lane's writes out of its
// pending. User records wait while a retry pause runs; messages never do:
// their senders are waiting for an answer, even if it is "unavailable".
func (p *persistActor) take(l *lane) batch {
	var b batch
	cut := func(n int) int { return min(n, maxBatch) }
	if !p.retrying {
		n := cut(len(l.pending.users))
		b.users, l.pending.users = l.pending.users[:n:n], l.pending.users[n:]
	}
	n := cut(len(l.pending.appends))
	b.appends, l.pending.appends = l.pending.appends[:n:n], l.pending.appends[n:]
	n = cut(len(l.pending.marks))
	b.marks, l.pending.marks = l.pending.marks[:n:n], l.pending.marks[n:]
	return b
}

func execute(ctx context.Context, store Store, b batch) *batchDone {
	d := &batchDone{b: b}
	if len(b.users) > 0 {
		d.usersErr = store.SaveUsers(ctx, b.users)
	}
	if len(b.appends) > 0 {
		msgs := make([]messages.NewMessage, len(b.appends))
		for i, a := range b.appends {
			msgs[i] = a.msg
		}
		d.appends, d.appErr = store.AppendMessages(ctx, msgs)
		if d.appErr == nil && len(d.appends) != len(msgs) {
			d.appErr = fmt.Errorf("store answered %d results for %d messages", len(d.appends), len(msgs))
		}
	}
	if len(b.marks) > 0 {
		marks := make([]messages.ReadMark, len(b.marks))
		for i, m := range b.marks {
			marks[i] = m.mark
		}
		d.marks, d.markErr = store.MarkRead(ctx, marks)
		if d.markErr == nil && len(d.marks) != len(marks) {
			d.markErr = fmt.Errorf("store answered %d results for %d marks", len(d.marks), len(marks))
		}
	}
	return d
}

func (p *persistActor) done(c actor.Context, d *batchDone) {
	if d.usersErr != nil {
		p.env.log.Warn("saving users failed; will retry", "count", len(d.b.users), "err", d.usersErr)
		l := &p.lanes[d.lane]
		l.pending.users = append(d.b.users, l.pending.users...)
		p.retrying = true
		p.env.after(storeRetryDelay, c.Self(), &retryWrites{})
	}
	for i, a := range d.b.appends {
		r := &appendDone{tag: a.tag, err: unavailable(d.appErr)}
		if d.appErr == nil {
			r.res = d.appends[i]
		}
		c.Send(a.replyTo, r)
	}
	for i, m := range d.b.marks {
		r := &markDone{tag: m.tag, err: unavailable(d.markErr)}
		if d.markErr == nil {
			r.res = d.marks[i]
		}
		c.Send(m.replyTo, r)
	}
}

// unavailable makes a failed batch's error one that tells the client to
// retry: a batch either committed or it did not, so a retry with the same
// clientMsgId is always safe.
func unavailable(err error) error {
	if err == nil || errors.Is(err, messages.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %v", messages.ErrUnavailable, err)
}
