package actors

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/presenced/presenced/messages"
)

// Session is one client connection's handle on the actors. Transport's
// reader goroutine calls its methods, one at a time; each turns into a
// message to the user's actor or to the member's registry.
//
// The session also keeps what the connection declared (its open chats, its
// joined conversations), so that a user actor that lost its state to a
// restart rebuilds the connection from it, as Halo's presence service did.
type Session struct {
	e       *Engine
	ref     *messages.ConnRef
	user    string
	role    string
	conn    Conn
	userPID atomic.Pointer[actor.PID] // the user actor or grain

	mu      sync.Mutex
	focus   []string
	joined  []string
	greeted bool
	closed  bool
}

// UserID is the authenticated user of the connection.
func (s *Session) UserID() string { return s.user }

// Role is the authenticated role of the connection.
func (s *Session) Role() string { return s.role }

// ID is the connection's id, unique on this member.
func (s *Session) ID() uint64 { return s.ref.Id }

// Touch says the connection showed life (a frame or a pong).
func (s *Session) Touch() { s.toUser(&messages.Touch{Conn: s.ref}) }

// Heartbeat is a client heartbeat: alive, and active. In a cluster it also
// re-registers the connection with its user's grain, so that a grain that
// lost its state (moved, re-activated) rebuilds it within one interval.
func (s *Session) Heartbeat() {
	if s.e.env.clustered() {
		s.e.root.Send(s.e.env.users, &reattach{s: s})
		return
	}
	s.toUser(&messages.Touch{Conn: s.ref, Heartbeat: true})
}

// Focus opens the chat with partner on this connection.
func (s *Session) Focus(partner string) error {
	s.mu.Lock()
	if !slices.Contains(s.focus, partner) {
		if len(s.focus) >= s.e.opts.MaxFocusPerConnection {
			s.mu.Unlock()
			s.Touch()
			return messages.Errorf(messages.CodeLimitExceeded,
				"at most %d chats may be focused per connection", s.e.opts.MaxFocusPerConnection)
		}
		s.focus = append(s.focus, partner)
	}
	s.mu.Unlock()
	s.toUser(&messages.Focus{Conn: s.ref, PartnerId: partner})
	return nil
}

// Blur closes the chat with partner, or every chat when partner is empty.
func (s *Session) Blur(partner string) {
	s.mu.Lock()
	if partner == "" {
		s.focus = nil
	} else {
		s.focus = slices.DeleteFunc(s.focus, func(p string) bool { return p == partner })
	}
	s.mu.Unlock()
	s.toUser(&messages.Blur{Conn: s.ref, PartnerId: partner})
}

// Subscribe asks for the presence of users; the registry answers the
// connection with presence:snapshot (or an error frame) carrying ref.
func (s *Session) Subscribe(ref string, userIDs []string) {
	s.e.root.Send(s.e.env.registry, &messages.Subscribe{Conn: s.ref, Ref: ref, UserIds: userIDs})
	s.Touch()
}

// Unsubscribe stops presence of users that only a subscription showed.
func (s *Session) Unsubscribe(userIDs []string) {
	s.e.root.Send(s.e.env.registry, &messages.Unsubscribe{Conn: s.ref, UserIds: userIDs})
	s.Touch()
}

// Close tells the actors the connection ended. It is idempotent.
func (s *Session) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.e.env.conns.remove(s)
	s.toUser(&messages.Detach{Conn: s.ref})
}

func (s *Session) toUser(msg any) {
	if pid := s.userPID.Load(); pid != nil {
		s.e.root.Send(pid, msg)
	}
}

// grain is the PID of the user actor or grain the session talks to.
func (s *Session) grain() *actor.PID { return s.userPID.Load() }

// setGrain records a new user actor or grain and returns the previous one.
func (s *Session) setGrain(pid *actor.PID) *actor.PID { return s.userPID.Swap(pid) }

func (s *Session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// attachMsg is the connection's registration with its user; rejoin when it
// re-registers an existing connection.
func (s *Session) attachMsg(rejoin bool) *messages.Attach {
	focus, joined, greeted := s.registration()
	return &messages.Attach{Conn: s.ref, UserId: s.user, Role: s.role, Focus: focus, Joined: joined,
		Greeted: greeted, Rejoin: rejoin}
}

// registration is what a rebuilt user actor needs of the connection.
func (s *Session) registration() (focus, joined []string, greeted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.focus), slices.Clone(s.joined), s.greeted
}

// setJoined and setGreeted record, for a rebuild, what the user actor
// accepted; they run on the user actor's goroutine.
func (s *Session) setJoined(joined []string) {
	s.mu.Lock()
	s.joined = joined
	s.mu.Unlock()
}

func (s *Session) setGreeted() {
	s.mu.Lock()
	s.greeted = true
	s.mu.Unlock()
}

// Send sends a message; the answer (message:sent or error) carries ref.
func (s *Session) Send(ref, conversationID, content, clientMsgID string) {
	s.toUser(&messages.SendMessage{Conn: s.ref, Ref: ref, ConversationId: conversationID, Content: content, ClientMsgId: clientMsgID})
}

// MarkRead moves the user's read watermark; the answer is message:read.
func (s *Session) MarkRead(ref, conversationID string, upToSeq int64) {
	s.toUser(&messages.MarkRead{Conn: s.ref, Ref: ref, ConversationId: conversationID, UpToSeq: upToSeq})
}

// Typing relays a typing state to the other members; never stored.
func (s *Session) Typing(ref, conversationID string, isTyping bool) {
	s.toUser(&messages.Typing{Conn: s.ref, Ref: ref, ConversationId: conversationID, IsTyping: isTyping})
}

// Join starts receiving a conversation's typing and read events.
func (s *Session) Join(ref, conversationID string) {
	s.toUser(&messages.JoinConversation{Conn: s.ref, Ref: ref, ConversationId: conversationID})
}

// Leave stops them.
func (s *Session) Leave(ref, conversationID string) {
	s.toUser(&messages.LeaveConversation{Conn: s.ref, Ref: ref, ConversationId: conversationID})
}

// History asks for a page of a conversation; the answer is history.
func (s *Session) History(ref, conversationID string, beforeSeq, afterSeq int64, forward bool, limit int) {
	s.toUser(&messages.HistoryRequest{Conn: s.ref, Ref: ref, ConversationId: conversationID,
		BeforeSeq: beforeSeq, AfterSeq: afterSeq, Forward: forward, Limit: int32(limit)})
}
