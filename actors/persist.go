package actors

import (
	"context"
	"errors"
	"fmt"
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
	b        batch
	usersErr error
	appends  []messages.AppendResult
	appErr   error
	marks    []messages.ReadResult
	markErr  error
}

// persistActor is the member's writer. Writes that arrive while a batch is
// being committed wait and go together in the next one (group commit: one
// transaction and one fsync for many sends), so durability costs latency
// only under load, and a lone write is never delayed.
type persistActor struct {
	env      *env
	busy     bool
	retrying bool
	pending  batch
	drains   []*actor.PID
}

func newPersistActor(env *env) *persistActor { return &persistActor{env: env} }

func (p *persistActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *saveUser:
		p.pending.users = append(p.pending.users, m.seen)
		if n := len(p.pending.users); n > maxPendingUsers {
			p.env.log.Warn("store unreachable too long; dropping oldest user records", "dropped", n-maxPendingUsers)
			p.pending.users = p.pending.users[n-maxPendingUsers:]
		}
	case *appendReq:
		p.pending.appends = append(p.pending.appends, *m)
	case *markReq:
		p.pending.marks = append(p.pending.marks, *m)
	case *batchDone:
		p.busy = false
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

func (p *persistActor) kick(c actor.Context) {
	if p.busy {
		return
	}
	b := p.take()
	if len(b.users)+len(b.appends)+len(b.marks) == 0 {
		for _, d := range p.drains {
			c.Send(d, &drainReq{})
		}
		p.drains = nil
		return
	}
	p.busy = true
	store, m := p.env.opts.Store, p.env.metrics
	m.storeBatch.Observe(float64(len(b.users) + len(b.appends) + len(b.marks)))
	p.env.async(c, func(ctx context.Context) any {
		start := time.Now()
		d := execute(ctx, store, b)
		m.storeLatency.Observe(time.Since(start).Seconds())
		return d
	})
}

// take moves up to maxBatch of each kind of write out of pending. User
// records wait while a retry pause runs; messages never do: their senders
// are waiting for an answer, even if it is "unavailable".
func (p *persistActor) take() batch {
	var b batch
	cut := func(n int) int { return min(n, maxBatch) }
	if !p.retrying {
		n := cut(len(p.pending.users))
		b.users, p.pending.users = p.pending.users[:n:n], p.pending.users[n:]
	}
	n := cut(len(p.pending.appends))
	b.appends, p.pending.appends = p.pending.appends[:n:n], p.pending.appends[n:]
	n = cut(len(p.pending.marks))
	b.marks, p.pending.marks = p.pending.marks[:n:n], p.pending.marks[n:]
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
		p.pending.users = append(d.b.users, p.pending.users...)
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
