package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/presenced/presenced/messages"
)

// AppendMessages stores a batch atomically. Per item: a (SenderID,
// ClientMsgID) already stored answers the original with Duplicate set; an
// unknown conversation gives Err ErrNotFound, a non-member sender
// ErrForbidden. A new message takes the conversation's next seq and moves
// the sender's watermark to it. Items are applied grouped by conversation,
// in the caller's order within one, as persistence does.
func (s *Store) AppendMessages(ctx context.Context, msgs []messages.NewMessage) ([]messages.AppendResult, error) {
	s.mu.Lock()
	s.appendCalls++
	hook := s.appendHook
	s.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, msgs); err != nil {
			return nil, fmt.Errorf("appending messages: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, "appending messages"); err != nil {
		return nil, err
	}
	order := make([]int, len(msgs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		return cmp.Compare(msgs[i].ConversationID, msgs[j].ConversationID)
	})
	results := make([]messages.AppendResult, len(msgs))
	for _, i := range order {
		results[i] = s.appendOne(msgs[i])
	}
	return results, nil
}

func (s *Store) appendOne(nm messages.NewMessage) messages.AppendResult {
	if nm.ClientMsgID != "" {
		if r, ok := s.clientID[clientKey{nm.SenderID, nm.ClientMsgID}]; ok {
			return messages.AppendResult{Message: s.convs[r.convID].message(r), Duplicate: true}
		}
	}
	c, ok := s.convs[nm.ConversationID]
	if !ok {
		return messages.AppendResult{Err: fmt.Errorf("conversation %s: %w", nm.ConversationID, messages.ErrNotFound)}
	}
	if !c.isMember(nm.SenderID) {
		return messages.AppendResult{Err: fmt.Errorf("%s in %s: %w", nm.SenderID, nm.ConversationID, messages.ErrForbidden)}
	}
	createdAt := nm.CreatedAt
	if createdAt.IsZero() {
		createdAt = time.Now()
	}
	r := &record{
		id:          newID("m-"),
		convID:      c.id,
		sender:      nm.SenderID,
		clientMsgID: nm.ClientMsgID,
		content:     nm.Content,
		seq:         int64(len(c.msgs)) + 1,
		createdAt:   createdAt.UnixMilli(),
	}
	c.msgs = append(c.msgs, r)
	c.lastRead[r.sender] = r.seq
	if r.clientMsgID != "" {
		s.clientID[clientKey{r.sender, r.clientMsgID}] = r
	}
	return messages.AppendResult{Message: c.message(r)}
}

// MarkRead moves read watermarks forward (never back, never past the
// conversation's last seq). Per item: ErrNotFound for an unknown
// conversation, ErrForbidden for a non-member.
func (s *Store) MarkRead(ctx context.Context, marks []messages.ReadMark) ([]messages.ReadResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.markCalls++
	if err := s.check(ctx, "marking read"); err != nil {
		return nil, err
	}
	if len(marks) == 0 {
		return nil, nil
	}
	results := make([]messages.ReadResult, len(marks))
	for i, mk := range marks {
		results[i] = s.markRead(mk)
	}
	return results, nil
}

func (s *Store) markRead(mk messages.ReadMark) messages.ReadResult {
	c, ok := s.convs[mk.ConversationID]
	if !ok {
		return messages.ReadResult{Err: fmt.Errorf("conversation %s: %w", mk.ConversationID, messages.ErrNotFound)}
	}
	if !c.isMember(mk.UserID) {
		return messages.ReadResult{Err: fmt.Errorf("%s in %s: %w", mk.UserID, mk.ConversationID, messages.ErrForbidden)}
	}
	old := c.lastRead[mk.UserID]
	target := min(mk.UpToSeq, int64(len(c.msgs)))
	if target <= old {
		return messages.ReadResult{UpToSeq: old}
	}
	c.lastRead[mk.UserID] = target
	var senders []string
	for _, r := range c.msgs[old:target] {
		if r.sender != mk.UserID {
			senders = append(senders, r.sender)
		}
	}
	slices.Sort(senders)
	return messages.ReadResult{UpToSeq: target, Moved: true, CoveredSenders: slices.Compact(senders)}
}

// History returns a page of a conversation, oldest first, as
// messages.HistoryQuery documents; Limit defaults to 50 and is capped at
// 200. An unknown conversation is ErrNotFound.
func (s *Store) History(ctx context.Context, q messages.HistoryQuery) (messages.HistoryPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, "loading history of "+q.ConversationID); err != nil {
		return messages.HistoryPage{}, err
	}
	c, ok := s.convs[q.ConversationID]
	if !ok {
		return messages.HistoryPage{}, fmt.Errorf("loading history of %s: %w", q.ConversationID, messages.ErrNotFound)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultHistoryLimit
	}
	limit = min(limit, maxHistoryLimit)
	// The window of seqs strictly between after and before, as indexes.
	lo := int(min(max(q.AfterSeq, 0), int64(len(c.msgs))))
	hi := len(c.msgs)
	if q.BeforeSeq > 0 {
		hi = int(min(q.BeforeSeq-1, int64(len(c.msgs))))
	}
	hi = max(hi, lo)
	page := messages.HistoryPage{HasMore: hi-lo > limit}
	if q.Forwards() {
		hi = min(hi, lo+limit) // the oldest of the window
	} else {
		lo = max(lo, hi-limit) // the newest of the window
	}
	for _, r := range c.msgs[lo:hi] {
		page.Messages = append(page.Messages, c.message(r))
	}
	return page, nil
}
