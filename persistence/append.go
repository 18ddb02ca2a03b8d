package persistence

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/presenced/presenced/messages"
)

// The statements of the append path, run once per message. Each derives
// the seq from the conversation's row, so that the three can be sent
// together; the membership condition makes all three do nothing for a
// sender who is not a member, or a conversation that does not exist.
const (
	// qNextSeq takes the conversation's next seq. It locks the
	// conversation's row until commit: that is what orders concurrent
	// appends, from any process.
	qNextSeq = `UPDATE conversations SET last_seq = last_seq + 1, last_message_at_ms = $3
		WHERE id = $1 AND EXISTS (SELECT 1 FROM conversation_members WHERE conversation_id = $1 AND user_id = $2)
		RETURNING last_seq`
	qInsertMessage = `INSERT INTO messages (conversation_id, seq, id, sender_id, client_msg_id, content, created_at_ms)
		SELECT c.id, c.last_seq, CAST($2 AS TEXT), CAST($3 AS TEXT), CAST($4 AS TEXT), CAST($5 AS TEXT), CAST($6 AS BIGINT)
		FROM conversations c
		WHERE c.id = $1 AND EXISTS (SELECT 1 FROM conversation_members WHERE conversation_id = $1 AND user_id = $3)`
	qSenderWatermark = `UPDATE conversation_members SET last_read_seq = (SELECT last_seq FROM conversations WHERE id = $1)
		WHERE conversation_id = $1 AND user_id = $2`
	qConversationCount = `SELECT COUNT(*) FROM conversations WHERE id = $1`
	qByClientID        = `SELECT ` + messageColumns + ` FROM messages m WHERE m.sender_id = $1 AND m.client_msg_id = $2`
)

// clientKey identifies a message for idempotency.
type clientKey struct{ sender, clientMsgID string }

// AppendMessages stores a batch in one transaction (one commit, one fsync).
// Per item: a (SenderID, ClientMsgID) already stored answers the original
// with Duplicate set and its ReadBy; an unknown conversation gives Err
// ErrNotFound and a non-member sender ErrForbidden, and that item alone is
// skipped. A new message gets its conversation's next seq, a new id, and
// moves the sender's watermark to its seq. An empty ClientMsgID is never a
// duplicate. Results are in the order of msgs; when the returned error is
// non-nil, nothing of the batch was stored.
//
// Items are applied grouped by conversation (in the caller's order within
// one), so that concurrent batches lock conversations in the same order.
func (s *store) AppendMessages(ctx context.Context, msgs []messages.NewMessage) ([]messages.AppendResult, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	order := lockOrder(len(msgs), func(i, j int) int {
		return cmp.Compare(msgs[i].ConversationID, msgs[j].ConversationID)
	})
	results := make([]messages.AppendResult, len(msgs))
	err := s.inWriteTx(ctx, func(t tx) error {
		stored, err := storedClientIDs(ctx, t, msgs)
		if err != nil {
			return err
		}
		for _, i := range order {
			r, err := s.appendOne(ctx, t, msgs[i], stored)
			if err != nil {
				return fmt.Errorf("appending to %s: %w", msgs[i].ConversationID, err)
			}
			results[i] = r
		}
		return nil
	})
	if err != nil {
		return nil, s.fail("appending messages", err)
	}
	return results, nil
}

// appendOne applies one item; stored holds the client ids known to be
// stored and gains the item's. Item errors go in the result; the returned
// error fails the whole batch.
func (s *store) appendOne(ctx context.Context, t tx, nm messages.NewMessage, stored map[clientKey]bool) (messages.AppendResult, error) {
	key := clientKey{nm.SenderID, nm.ClientMsgID}
	if nm.ClientMsgID != "" && stored[key] {
		orig, err := duplicateOf(ctx, t, nm)
		if err == nil && orig == nil {
			err = errors.New("a stored client id vanished")
		}
		return messages.AppendResult{Message: orig, Duplicate: true}, err
	}
	createdAt := nm.CreatedAt
	if createdAt.IsZero() {
		createdAt = s.now()
	}
	var r messages.AppendResult
	var err error
	if s.db.savepoints() {
		r, err = s.insertInSavepoint(ctx, t, nm, createdAt.UnixMilli())
	} else {
		r, err = insertMessage(ctx, t, nm, createdAt.UnixMilli(), false)
	}
	if err == nil && r.Err == nil && nm.ClientMsgID != "" {
		stored[key] = true
	}
	return r, err
}

// insertInSavepoint inserts in a savepoint: when another process stores the
// same client id between our check and our insert, the unique violation
// rolls back this item alone, seq increment included, so seqs stay gapless;
// the item then answers that process's message as a duplicate.
func (s *store) insertInSavepoint(ctx context.Context, t tx, nm messages.NewMessage, createdAt int64) (messages.AppendResult, error) {
	r, err := insertMessage(ctx, t, nm, createdAt, true)
	if err == nil || !s.db.uniqueViolation(err) || nm.ClientMsgID == "" {
		return r, err
	}
	s.log.Debug("client id stored concurrently", "conversation_id", nm.ConversationID, "user_id", nm.SenderID)
	if err := t.exec(ctx, `ROLLBACK TO SAVEPOINT append_item`); err != nil {
		return messages.AppendResult{}, err
	}
	if err := t.exec(ctx, `RELEASE SAVEPOINT append_item`); err != nil {
		return messages.AppendResult{}, err
	}
	orig, err := duplicateOf(ctx, t, nm)
	if err == nil && orig == nil {
		err = errors.New("unique violation but no message with that client id")
	}
	return messages.AppendResult{Message: orig, Duplicate: true}, err
}

// insertMessage takes the conversation's next seq, stores the message and
// moves the sender's watermark to it, in one pipeline; with savepoint, the
// pipeline is wrapped in the savepoint append_item.
func insertMessage(ctx context.Context, t tx, nm messages.NewMessage, createdAt int64, savepoint bool) (messages.AppendResult, error) {
	msg := &messages.ChatMessage{
		Id:             newID("m-"),
		ConversationId: nm.ConversationID,
		SenderId:       nm.SenderID,
		Content:        nm.Content,
		ClientMsgId:    nm.ClientMsgID,
		CreatedAtMs:    createdAt,
	}
	next := &step{query: qNextSeq, args: []any{nm.ConversationID, nm.SenderID, createdAt}, dest: []any{&msg.Seq}}
	steps := []*step{
		next,
		{query: qInsertMessage, args: []any{msg.ConversationId, msg.Id, msg.SenderId, nullable(msg.ClientMsgId), msg.Content, msg.CreatedAtMs}},
		{query: qSenderWatermark, args: []any{msg.ConversationId, msg.SenderId}},
	}
	if savepoint {
		steps = slices.Concat([]*step{{query: `SAVEPOINT append_item`}}, steps, []*step{{query: `RELEASE SAVEPOINT append_item`}})
	}
	if err := t.pipeline(ctx, steps); err != nil {
		return messages.AppendResult{}, fmt.Errorf("inserting message: %w", err)
	}
	if next.noRow {
		return refusal(ctx, t, nm)
	}
	return messages.AppendResult{Message: msg}, nil
}

// refusal tells why no seq was taken: no such conversation, or the sender
// is not a member.
func refusal(ctx context.Context, t tx, nm messages.NewMessage) (messages.AppendResult, error) {
	var n int
	err := t.queryRow(ctx, qConversationCount, nm.ConversationID).Scan(&n)
	switch {
	case err != nil:
		return messages.AppendResult{}, fmt.Errorf("checking conversation: %w", err)
	case n == 0:
		return messages.AppendResult{Err: fmt.Errorf("conversation %s: %w", nm.ConversationID, messages.ErrNotFound)}, nil
	default:
		return messages.AppendResult{Err: fmt.Errorf("%s in %s: %w", nm.SenderID, nm.ConversationID, messages.ErrForbidden)}, nil
	}
}

// storedClientIDs returns which client ids of the batch are already
// stored, in one query per chunk rather than one per message.
func storedClientIDs(ctx context.Context, t tx, msgs []messages.NewMessage) (map[clientKey]bool, error) {
	stored := make(map[clientKey]bool)
	var args []any
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		pairs := make([]string, 0, len(args)/2)
		for i := 1; i < len(args); i += 2 {
			pairs = append(pairs, "("+placeholders(i, 2)+")")
		}
		err := each(ctx, t, func(rs rows) error {
			var k clientKey
			err := rs.Scan(&k.sender, &k.clientMsgID)
			stored[k] = true
			return err
		}, `SELECT sender_id, client_msg_id FROM messages
			WHERE (sender_id, client_msg_id) IN (VALUES `+strings.Join(pairs, ", ")+`)`, args...)
		args = args[:0]
		return err
	}
	for _, m := range msgs {
		if m.ClientMsgID == "" {
			continue
		}
		if args = append(args, m.SenderID, m.ClientMsgID); len(args) == 2*chunkSize {
			if err := flush(); err != nil {
				return nil, fmt.Errorf("looking up client ids: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return nil, fmt.Errorf("looking up client ids: %w", err)
	}
	return stored, nil
}

// duplicateOf returns the stored message with nm's sender and client id,
// with its ReadBy, or nil when there is none.
func duplicateOf(ctx context.Context, t tx, nm messages.NewMessage) (*messages.ChatMessage, error) {
	msg, err := scanMessageRow(t.queryRow(ctx, qByClientID, nm.SenderID, nm.ClientMsgID))
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up client id: %w", err)
	}
	members, err := membersOf(ctx, t, msg.ConversationId)
	if err != nil {
		return nil, err
	}
	msg.ReadBy = readBy(msg, members)
	return msg, nil
}
