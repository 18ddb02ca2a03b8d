package messages

import "time"

// The records below cross the Store interface that actors declares and
// persistence implements. They are plain structs: they never cross members.

// UserRecord is what the store keeps of a user.
type UserRecord struct {
	ID       string
	Role     string    // empty when the user never connected
	LastSeen time.Time // zero when never seen offline
}

// UserSeen records that a user connected with a role, or went offline.
type UserSeen struct {
	ID       string
	Role     string    // kept as is when empty
	LastSeen time.Time // kept as is when zero
}

// NewMessage is a message to store. The store assigns ID, Seq and CreatedAt
// is taken as given (the sender's actor clock).
type NewMessage struct {
	ConversationID string
	SenderID       string
	ClientMsgID    string
	Content        string
	CreatedAt      time.Time
}

// AppendResult is the outcome of one NewMessage of a batch.
type AppendResult struct {
	// Message is the stored message: the new one, or the original one when
	// Duplicate is set.
	Message *ChatMessage
	// Duplicate is set when (SenderID, ClientMsgID) was already stored.
	Duplicate bool
	// Err is ErrNotFound (no such conversation) or ErrForbidden (the sender
	// is not a member) for this item alone; the rest of the batch commits.
	Err error
}

// ReadMark moves a member's read watermark forward.
type ReadMark struct {
	ConversationID string
	UserID         string
	UpToSeq        int64
}

// ReadResult is the outcome of one ReadMark.
type ReadResult struct {
	// UpToSeq is the watermark after the mark: never lower than before and
	// never above the conversation's last seq.
	UpToSeq int64
	// Moved is set when the watermark went forward.
	Moved bool
	// CoveredSenders are the senders of the messages the move newly covers,
	// the reader excluded.
	CoveredSenders []string
	Err            error
}

// HistoryQuery selects a page of a conversation, oldest first, among the
// messages with AfterSeq < seq < BeforeSeq (BeforeSeq 0: no upper bound).
// Paging forward (Forward, or a positive AfterSeq) the page is the oldest
// Limit of them: catching up from a read watermark, 0 included. Otherwise
// it is the newest Limit: scrolling back.
type HistoryQuery struct {
	ConversationID string
	BeforeSeq      int64
	AfterSeq       int64
	Forward        bool
	Limit          int
}

// Forwards reports whether q pages forward.
func (q HistoryQuery) Forwards() bool { return q.Forward || q.AfterSeq > 0 }

// HistoryPage is a page of messages, oldest first. HasMore says whether more
// messages lie in the paging direction.
type HistoryPage struct {
	Messages []*ChatMessage
	HasMore  bool
}

// ConversationSummary is one conversation of a user, for lists.
type ConversationSummary struct {
	Conversation *Conversation
	LastSeq      int64
	LastReadSeq  int64
	Unread       int64
	LastMessage  *ChatMessage // nil when empty
}

// UnreadSummary is one conversation with messages the user has not read.
type UnreadSummary struct {
	ConversationID string
	Count          int64
	LastMessage    *ChatMessage
}
