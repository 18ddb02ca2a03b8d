package actors

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/presenced/presenced/messages"
)

// deliverTimeout bounds how long a sender waits for recipients' actors to
// say whether they pushed a message before answering message:sent anyway.
const deliverTimeout = 2 * time.Second

// sendCtx travels with a message to the persistence actor and back.
type sendCtx struct {
	conn    *messages.ConnRef
	ref     string
	members []string
	at      time.Time // when the sender's actor took the send
}

// pendingSend is a stored message whose recipients have not all answered.
type pendingSend struct {
	ctx       *sendCtx
	msg       *messages.ChatMessage
	waiting   map[string]bool
	delivered bool
	after     [][]byte // receipts held until message:sent has gone out
	stopTimer func() bool
}

// deliverExpired ends the wait of a pending send.
type deliverExpired struct{ id string }

// markCtx travels with a read mark; conn is nil for an automatic read.
type markCtx struct {
	conn *messages.ConnRef
	ref  string
	conv string
}

// convLoaded is the store's answer for a conversation's members.
type convLoaded struct {
	id   string
	conv *messages.Conversation
	err  error
}

// convWaiter is an operation waiting for a conversation's members.
type convWaiter struct {
	conn *messages.ConnRef
	ref  string
	then func(members []string)
}

type historyLoaded struct {
	conn *messages.ConnRef
	ref  string
	conv string
	page messages.HistoryPage
	err  error
}

type unreadLoaded struct {
	conn *messages.ConnRef
	list []messages.UnreadSummary
	err  error
}

// messaging handles the message-related messages of a user actor. It
// reports whether m was one of them.
func (u *userActor) messaging(c actor.Context, m any) bool {
	switch m := m.(type) {
	case *messages.SendMessage:
		u.aliveRef(m.Conn)
		u.send(c, m)
	case *appendDone:
		u.stored(c, m)
	case *messages.Deliver:
		u.deliver(c, m)
	case *messages.DeliverReply:
		if ps := u.sends[m.MessageId]; ps != nil {
			ps.delivered = ps.delivered || m.Delivered
			delete(ps.waiting, m.UserId)
			if len(ps.waiting) == 0 {
				u.finishSend(ps)
			}
		}
	case *deliverExpired:
		if ps := u.sends[m.id]; ps != nil {
			u.finishSend(ps)
		}
	case *messages.MarkRead:
		u.aliveRef(m.Conn)
		u.withMembers(c, m.ConversationId, m.Conn, m.Ref, func([]string) {
			c.Send(u.env.persist, &markReq{
				mark:    messages.ReadMark{ConversationID: m.ConversationId, UserID: u.id, UpToSeq: m.UpToSeq},
				replyTo: c.Self(), tag: &markCtx{conn: m.Conn, ref: m.Ref, conv: m.ConversationId},
			})
		})
	case *markDone:
		u.marked(c, m)
	case *messages.ReadReceipt:
		u.receipt(m)
	case *messages.Typing:
		u.aliveRef(m.Conn)
		u.withMembers(c, m.ConversationId, m.Conn, m.Ref, func(members []string) {
			if uc := u.conns.get(keyOf(m.Conn)); uc != nil {
				uc.typing = slices.DeleteFunc(uc.typing, func(conv string) bool { return conv == m.ConversationId })
				if m.IsTyping {
					uc.typing = append(uc.typing, m.ConversationId)
				}
			}
			relay := &messages.TypingRelay{ConversationId: m.ConversationId, UserId: u.id, IsTyping: m.IsTyping}
			u.toMembers(c, members, relay)
		})
	case *messages.TypingRelay:
		u.pushJoined(m.ConversationId, messages.TypingFrame(m.ConversationId, m.UserId, m.IsTyping))
	case *messages.JoinConversation:
		u.aliveRef(m.Conn)
		u.withMembers(c, m.ConversationId, m.Conn, m.Ref, func([]string) { u.setJoined(m.Conn, m.ConversationId, true) })
	case *messages.LeaveConversation:
		u.aliveRef(m.Conn)
		u.setJoined(m.Conn, m.ConversationId, false)
	case *messages.HistoryRequest:
		u.aliveRef(m.Conn)
		u.history(c, m)
	case *historyLoaded:
		if m.err != nil {
			u.replyError(m.conn, m.ref, m.err)
		} else {
			u.env.push(messages.HistoryFrame(m.ref, m.conv, m.page), m.conn)
		}
	case *convLoaded:
		u.convLoaded(m)
	case *unreadLoaded:
		u.greeted(m)
	case *messages.ContactsAdded:
		u.cacheMembers(m.Conversation.GetId(), m.Conversation.GetMemberIds())
	default:
		return false
	}
	return true
}

// withMembers runs then with the conversation's members once known, if
// this user is one of them; otherwise it answers the connection with
// not_found or forbidden. Members are cached: they never change.
func (u *userActor) withMembers(c actor.Context, convID string, conn *messages.ConnRef, ref string, then func([]string)) {
	if members, ok := u.convs[convID]; ok {
		u.ifMember(convID, members, conn, ref, then)
		return
	}
	waiters := u.convWaiters[convID]
	if u.convWaiters == nil {
		u.convWaiters = make(map[string][]convWaiter)
	}
	u.convWaiters[convID] = append(waiters, convWaiter{conn, ref, then})
	if len(waiters) > 0 {
		return // already loading
	}
	store := u.env.opts.Store
	u.env.async(c, func(ctx context.Context) any {
		conv, err := store.Conversation(ctx, convID)
		return &convLoaded{id: convID, conv: conv, err: err}
	})
}

// cacheMembers remembers a conversation's members; they never change.
func (u *userActor) cacheMembers(convID string, members []string) {
	if u.convs == nil {
		u.convs = make(map[string][]string)
	}
	u.convs[convID] = members
}

func (u *userActor) convLoaded(m *convLoaded) {
	waiters := u.convWaiters[m.id]
	delete(u.convWaiters, m.id)
	if m.err == nil {
		u.cacheMembers(m.id, m.conv.GetMemberIds())
	}
	for _, w := range waiters {
		if m.err != nil {
			u.replyError(w.conn, w.ref, m.err)
			continue
		}
		u.ifMember(m.id, m.conv.GetMemberIds(), w.conn, w.ref, w.then)
	}
}

func (u *userActor) ifMember(convID string, members []string, conn *messages.ConnRef, ref string, then func([]string)) {
	if !slices.Contains(members, u.id) {
		u.replyError(conn, ref, messages.Errorf(messages.CodeForbidden, "you are not a member of conversation %s", convID))
		return
	}
	then(members)
}

func (u *userActor) send(c actor.Context, m *messages.SendMessage) {
	at := u.env.clock.Now()
	u.withMembers(c, m.ConversationId, m.Conn, m.Ref, func(members []string) {
		c.Send(u.env.persist, &appendReq{
			msg: messages.NewMessage{
				ConversationID: m.ConversationId, SenderID: u.id, ClientMsgID: m.ClientMsgId,
				Content: m.Content, CreatedAt: u.env.clock.Now(),
			},
			replyTo: c.Self(),
			tag:     &sendCtx{conn: m.Conn, ref: m.Ref, members: members, at: at},
		})
	})
}

// stored continues a send once the store has committed it: deliver it to
// the other members' actors, and answer the sender when they all said
// whether they pushed it. A resend of a stored message pushes nothing: it
// only asks the recipients whether they would have had it.
func (u *userActor) stored(c actor.Context, d *appendDone) {
	sc := d.tag.(*sendCtx)
	if d.err != nil {
		u.replyError(sc.conn, sc.ref, messages.Errorf(messages.CodeUnavailable,
			"the message could not be stored; send it again with the same clientMsgId"))
		return
	}
	if d.res.Err != nil {
		u.replyError(sc.conn, sc.ref, d.res.Err)
		return
	}
	msg := d.res.Message
	ps := &pendingSend{ctx: sc, msg: msg, waiting: make(map[string]bool)}
	if !d.res.Duplicate {
		frame := messages.NewMessageFrame(msg)
		for _, uc := range u.conns {
			if keyOf(uc.ref) != keyOf(sc.conn) {
				u.pushTo(uc, frame)
			}
		}
	}
	deliver := &messages.Deliver{Message: msg, Origin: sc.conn, MemberIds: sc.members, DryRun: d.res.Duplicate}
	for _, member := range sc.members {
		if member != u.id {
			ps.waiting[member] = true
			c.Request(u.env.users, &routed{user: member, msg: deliver})
		}
	}
	if len(ps.waiting) == 0 {
		u.finishSend(ps)
		return
	}
	if u.sends == nil {
		u.sends = make(map[string]*pendingSend)
	}
	u.sends[msg.Id] = ps
	ps.stopTimer = u.env.after(deliverTimeout, c.Self(), &deliverExpired{id: msg.Id})
}

func (u *userActor) finishSend(ps *pendingSend) {
	delete(u.sends, ps.msg.Id)
	if ps.stopTimer != nil {
		ps.stopTimer()
	}
	u.env.push(messages.MessageSentFrame(ps.ctx.ref, ps.msg, ps.delivered), ps.ctx.conn)
	u.env.metrics.messageAck.Observe(u.env.clock.Now().Sub(ps.ctx.at).Seconds())
	for _, f := range ps.after {
		u.pushAll(f)
	}
}

// deliver hands a message to this recipient: pushed to every connection
// (held for one still being greeted), and read at once when one of them
// has the chat with the sender open.
func (u *userActor) deliver(c actor.Context, m *messages.Deliver) {
	msg := m.Message
	if _, ok := u.convs[msg.ConversationId]; !ok && len(m.MemberIds) > 0 {
		u.cacheMembers(msg.ConversationId, m.MemberIds)
	}
	delivered, focused := len(u.conns) > 0, false
	if !m.DryRun {
		frame := messages.NewMessageFrame(msg)
		for _, uc := range u.conns {
			u.pushTo(uc, frame)
			focused = focused || slices.Contains(uc.focus, msg.SenderId)
		}
	}
	c.Respond(&messages.DeliverReply{Delivered: delivered, UserId: u.id, MessageId: msg.Id})
	if focused {
		c.Send(u.env.persist, &markReq{
			mark:    messages.ReadMark{ConversationID: msg.ConversationId, UserID: u.id, UpToSeq: msg.Seq},
			replyTo: c.Self(), tag: &markCtx{conv: msg.ConversationId},
		})
	}
}

// marked tells everyone concerned that this user's watermark moved: the
// asking connection (the answer, with its ref), the user's other
// connections, and the other members' actors.
func (u *userActor) marked(c actor.Context, d *markDone) {
	mc := d.tag.(*markCtx)
	err := d.err
	if err == nil {
		err = d.res.Err
	}
	if err != nil {
		if mc.conn != nil {
			u.replyError(mc.conn, mc.ref, err)
		} else {
			u.env.log.Warn("automatic read failed", "user_id", u.id, "err", err)
		}
		return
	}
	conv := mc.conv
	if mc.conn != nil {
		u.env.push(messages.MessageReadFrame(mc.ref, conv, u.id, d.res.UpToSeq), mc.conn)
	}
	if !d.res.Moved {
		return
	}
	frame := messages.MessageReadFrame("", conv, u.id, d.res.UpToSeq)
	for _, uc := range u.conns {
		if mc.conn == nil || keyOf(uc.ref) != keyOf(mc.conn) {
			u.pushTo(uc, frame)
		}
	}
	receipt := &messages.ReadReceipt{ConversationId: conv, UserId: u.id, UpToSeq: d.res.UpToSeq, CoveredSenders: d.res.CoveredSenders}
	u.toMembers(c, u.convs[conv], receipt)
}

// receipt shows another member's read: on every connection when it covers
// messages this user sent, else on the connections joined to the
// conversation. A receipt for a message whose message:sent is still
// pending waits for it, so the sender never sees "read" before "sent".
func (u *userActor) receipt(m *messages.ReadReceipt) {
	frame := messages.MessageReadFrame("", m.ConversationId, m.UserId, m.UpToSeq)
	if !slices.Contains(m.CoveredSenders, u.id) {
		u.pushJoined(m.ConversationId, frame)
		return
	}
	for _, ps := range u.sends {
		if ps.msg.ConversationId == m.ConversationId && ps.msg.Seq <= m.UpToSeq {
			ps.after = append(ps.after, frame)
			return
		}
	}
	u.pushAll(frame)
}

func (u *userActor) history(c actor.Context, m *messages.HistoryRequest) {
	u.withMembers(c, m.ConversationId, m.Conn, m.Ref, func([]string) {
		store := u.env.opts.Store
		q := messages.HistoryQuery{ConversationID: m.ConversationId, BeforeSeq: m.BeforeSeq, AfterSeq: m.AfterSeq,
			Forward: m.Forward, Limit: int(m.Limit)}
		u.env.async(c, func(ctx context.Context) any {
			page, err := store.History(ctx, q)
			return &historyLoaded{conn: m.Conn, ref: m.Ref, conv: m.ConversationId, page: page, err: err}
		})
	})
}

// loadUnread starts greeting a connection after presence:connected: its
// unread summary, then what was held for it meanwhile.
func (u *userActor) loadUnread(c actor.Context, uc *userConn) {
	store, id, ref := u.env.opts.Store, u.id, uc.ref
	u.env.async(c, func(ctx context.Context) any {
		list, err := store.Unread(ctx, id)
		return &unreadLoaded{conn: ref, list: list, err: err}
	})
}

func (u *userActor) greeted(m *unreadLoaded) {
	uc := u.conns.get(keyOf(m.conn))
	if uc == nil || uc.greeted {
		return
	}
	if m.err != nil {
		u.env.log.Warn("loading unread summary failed", "user_id", u.id, "err", m.err)
	} else if len(m.list) > 0 {
		u.env.push(messages.UnreadFrame(m.list), uc.ref)
	}
	uc.greeted = true
	for _, f := range uc.held {
		u.env.push(f, uc.ref)
	}
	uc.held = nil
	if s, _ := u.env.localSession(uc.ref); s != nil {
		s.setGreeted()
	}
}

// pushTo pushes a frame to one connection, or holds it while the
// connection is being greeted.
func (u *userActor) pushTo(uc *userConn, frame []byte) {
	if !uc.greeted {
		uc.held = append(uc.held, frame)
		return
	}
	u.env.push(frame, uc.ref)
}

func (u *userActor) pushAll(frame []byte) {
	for _, uc := range u.conns {
		u.pushTo(uc, frame)
	}
}

func (u *userActor) pushJoined(convID string, frame []byte) {
	for _, uc := range u.conns {
		if slices.Contains(uc.joined, convID) {
			u.pushTo(uc, frame)
		}
	}
}

func (u *userActor) setJoined(ref *messages.ConnRef, convID string, join bool) {
	uc := u.conns.get(keyOf(ref))
	if uc == nil {
		return
	}
	uc.joined = slices.DeleteFunc(uc.joined, func(id string) bool { return id == convID })
	if join {
		uc.joined = append(uc.joined, convID)
	}
	if s, _ := u.env.localSession(ref); s != nil {
		s.setJoined(slices.Clone(uc.joined))
	}
}

// stopTyping tells the other members that the user stopped typing where
// an ending connection last said it was typing and no other connection of
// the user says so: a tab closed or crashed mid-sentence must not leave
// "typing..." on the partner's screen for good.
func (u *userActor) stopTyping(c actor.Context, ended *userConn) {
	for _, conv := range ended.typing {
		if slices.ContainsFunc(u.conns, func(uc *userConn) bool { return slices.Contains(uc.typing, conv) }) {
			continue
		}
		if members, ok := u.convs[conv]; ok {
			u.toMembers(c, members, &messages.TypingRelay{ConversationId: conv, UserId: u.id})
		}
	}
}

// toMembers sends msg to the actors of the other members.
func (u *userActor) toMembers(c actor.Context, members []string, msg any) {
	for _, member := range members {
		if member != u.id {
			c.Send(u.env.users, &routed{user: member, msg: msg})
		}
	}
}

func (u *userActor) replyError(conn *messages.ConnRef, ref string, err error) {
	if conn == nil {
		return
	}
	code := messages.CodeOf(err)
	msg := "internal error"
	var ce *messages.Error
	switch {
	case errors.As(err, &ce):
		msg = ce.Message
	case code == messages.CodeNotFound:
		msg = "no such conversation"
	case code == messages.CodeUnavailable:
		msg = "the store cannot serve now; retry"
	case code == messages.CodeForbidden:
		msg = "not a member of that conversation"
	default:
		u.env.log.Error("request failed", "user_id", u.id, "err", err)
	}
	u.env.push(messages.ErrorFrame(ref, code, msg), conn)
}

func (u *userActor) aliveRef(ref *messages.ConnRef) {
	if uc := u.conns.get(keyOf(ref)); uc != nil {
		u.alive(uc)
	}
}
