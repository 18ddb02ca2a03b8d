package persistence

import (
	"context"
	"fmt"

	"github.com/presenced/presenced/messages"
)

// CreateConversation creates a conversation of the given distinct members
// (at least two; repeated ids count once). Two members make a direct
// conversation: the same pair, in any order, always gets the same
// conversation back, with created false, also when two processes create it
// at once.
func (s *store) CreateConversation(ctx context.Context, memberIDs []string) (*messages.Conversation, bool, error) {
	members, err := messages.MemberList(memberIDs)
	if err != nil {
		return nil, false, err
	}
	var key any // NULL for groups: only pairs are unique
	if len(members) == 2 {
		key = directKey(members[0], members[1])
		conv, err := s.directConversation(ctx, key)
		if err == nil {
			return conv, false, nil
		}
		if !isNotFound(err) {
			return nil, false, s.fail("looking up direct conversation", err)
		}
	}
	conv := &messages.Conversation{
		Id:          newID("c-"),
		MemberIds:   members,
		Direct:      len(members) == 2,
		CreatedAtMs: s.now().UnixMilli(),
	}
	var created bool
	err = s.inWriteTx(ctx, func(t tx) error {
		created, err = insertConversation(ctx, t, conv, key)
		return err
	})
	if err != nil {
		return nil, false, s.fail("creating conversation", err)
	}
	if created {
		return conv, true, nil
	}
	// Another process created the same pair between our lookup and insert.
	conv, err = s.directConversation(ctx, key)
	return conv, false, s.fail("reading back direct conversation", err)
}

const (
	// qInsertConversation inserts nothing when the direct key is taken.
	qInsertConversation = `INSERT INTO conversations (id, direct_key, created_at_ms) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING RETURNING id`
	qInsertMember = `INSERT INTO conversation_members (conversation_id, user_id) VALUES ($1, $2)`
)

// insertConversation inserts conv and its members, unless a conversation
// with the same direct key exists: then it reports false and inserts nothing.
func insertConversation(ctx context.Context, t tx, conv *messages.Conversation, key any) (bool, error) {
	var id string
	err := t.queryRow(ctx, qInsertConversation, conv.Id, key, conv.CreatedAtMs).Scan(&id)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inserting conversation: %w", err)
	}
	for _, m := range conv.MemberIds {
		err := t.exec(ctx, qInsertMember, conv.Id, m)
		if err != nil {
			return false, fmt.Errorf("inserting member %s: %w", m, err)
		}
	}
	return true, nil
}

// Conversation returns a conversation with its members, or ErrNotFound.
func (s *store) Conversation(ctx context.Context, id string) (*messages.Conversation, error) {
	conv, err := loadConversation(ctx, s.db.reader(), `c.id = $1`, id)
	if err != nil {
		return nil, s.fail("loading conversation "+id, err)
	}
	return conv, nil
}

func (s *store) directConversation(ctx context.Context, key any) (*messages.Conversation, error) {
	return loadConversation(ctx, s.db.reader(), `c.direct_key = $1`, key)
}

// loadConversation loads the conversation matching where (a fixed condition
// on c with one argument) and its members, or ErrNotFound.
func loadConversation(ctx context.Context, q querier, where string, arg any) (*messages.Conversation, error) {
	var conv *messages.Conversation
	err := each(ctx, q, func(rs rows) error {
		var id, member string
		var created int64
		if err := rs.Scan(&id, &created, &member); err != nil {
			return err
		}
		if conv == nil {
			conv = &messages.Conversation{Id: id, CreatedAtMs: created}
		}
		conv.MemberIds = append(conv.MemberIds, member)
		return nil
	}, `SELECT c.id, c.created_at_ms, m.user_id
		FROM conversations c JOIN conversation_members m ON m.conversation_id = c.id
		WHERE `+where+` ORDER BY m.user_id`, arg)
	if err != nil {
		return nil, err
	}
	if conv == nil {
		return nil, fmt.Errorf("conversation: %w", messages.ErrNotFound)
	}
	conv.Direct = len(conv.MemberIds) == 2
	return conv, nil
}

// Contacts returns every user sharing at least one conversation with userID,
// userID excluded, sorted, without duplicates.
func (s *store) Contacts(ctx context.Context, userID string) ([]string, error) {
	ids, err := queryAll(ctx, s.db.reader(), scanString, `SELECT DISTINCT o.user_id
		FROM conversation_members me JOIN conversation_members o ON o.conversation_id = me.conversation_id
		WHERE me.user_id = $1 AND o.user_id <> $1 ORDER BY o.user_id`, userID)
	if err != nil {
		return nil, s.fail("loading contacts of "+userID, err)
	}
	return ids, nil
}

// Conversations returns userID's conversations with their read state, most
// recently active first: by the newest message's time, or the creation time
// of a conversation without messages; ties by id.
func (s *store) Conversations(ctx context.Context, userID string) ([]messages.ConversationSummary, error) {
	var out []messages.ConversationSummary
	err := s.inReadTx(ctx, func(t tx) error {
		var err error
		out, err = conversationsOf(ctx, t, userID)
		return err
	})
	if err != nil {
		return nil, s.fail("loading conversations of "+userID, err)
	}
	return out, nil
}

// conversationsOf runs in one snapshot, so that the summaries, the members
// and the last messages agree with each other.
func conversationsOf(ctx context.Context, t tx, userID string) ([]messages.ConversationSummary, error) {
	sums, err := queryAll(ctx, t, scanSummary, `SELECT c.id, c.created_at_ms, c.last_seq, me.last_read_seq,
			(SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id
				AND m.seq > me.last_read_seq AND m.sender_id <> me.user_id)
		FROM conversation_members me JOIN conversations c ON c.id = me.conversation_id
		WHERE me.user_id = $1
		ORDER BY COALESCE(c.last_message_at_ms, c.created_at_ms) DESC, c.id`, userID)
	if err != nil || len(sums) == 0 {
		return nil, err
	}
	members, err := membersOfUsersConversations(ctx, t, userID)
	if err != nil {
		return nil, err
	}
	last, err := lastMessages(ctx, t, userID)
	if err != nil {
		return nil, err
	}
	for i := range sums {
		conv := sums[i].Conversation
		ms := members[conv.Id]
		for _, m := range ms {
			conv.MemberIds = append(conv.MemberIds, m.userID)
		}
		conv.Direct = len(conv.MemberIds) == 2
		if msg := last[conv.Id]; msg != nil {
			msg.ReadBy = readBy(msg, ms)
			sums[i].LastMessage = msg
		}
	}
	return sums, nil
}

func scanSummary(rs rows) (messages.ConversationSummary, error) {
	sum := messages.ConversationSummary{Conversation: &messages.Conversation{}}
	err := rs.Scan(&sum.Conversation.Id, &sum.Conversation.CreatedAtMs, &sum.LastSeq, &sum.LastReadSeq, &sum.Unread)
	return sum, err
}

// membersOfUsersConversations returns the members, with their watermarks,
// of every conversation of userID, by conversation id.
func membersOfUsersConversations(ctx context.Context, t tx, userID string) (map[string][]member, error) {
	out := make(map[string][]member)
	err := each(ctx, t, func(rs rows) error {
		var conv string
		var m member
		if err := rs.Scan(&conv, &m.userID, &m.lastRead); err != nil {
			return err
		}
		out[conv] = append(out[conv], m)
		return nil
	}, `SELECT o.conversation_id, o.user_id, o.last_read_seq
		FROM conversation_members me JOIN conversation_members o ON o.conversation_id = me.conversation_id
		WHERE me.user_id = $1 ORDER BY o.conversation_id, o.user_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("loading members: %w", err)
	}
	return out, nil
}

// lastMessages returns the newest message of each conversation of userID
// that has one, by conversation id, ReadBy not filled.
func lastMessages(ctx context.Context, t tx, userID string) (map[string]*messages.ChatMessage, error) {
	msgs, err := queryAll(ctx, t, scanMessage, `SELECT `+messageColumns+`
		FROM conversation_members me
		JOIN conversations c ON c.id = me.conversation_id
		JOIN messages m ON m.conversation_id = c.id AND m.seq = c.last_seq
		WHERE me.user_id = $1`, userID)
	if err != nil {
		return nil, fmt.Errorf("loading last messages: %w", err)
	}
	out := make(map[string]*messages.ChatMessage, len(msgs))
	for _, m := range msgs {
		out[m.ConversationId] = m
	}
	return out, nil
}
