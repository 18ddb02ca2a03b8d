package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/messages"
)

// Open returns a fresh, empty store for one test and closes it when the
// test ends (t.Cleanup).
type Open func(t *testing.T) actors.Store

// base is the actors' clock in the suite: messages are stamped relative to
// it, far from the stores' own clock that stamps conversations.
var base = time.UnixMilli(1_764_355_200_000)

// Run runs the conformance suite, each subtest on a store of its own.
func Run(t *testing.T, open Open) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, actors.Store)
	}{
		{"CreateDirectIdempotent", testCreateDirectIdempotent},
		{"CreateDirectConcurrent", testCreateDirectConcurrent},
		{"CreateGroup", testCreateGroup},
		{"CreateInvalidMembers", testCreateInvalidMembers},
		{"ConversationNotFound", testConversationNotFound},
		{"Contacts", testContacts},
		{"SaveUsersUpsert", testSaveUsersUpsert},
		{"AppendSeqGapless", testAppendSeqGapless},
		{"AppendConcurrentSenders", testAppendConcurrentSenders},
		{"AppendIdempotent", testAppendIdempotent},
		{"AppendConcurrentDuplicates", testAppendConcurrentDuplicates},
		{"AppendItemErrors", testAppendItemErrors},
		{"AppendMovesSenderWatermark", testAppendMovesSenderWatermark},
		{"MarkReadForwardAndCapped", testMarkReadForwardAndCapped},
		{"MarkReadCoveredSenders", testMarkReadCoveredSenders},
		{"MarkReadItemErrors", testMarkReadItemErrors},
		{"HistoryPaging", testHistoryPaging},
		{"HistoryLimitCap", testHistoryLimitCap},
		{"HistoryReadBy", testHistoryReadBy},
		{"HistoryNotFound", testHistoryNotFound},
		{"Unread", testUnread},
		{"ConversationsOrderAndState", testConversationsOrderAndState},
		{"Ping", testPing},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// send builds a message stamped at base plus offset.
func send(convID, sender, clientMsgID, content string, offset time.Duration) messages.NewMessage {
	return messages.NewMessage{
		ConversationID: convID,
		SenderID:       sender,
		ClientMsgID:    clientMsgID,
		Content:        content,
		CreatedAt:      base.Add(offset),
	}
}

func mustCreate(t *testing.T, s actors.Store, members ...string) *messages.Conversation {
	t.Helper()
	conv, _, err := s.CreateConversation(t.Context(), members)
	if err != nil {
		t.Fatalf("CreateConversation(%v): %v", members, err)
	}
	return conv
}

// mustAppend appends a batch and fails on a batch error or an item error.
func mustAppend(t *testing.T, s actors.Store, msgs ...messages.NewMessage) []*messages.ChatMessage {
	t.Helper()
	res, err := s.AppendMessages(t.Context(), msgs)
	if err != nil {
		t.Fatalf("AppendMessages: %v", err)
	}
	if len(res) != len(msgs) {
		t.Fatalf("AppendMessages: %d results for %d messages", len(res), len(msgs))
	}
	out := make([]*messages.ChatMessage, len(res))
	for i, r := range res {
		if r.Err != nil || r.Message == nil {
			t.Fatalf("AppendMessages item %d: err %v, message %v", i, r.Err, r.Message)
		}
		out[i] = r.Message
	}
	return out
}

// fill appends n messages from sender, one batch, client ids prefix-0....
func fill(t *testing.T, s actors.Store, convID, sender, prefix string, n int) []*messages.ChatMessage {
	t.Helper()
	batch := make([]messages.NewMessage, n)
	for i := range batch {
		batch[i] = send(convID, sender, fmt.Sprintf("%s-%d", prefix, i), fmt.Sprintf("%s %d", prefix, i), time.Duration(i)*time.Millisecond)
	}
	return mustAppend(t, s, batch...)
}

func mustMark(t *testing.T, s actors.Store, convID, userID string, upTo int64) messages.ReadResult {
	t.Helper()
	res, err := s.MarkRead(t.Context(), []messages.ReadMark{{ConversationID: convID, UserID: userID, UpToSeq: upTo}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("MarkRead(%s, %s, %d): %v %+v", convID, userID, upTo, err, res)
	}
	return res[0]
}

func mustHistory(t *testing.T, s actors.Store, q messages.HistoryQuery) messages.HistoryPage {
	t.Helper()
	page, err := s.History(t.Context(), q)
	if err != nil {
		t.Fatalf("History(%+v): %v", q, err)
	}
	return page
}

func mustConversations(t *testing.T, s actors.Store, userID string) []messages.ConversationSummary {
	t.Helper()
	sums, err := s.Conversations(t.Context(), userID)
	if err != nil {
		t.Fatalf("Conversations(%s): %v", userID, err)
	}
	return sums
}

func seqs(msgs []*messages.ChatMessage) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Seq
	}
	return out
}

func seqRange(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// sameMessage compares two messages field by field; a nil ReadBy equals an
// empty one.
func sameMessage(t *testing.T, what string, got, want *messages.ChatMessage) {
	t.Helper()
	if got == nil || want == nil {
		if got != want {
			t.Errorf("%s: got %v, want %v", what, got, want)
		}
		return
	}
	if got.Id != want.Id || got.ConversationId != want.ConversationId || got.Seq != want.Seq ||
		got.SenderId != want.SenderId || got.Content != want.Content ||
		got.ClientMsgId != want.ClientMsgId || got.CreatedAtMs != want.CreatedAtMs {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
	if !sameStrings(got.ReadBy, want.ReadBy) {
		t.Errorf("%s: ReadBy %v, want %v", what, got.ReadBy, want.ReadBy)
	}
}

func sameStrings(a, b []string) bool {
	return len(a) == 0 && len(b) == 0 || slices.Equal(a, b)
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

func testPing(t *testing.T, s actors.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Ping(ctx); err == nil {
		t.Errorf("Ping with a cancelled context succeeded")
	}
}
