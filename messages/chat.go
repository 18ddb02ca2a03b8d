package messages

import (
	"slices"
	"strconv"
)

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

// AppendJSON appends m as the Message object of PROTOCOL.md. Hand-written
// because messages are the hot path: encoding/json's reflection cost more
// than the rest of delivering one.
func (m *ChatMessage) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = AppendString(b, m.Id)
	b = append(b, `,"conversationId":`...)
	b = AppendString(b, m.ConversationId)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, m.Seq, 10)
	b = append(b, `,"senderId":`...)
	b = AppendString(b, m.SenderId)
	b = append(b, `,"content":`...)
	b = AppendString(b, m.Content)
	b = append(b, `,"clientMsgId":`...)
	b = AppendString(b, m.ClientMsgId)
	b = append(b, `,"createdAt":`...)
	b = strconv.AppendInt(b, m.CreatedAtMs, 10)
	b = append(b, `,"readBy":[`...)
	for i, r := range m.ReadBy {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, r)
	}
	return append(b, "]}"...)
}

// MarshalJSON keeps ChatMessage encodable inside encoding/json values.
func (m *ChatMessage) MarshalJSON() ([]byte, error) { return m.AppendJSON(nil), nil }

// NewMessageFrame encodes new_message.
func NewMessageFrame(m *ChatMessage) []byte {
	b := frameStart(192+len(m.Content), TypeNewMessage, "")
	b = append(b, `"conversationId":`...)
	b = AppendString(b, m.ConversationId)
	b = append(b, `,"message":`...)
	b = m.AppendJSON(b)
	return append(b, "}}"...)
}

// MessageSentFrame encodes message:sent, the answer to send_message.
func MessageSentFrame(ref string, m *ChatMessage, delivered bool) []byte {
	b := frameStart(224+len(m.Content), TypeMessageSent, ref)
	b = append(b, `"conversationId":`...)
	b = AppendString(b, m.ConversationId)
	b = append(b, `,"message":`...)
	b = m.AppendJSON(b)
	b = append(b, `,"delivered":`...)
	b = strconv.AppendBool(b, delivered)
	return append(b, "}}"...)
}

// MessageReadFrame encodes message:read.
func MessageReadFrame(ref, conversationID, userID string, upToSeq int64) []byte {
	b := frameStart(128, TypeMessageRead, ref)
	b = append(b, `"conversationId":`...)
	b = AppendString(b, conversationID)
	b = append(b, `,"userId":`...)
	b = AppendString(b, userID)
	b = append(b, `,"upToSeq":`...)
	b = strconv.AppendInt(b, upToSeq, 10)
	return append(b, "}}"...)
}

// TypingFrame encodes typing.
func TypingFrame(conversationID, userID string, isTyping bool) []byte {
	b := frameStart(112, TypeTyping, "")
	b = append(b, `"conversationId":`...)
	b = AppendString(b, conversationID)
	b = append(b, `,"userId":`...)
	b = AppendString(b, userID)
	b = append(b, `,"isTyping":`...)
	b = strconv.AppendBool(b, isTyping)
	return append(b, "}}"...)
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
