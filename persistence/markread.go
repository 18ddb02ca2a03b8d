package persistence

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/presenced/presenced/messages"
)

// The statements of MarkRead, run once per mark.
const (
	qLastSeq   = `SELECT last_seq FROM conversations WHERE id = $1`
	qWatermark = `SELECT last_read_seq FROM conversation_members
		WHERE conversation_id = $1 AND user_id = $2`
	qSetWatermark = `UPDATE conversation_members SET last_read_seq = $3
		WHERE conversation_id = $1 AND user_id = $2`
	// qCoveredSenders excludes the reader although sending moves the
	// sender's watermark past its own messages: the contract says so.
	qCoveredSenders = `SELECT DISTINCT sender_id FROM messages
		WHERE conversation_id = $1 AND seq > $2 AND seq <= $3 AND sender_id <> $4 ORDER BY sender_id`
)

// MarkRead moves read watermarks forward (never back, never past the
// conversation's last seq), in one transaction. Per item: ErrNotFound for an
// unknown conversation, ErrForbidden for a non-member.
func (s *store) MarkRead(ctx context.Context, marks []messages.ReadMark) ([]messages.ReadResult, error) {
	if len(marks) == 0 {
		return nil, nil
	}
	order := lockOrder(len(marks), func(i, j int) int {
		return cmp.Or(cmp.Compare(marks[i].ConversationID, marks[j].ConversationID),
			cmp.Compare(marks[i].UserID, marks[j].UserID))
	})
	results := make([]messages.ReadResult, len(marks))
	err := s.inWriteTx(ctx, func(t tx) error {
		for _, i := range order {
			r, err := s.markRead(ctx, t, marks[i])
			if err != nil {
				return fmt.Errorf("marking %s read by %s: %w", marks[i].ConversationID, marks[i].UserID, err)
			}
			results[i] = r
		}
		return nil
	})
	if err != nil {
		return nil, s.fail("marking read", err)
	}
	return results, nil
}

// markRead applies one mark. Item errors go in the result; the returned
// error fails the whole batch.
func (s *store) markRead(ctx context.Context, t tx, mk messages.ReadMark) (messages.ReadResult, error) {
	var lastSeq, old int64
	err := t.queryRow(ctx, qLastSeq, mk.ConversationID).Scan(&lastSeq)
	if isNoRows(err) {
		return messages.ReadResult{Err: fmt.Errorf("conversation %s: %w", mk.ConversationID, messages.ErrNotFound)}, nil
	}
	if err != nil {
		return messages.ReadResult{}, err
	}
	err = t.queryRow(ctx, qWatermark+s.db.lockClause(), mk.ConversationID, mk.UserID).Scan(&old)
	if isNoRows(err) {
		return messages.ReadResult{Err: fmt.Errorf("%s in %s: %w", mk.UserID, mk.ConversationID, messages.ErrForbidden)}, nil
	}
	if err != nil {
		return messages.ReadResult{}, err
	}
	target := min(mk.UpToSeq, lastSeq)
	if target <= old {
		return messages.ReadResult{UpToSeq: old}, nil
	}
	err = t.exec(ctx, qSetWatermark, mk.ConversationID, mk.UserID, target)
	if err != nil {
		return messages.ReadResult{}, err
	}
	senders, err := queryAll(ctx, t, scanString, qCoveredSenders, mk.ConversationID, old, target, mk.UserID)
	if err != nil {
		return messages.ReadResult{}, err
	}
	return messages.ReadResult{UpToSeq: target, Moved: true, CoveredSenders: senders}, nil
}

// lockOrder returns the indexes 0..n-1 sorted stably by cmp: a batch
// touches its rows in that order, so that two processes writing overlapping
// batches take their locks in the same order and rarely deadlock. Stability
// keeps the items of one row in the order the caller gave them.
func lockOrder(n int, cmp func(i, j int) int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, cmp)
	return order
}
