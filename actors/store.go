package actors

import (
	"context"

	"github.com/presenced/presenced/messages"
)

// Store is the durable state the actors need. persistence implements it on
// SQLite and PostgreSQL; tests use an in-memory one. Every method is safe for
// concurrent use. Errors: messages.ErrNotFound and messages.ErrForbidden as
// documented; anything that means "cannot serve now" (connection refused,
// timeout, pool closed) wraps messages.ErrUnavailable.
type Store interface {
	// Ping checks the store can serve (readiness).
	Ping(ctx context.Context) error

	// SaveUsers upserts users: a non-empty Role replaces the stored role, a
	// non-zero LastSeen replaces the stored last seen.
	SaveUsers(ctx context.Context, users []messages.UserSeen) error
	// Users returns the known users among ids; unknown ids are absent.
	Users(ctx context.Context, ids []string) (map[string]messages.UserRecord, error)

	// CreateConversation creates a conversation of the given distinct
	// members (at least two). Two members make a direct conversation: the
	// same pair, in any order, always gets the same conversation back, with
	// created false.
	CreateConversation(ctx context.Context, memberIDs []string) (conv *messages.Conversation, created bool, err error)
	// Conversation returns a conversation with its members, or ErrNotFound.
	Conversation(ctx context.Context, id string) (*messages.Conversation, error)
	// Contacts returns every user sharing at least one conversation with
	// userID, userID excluded, without duplicates.
	Contacts(ctx context.Context, userID string) ([]string, error)
	// Conversations returns userID's conversations with their read state,
	// most recently active first.
	Conversations(ctx context.Context, userID string) ([]messages.ConversationSummary, error)

	// AppendMessages stores a batch in one transaction (one commit, one
	// fsync). Per item: a (SenderID, ClientMsgID) already stored answers the
	// original with Duplicate set; an unknown conversation gives Err
	// ErrNotFound and a non-member sender ErrForbidden, and that item alone
	// is skipped. A new message gets the conversation's next seq (gapless,
	// +1 per conversation), a system-unique id, and moves the sender's read
	// watermark up to its seq. The results are in the order of msgs; when the
	// returned error is non-nil, nothing of the batch was stored.
	AppendMessages(ctx context.Context, msgs []messages.NewMessage) ([]messages.AppendResult, error)
	// MarkRead moves read watermarks forward (never back, never past the
	// conversation's last seq), in one transaction. Per item Err as above.
	MarkRead(ctx context.Context, marks []messages.ReadMark) ([]messages.ReadResult, error)
	// History returns a page of a conversation, oldest first, each message
	// with its ReadBy (the other members whose watermark reaches its seq).
	History(ctx context.Context, q messages.HistoryQuery) (messages.HistoryPage, error)
	// Unread returns userID's conversations holding messages of others above
	// the user's watermark, with their count and last message.
	Unread(ctx context.Context, userID string) ([]messages.UnreadSummary, error)

	// Close releases the store; pending writes are flushed first.
	Close() error
}
