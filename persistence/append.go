package persistence

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/presenced/presenced/messages"
)

// The statements of the append path. A batch costs a fixed number of
// statements plus one per conversation, not four per message: under load
// the writer is the bottleneck, and a commit of many messages is as cheap
// as one of a few.
const (
	qConversationCount = `SELECT COUNT(*) FROM conversations WHERE id = $1`
	// qLockConversations locks conversations' rows in id order, where
	// several processes write at once: an UPDATE over many rows locks them
	// in whatever order its plan visits them, and two such could deadlock.
	// The lock on a conversation's row until commit is what orders
	// concurrent appends to it, from any process.
	qLockConversations = `SELECT id FROM conversations WHERE id = ANY($1) ORDER BY id FOR UPDATE`
)

// resendBurst is how long batches look client ids up first after one was
// refused as a resend.
const resendBurst = 5 * time.Second

// clientKey identifies a message for idempotency.
type clientKey struct{ sender, clientMsgID string }

// memberKey is a user in a conversation.
type memberKey struct{ user, conv string }

// AppendMessages stores a batch in one transaction (one commit, one fsync).
// Per item: a (SenderID, ClientMsgID) already stored, or earlier in the
// batch, answers the original with Duplicate set; an unknown conversation
// gives Err ErrNotFound and a non-member sender ErrForbidden, and that item
// alone is skipped. A new message gets its conversation's next seq, a new
// id, and moves the sender's watermark to its seq. An empty ClientMsgID is
// never a duplicate. Results are in the order of msgs; when the returned
// error is non-nil, nothing of the batch was stored.
//
// Conversations are locked in id order, so that concurrent batches from
// several processes never deadlock.
//
// A batch first assumes that none of its client ids is stored: resends
// are rare, and looking every client id up was the costliest statement of
// a batch on PostgreSQL (a third of its execution) and a tenth of the
// server's CPU on SQLite. The unique index on (sender, client id) still
// refuses a resend, or a concurrent process storing the same client id:
// the whole batch is then rolled back and retried, looking the client ids
// up, and the retry answers the originals. Resends come in bursts (clients
// reconnecting after a restart resend what was not acknowledged), so for
// a while after a refusal batches look up first rather than pay twice.
func (s *store) AppendMessages(ctx context.Context, msgs []messages.NewMessage) ([]messages.AppendResult, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	var results []messages.AppendResult
	lookUp := s.now().UnixNano() < s.resending.Load()
	err := s.inWriteTxRetrying(ctx, s.db.uniqueViolation, func(t tx) error {
		var err error
		results, err = s.appendBatch(ctx, t, msgs, lookUp)
		if err != nil && s.db.uniqueViolation(err) {
			lookUp = true
			s.resending.Store(s.now().Add(resendBurst).UnixNano())
		}
		return err
	})
	if err != nil {
		return nil, s.fail("appending messages", err)
	}
	return results, nil
}

// appendBatch is one attempt at a batch, inside its transaction; lookUp
// finds the client ids stored already, else the insert refuses them.
func (s *store) appendBatch(ctx context.Context, t tx, msgs []messages.NewMessage, lookUp bool) ([]messages.AppendResult, error) {
	results := make([]messages.AppendResult, len(msgs))
	var stored map[clientKey]*messages.ChatMessage
	if lookUp {
		var err error
		if stored, err = storedOriginals(ctx, t, msgs); err != nil {
			return nil, err
		}
	}
	fresh, firsts := splitDuplicates(msgs, stored)
	for i, m := range msgs {
		if orig, ok := stored[clientKey{m.SenderID, m.ClientMsgID}]; ok {
			results[i] = messages.AppendResult{Message: orig, Duplicate: true}
		}
	}
	if err := s.insertFresh(ctx, t, msgs, fresh, results); err != nil {
		return nil, err
	}
	// Repeats of a client id inside the batch answer the first one.
	for i, first := range firsts {
		r := results[first]
		results[i] = messages.AppendResult{Message: r.Message, Duplicate: r.Err == nil, Err: r.Err}
	}
	return results, nil
}

// splitDuplicates returns the items to insert, and for each repeat of a
// client id within the batch, the index of its first occurrence.
func splitDuplicates(msgs []messages.NewMessage, stored map[clientKey]*messages.ChatMessage) (fresh []int, firsts map[int]int) {
	seen := make(map[clientKey]int)
	firsts = make(map[int]int)
	for i, m := range msgs {
		key := clientKey{m.SenderID, m.ClientMsgID}
		switch {
		case m.ClientMsgID == "":
			fresh = append(fresh, i)
		case stored[key] != nil:
		default:
			if first, ok := seen[key]; ok {
				firsts[i] = first
				continue
			}
			seen[key] = i
			fresh = append(fresh, i)
		}
	}
	return fresh, firsts
}

// insertFresh stores the new messages: membership of their senders, seqs
// per conversation, the rows, and the senders' watermarks.
func (s *store) insertFresh(ctx context.Context, t tx, msgs []messages.NewMessage, fresh []int, results []messages.AppendResult) error {
	if len(fresh) == 0 {
		return nil
	}
	members, err := s.memberships(ctx, t, msgs, fresh)
	if err != nil {
		return err
	}
	byConv := make(map[string][]int)
	var convs []string
	for _, i := range fresh {
		c := msgs[i].ConversationID
		if _, ok := byConv[c]; !ok {
			convs = append(convs, c)
		}
		byConv[c] = append(byConv[c], i)
	}
	slices.Sort(convs) // the lock order
	rows, err := s.placeAll(ctx, t, msgs, convs, byConv, members, results)
	if err != nil {
		return err
	}
	// The rows and the senders' watermarks go in one round trip.
	if err := t.pipeline(ctx, append(insertSteps(rows), watermarkSteps(rows)...)); err != nil {
		return fmt.Errorf("inserting messages: %w", err)
	}
	return nil
}

// placeAll gives seqs to the items whose sender is a member of their
// conversation, taking each conversation's seqs in one statement, all sent
// together; it refuses the other items.
func (s *store) placeAll(ctx context.Context, t tx, msgs []messages.NewMessage, convs []string,
	byConv map[string][]int, members map[memberKey]bool, results []messages.AppendResult) ([]*messages.ChatMessage, error) {
	now := s.now().UnixMilli()
	ok := make(map[string][]int, len(convs))
	var taking []string
	for _, c := range convs {
		for _, i := range byConv[c] {
			if members[memberKey{msgs[i].SenderID, c}] {
				ok[c] = append(ok[c], i)
			} else {
				results[i].Err = fmt.Errorf("%s in %s: %w", msgs[i].SenderID, c, messages.ErrForbidden)
			}
		}
		if len(ok[c]) > 0 {
			taking = append(taking, c)
		}
	}
	latest := make([]int64, len(taking))
	for n, c := range taking {
		// The conversation's activity is its newest message's time.
		for _, i := range ok[c] {
			latest[n] = max(latest[n], createdAtMs(msgs[i], now))
		}
	}
	tops, err := s.takeSeqs(ctx, t, taking, ok, latest)
	if err != nil {
		return nil, fmt.Errorf("taking seqs: %w", err)
	}
	var rows []*messages.ChatMessage
	for _, c := range taking {
		top, found := tops[c]
		if !found {
			ok[c] = nil // no such conversation
			continue
		}
		rows = append(rows, placed(msgs, c, ok[c], top, now, results)...)
	}
	for _, c := range convs {
		if len(ok[c]) == 0 {
			if err := s.refuseAll(ctx, t, c, byConv[c], results); err != nil {
				return nil, err
			}
		}
	}
	return rows, nil
}

// takeSeqs takes len(items[c]) seqs of each conversation c of convs (in
// id order), and returns the last seq taken of each; a conversation that
// does not exist has none. One statement per chunk of conversations, all
// in one round trip: one per conversation was a fifth of SQLite's writer's
// CPU with a batch spread over 100 of them.
func (s *store) takeSeqs(ctx context.Context, t tx, convs []string, items map[string][]int, latest []int64) (map[string]int64, error) {
	var steps []*step
	if !s.db.oneWriter() {
		steps = append(steps, &step{query: qLockConversations, args: []any{convs}})
	}
	tops := make(map[string]int64, len(convs))
	took := func(rs rows) error {
		var c string
		var top int64
		err := rs.Scan(&c, &top)
		tops[c] = top
		return err
	}
	args := make([]any, 0, 3*len(convs))
	for n, c := range convs {
		args = append(args, c, int64(len(items[c])), latest[n])
	}
	for _, st := range qTakeSeqs.steps(args, 3) {
		st.each = took
		steps = append(steps, st)
	}
	return tops, t.pipeline(ctx, steps)
}

// createdAtMs is a message's time, the store's clock when it has none.
func createdAtMs(m messages.NewMessage, now int64) int64 {
	if m.CreatedAt.IsZero() {
		return now
	}
	return m.CreatedAt.UnixMilli()
}

// placed builds the rows of one conversation's items, whose seqs end at top.
func placed(msgs []messages.NewMessage, conv string, items []int, top, now int64, results []messages.AppendResult) []*messages.ChatMessage {
	rows := make([]*messages.ChatMessage, len(items))
	for n, i := range items {
		m := msgs[i]
		rows[n] = &messages.ChatMessage{
			Id: newMessageID(), ConversationId: conv, Seq: top - int64(len(items)) + int64(n) + 1,
			SenderId: m.SenderID, Content: m.Content, ClientMsgId: m.ClientMsgID, CreatedAtMs: createdAtMs(m, now),
		}
		results[i] = messages.AppendResult{Message: rows[n]}
	}
	return rows
}

// refuseAll answers every item of a conversation that took no seq: not
// found when the conversation does not exist, else each was refused as a
// non-member already.
func (s *store) refuseAll(ctx context.Context, t tx, conv string, items []int, results []messages.AppendResult) error {
	var n int
	if err := t.queryRow(ctx, qConversationCount, conv).Scan(&n); err != nil {
		return fmt.Errorf("checking conversation: %w", err)
	}
	if n == 0 {
		for _, i := range items {
			results[i] = messages.AppendResult{Err: fmt.Errorf("conversation %s: %w", conv, messages.ErrNotFound)}
		}
	}
	return nil
}

// memberships returns which (sender, conversation) pairs of the items are
// memberships. A conversation's members never change, so a membership
// found once is remembered and costs no query again.
func (s *store) memberships(ctx context.Context, t tx, msgs []messages.NewMessage, items []int) (map[memberKey]bool, error) {
	pairs := make(map[memberKey]bool)
	var args []any
	for _, i := range items {
		k := memberKey{msgs[i].SenderID, msgs[i].ConversationID}
		if _, ok := pairs[k]; ok {
			continue
		}
		pairs[k] = s.members.has(k)
		if !pairs[k] {
			args = append(args, msgs[i].ConversationID, msgs[i].SenderID)
		}
	}
	err := qMemberships.split(args, 2, func(text string, chunk []any) error {
		return each(ctx, t, func(rs rows) error {
			var k memberKey
			err := rs.Scan(&k.conv, &k.user)
			pairs[k] = true
			s.members.add(k)
			return err
		}, text, chunk...)
	})
	if err != nil {
		return nil, fmt.Errorf("checking memberships: %w", err)
	}
	return pairs, nil
}

// memberCache remembers memberships found, up to a bound: past it, it
// starts over rather than grow without end.
type memberCache struct {
	mu   sync.Mutex
	seen map[memberKey]struct{}
}

const memberCacheSize = 200_000

func (c *memberCache) has(k memberKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.seen[k]
	return ok
}

func (c *memberCache) add(k memberKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil || len(c.seen) >= memberCacheSize {
		c.seen = make(map[memberKey]struct{})
	}
	c.seen[k] = struct{}{}
}

// messageFields is the number of columns qInsertMessages binds per message.
const messageFields = 7

// insertSteps are the multi-row INSERTs of the messages.
func insertSteps(rows []*messages.ChatMessage) []*step {
	args := make([]any, 0, len(rows)*messageFields)
	for _, m := range rows {
		args = append(args, m.ConversationId, m.Seq, m.Id, m.SenderId, nullable(m.ClientMsgId), m.Content, m.CreatedAtMs)
	}
	return qInsertMessages.steps(args, messageFields)
}

// watermarkSteps move each sender's watermark to its newest message of the
// batch, in one statement per chunk: a statement costs SQLite as much as a
// row. Each conversation's row is locked already (seqs were taken), so the
// order of these updates cannot deadlock with another process.
func watermarkSteps(rows []*messages.ChatMessage) []*step {
	newest := make(map[memberKey]int64)
	for _, m := range rows {
		k := memberKey{m.SenderId, m.ConversationId}
		newest[k] = max(newest[k], m.Seq)
	}
	keys := make([]memberKey, 0, len(newest))
	for k := range newest {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b memberKey) int { // the lock order
		return cmp.Or(cmp.Compare(a.conv, b.conv), cmp.Compare(a.user, b.user))
	})
	args := make([]any, 0, 3*len(keys))
	for _, k := range keys {
		args = append(args, k.conv, k.user, newest[k])
	}
	return qSetWatermarks.steps(args, 3)
}

// storedOriginals returns the batch's messages already stored, by client
// id, with their ReadBy from before the batch moves any watermark. It costs
// one query per chunk and one per conversation, where a client resending
// many stored messages cost two queries each.
func storedOriginals(ctx context.Context, t tx, msgs []messages.NewMessage) (map[clientKey]*messages.ChatMessage, error) {
	stored := make(map[clientKey]*messages.ChatMessage)
	var args []any
	for _, m := range msgs {
		if m.ClientMsgID != "" {
			args = append(args, m.SenderID, m.ClientMsgID)
		}
	}
	err := qStoredClientIDs.split(args, 2, func(text string, chunk []any) error {
		return each(ctx, t, func(rs rows) error {
			msg, err := scanMessage(rs)
			if err == nil {
				stored[clientKey{msg.SenderId, msg.ClientMsgId}] = msg
			}
			return err
		}, text, chunk...)
	})
	if err != nil {
		return nil, fmt.Errorf("looking up client ids: %w", err)
	}
	members := make(map[string][]member)
	for _, msg := range stored {
		ms, ok := members[msg.ConversationId]
		if !ok {
			if ms, err = membersOf(ctx, t, msg.ConversationId); err != nil {
				return nil, err
			}
			members[msg.ConversationId] = ms
		}
		msg.ReadBy = readBy(msg, ms)
	}
	return stored, nil
}
