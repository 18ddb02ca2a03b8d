package messages

import "slices"

// WireMessage is the Message object of PROTOCOL.md.
type WireMessage struct {
	ID             string   `json:"id"`
	ConversationID string   `json:"conversationId"`
	Seq            int64    `json:"seq"`
	SenderID       string   `json:"senderId"`
	Content        string   `json:"content"`
	ClientMsgID    string   `json:"clientMsgId"`
	CreatedAt      int64    `json:"createdAt"`
	ReadBy         []string `json:"readBy"`
}

// Wire converts a stored message to its wire shape; nil stays nil.
func (m *ChatMessage) Wire() *WireMessage {
	if m == nil {
		return nil
	}
	readBy := m.ReadBy
	if readBy == nil {
		readBy = []string{}
	}
	return &WireMessage{
		ID: m.Id, ConversationID: m.ConversationId, Seq: m.Seq, SenderID: m.SenderId,
		Content: m.Content, ClientMsgID: m.ClientMsgId, CreatedAt: m.CreatedAtMs, ReadBy: readBy,
	}
}

// WireConversation is one entry of GET /v1/conversations.
type WireConversation struct {
	ConversationID string       `json:"conversationId"`
	MemberIDs      []string     `json:"memberIds"`
	Direct         bool         `json:"direct"`
	CreatedAt      int64        `json:"createdAt"`
	LastSeq        int64        `json:"lastSeq"`
	LastReadSeq    int64        `json:"lastReadSeq"`
	UnreadCount    int64        `json:"unreadCount"`
	LastMessage    *WireMessage `json:"lastMessage"`
}

// Wire converts a conversation summary to its wire shape.
func (s *ConversationSummary) Wire() WireConversation {
	c := s.Conversation
	return WireConversation{
		ConversationID: c.GetId(), MemberIDs: c.GetMemberIds(), Direct: c.GetDirect(),
		CreatedAt: c.GetCreatedAtMs(), LastSeq: s.LastSeq, LastReadSeq: s.LastReadSeq,
		UnreadCount: s.Unread, LastMessage: s.LastMessage.Wire(),
	}
}

// NewMessageFrame encodes new_message.
func NewMessageFrame(m *ChatMessage) []byte {
	return Frame(TypeNewMessage, "", struct {
		ConversationID string       `json:"conversationId"`
		Message        *WireMessage `json:"message"`
	}{m.ConversationId, m.Wire()})
}

// MessageSentFrame encodes message:sent, the answer to send_message.
func MessageSentFrame(ref string, m *ChatMessage, delivered bool) []byte {
	return Frame(TypeMessageSent, ref, struct {
		ConversationID string       `json:"conversationId"`
		Message        *WireMessage `json:"message"`
		Delivered      bool         `json:"delivered"`
	}{m.ConversationId, m.Wire(), delivered})
}

// MessageReadFrame encodes message:read.
func MessageReadFrame(ref, conversationID, userID string, upToSeq int64) []byte {
	return Frame(TypeMessageRead, ref, struct {
		ConversationID string `json:"conversationId"`
		UserID         string `json:"userId"`
		UpToSeq        int64  `json:"upToSeq"`
	}{conversationID, userID, upToSeq})
}

// TypingFrame encodes typing.
func TypingFrame(conversationID, userID string, isTyping bool) []byte {
	return Frame(TypeTyping, "", struct {
		ConversationID string `json:"conversationId"`
		UserID         string `json:"userId"`
		IsTyping       bool   `json:"isTyping"`
	}{conversationID, userID, isTyping})
}

// HistoryFrame encodes history, the answer to a history request.
func HistoryFrame(ref, conversationID string, page HistoryPage) []byte {
	msgs := make([]*WireMessage, len(page.Messages))
	for i, m := range page.Messages {
		msgs[i] = m.Wire()
	}
	return Frame(TypeHistory, ref, struct {
		ConversationID string         `json:"conversationId"`
		Messages       []*WireMessage `json:"messages"`
		HasMore        bool           `json:"hasMore"`
	}{conversationID, msgs, page.HasMore})
}

// WireUnread is one conversation of the unread frame.
type WireUnread struct {
	ConversationID string       `json:"conversationId"`
	Count          int64        `json:"count"`
	LastMessage    *WireMessage `json:"lastMessage"`
}

// UnreadFrame encodes unread, sent right after presence:connected.
func UnreadFrame(list []UnreadSummary) []byte {
	out := make([]WireUnread, len(list))
	for i, u := range list {
		out[i] = WireUnread{u.ConversationID, u.Count, u.LastMessage.Wire()}
	}
	return Frame(TypeUnread, "", struct {
		Conversations []WireUnread `json:"conversations"`
	}{out})
}

// MemberList sorts and deduplicates a conversation's member ids and checks
// there are at least two, each a valid id: the one rule every store and
// the API apply to a new conversation.
func MemberList(ids []string) ([]string, error) {
	members := slices.Clone(ids)
	slices.Sort(members)
	members = slices.Compact(members)
	for _, id := range members {
		if !ValidID(id) {
			return nil, Errorf(CodeInvalidPayload, "memberIds: %q is not a valid user id", id)
		}
	}
	if len(members) < 2 {
		return nil, Errorf(CodeInvalidPayload, "memberIds: a conversation needs at least two distinct members")
	}
	return members, nil
}
