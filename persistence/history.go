package persistence

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/presenced/presenced/messages"
)

// History page sizes: the default when the query gives none, and the most a
// query may ask for.
const (
	DefaultHistoryLimit = 50
	MaxHistoryLimit     = 200
)

// messageColumns selects a message aliased m, in scanMessage's order.
const messageColumns = `m.id, m.conversation_id, m.seq, m.sender_id, COALESCE(m.client_msg_id, ''), m.content, m.created_at_ms`

// qMembers lists a conversation's members with their watermarks.
const qMembers = `SELECT user_id, last_read_seq FROM conversation_members
	WHERE conversation_id = $1 ORDER BY user_id`

func scanMessage(r rows) (*messages.ChatMessage, error) {
	return scanMessageRow(r)
}

func scanMessageRow(r row) (*messages.ChatMessage, error) {
	m := &messages.ChatMessage{}
	err := r.Scan(&m.Id, &m.ConversationId, &m.Seq, &m.SenderId, &m.ClientMsgId, &m.Content, &m.CreatedAtMs)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// member is a conversation member and its read watermark.
type member struct {
	userID   string
	lastRead int64
}

// readBy lists the members other than msg's sender whose watermark reaches
// msg, in the order of members; nil when none.
func readBy(msg *messages.ChatMessage, members []member) []string {
	var out []string
	for _, m := range members {
		if m.userID != msg.SenderId && m.lastRead >= msg.Seq {
			out = append(out, m.userID)
		}
	}
	return out
}

// membersOf returns a conversation's members sorted by id; none means the
// conversation does not exist, since every conversation has two or more.
func membersOf(ctx context.Context, q querier, convID string) ([]member, error) {
	ms, err := queryAll(ctx, q, func(rs rows) (member, error) {
		var m member
		err := rs.Scan(&m.userID, &m.lastRead)
		return m, err
	}, qMembers, convID)
	if err != nil {
		return nil, fmt.Errorf("loading members of %s: %w", convID, err)
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("conversation %s: %w", convID, messages.ErrNotFound)
	}
	return ms, nil
}

// History returns a page of a conversation, oldest first, each message with
// its ReadBy. Limit defaults to DefaultHistoryLimit and is capped at
// MaxHistoryLimit. An unknown conversation is ErrNotFound; membership is the
// caller's to check.
func (s *store) History(ctx context.Context, q messages.HistoryQuery) (messages.HistoryPage, error) {
	var page messages.HistoryPage
	err := s.inReadTx(ctx, func(t tx) error {
		var err error
		page, err = history(ctx, t, q)
		return err
	})
	if err != nil {
		return messages.HistoryPage{}, s.fail("loading history of "+q.ConversationID, err)
	}
	return page, nil
}

func history(ctx context.Context, t tx, q messages.HistoryQuery) (messages.HistoryPage, error) {
	members, err := membersOf(ctx, t, q.ConversationID)
	if err != nil {
		return messages.HistoryPage{}, err
	}
	limit := historyLimit(q.Limit)
	after, before := max(q.AfterSeq, 0), q.BeforeSeq
	if before <= 0 {
		before = math.MaxInt64
	}
	// One more row than asked tells whether more lie in the paging direction.
	order := "DESC"
	if q.Forwards() {
		order = "ASC"
	}
	msgs, err := queryAll(ctx, t, scanMessage, `SELECT `+messageColumns+` FROM messages m
		WHERE m.conversation_id = $1 AND m.seq > $2 AND m.seq < $3
		ORDER BY m.seq `+order+` LIMIT $4`, q.ConversationID, after, before, limit+1)
	if err != nil {
		return messages.HistoryPage{}, fmt.Errorf("loading messages: %w", err)
	}
	page := messages.HistoryPage{HasMore: len(msgs) > limit}
	msgs = msgs[:min(len(msgs), limit)]
	if order == "DESC" {
		slices.Reverse(msgs)
	}
	for _, m := range msgs {
		m.ReadBy = readBy(m, members)
	}
	page.Messages = msgs
	return page, nil
}

func historyLimit(n int) int {
	if n <= 0 {
		return DefaultHistoryLimit
	}
	return min(n, MaxHistoryLimit)
}

// Unread returns userID's conversations holding messages of others above
// the user's watermark, with their count and last message, most recently
// active first.
func (s *store) Unread(ctx context.Context, userID string) ([]messages.UnreadSummary, error) {
	var out []messages.UnreadSummary
	err := s.inReadTx(ctx, func(t tx) error {
		sums, err := conversationsOf(ctx, t, userID)
		out = out[:0]
		for _, sum := range sums {
			if sum.Unread > 0 {
				out = append(out, messages.UnreadSummary{
					ConversationID: sum.Conversation.Id,
					Count:          sum.Unread,
					LastMessage:    sum.LastMessage,
				})
			}
		}
		return err
	})
	if err != nil {
		return nil, s.fail("loading unread of "+userID, err)
	}
	return out, nil
}
