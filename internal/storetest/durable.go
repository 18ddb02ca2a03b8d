package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/messages"
)

// OpenDurable returns a fresh, empty durable store, and a function that
// opens the same database again after the first store is closed. Both
// stores are closed when the test ends; closing twice must be harmless.
type OpenDurable func(t *testing.T) (first actors.Store, reopen func() actors.Store)

// RunDurable checks that everything acknowledged survives Close and a
// reopen, that the reopened store carries on (seqs, idempotency), and that
// a closed store answers messages.ErrUnavailable.
func RunDurable(t *testing.T, open OpenDurable) {
	s, reopen := open(t)
	conv := mustCreate(t, s, "alice", "bob")
	group := mustCreate(t, s, "alice", "bob", "carol")
	sent := fill(t, s, conv.Id, "alice", "a", 3)
	mustMark(t, s, conv.Id, "bob", 2)
	seen := base.Add(time.Minute)
	if err := s.SaveUsers(t.Context(), []messages.UserSeen{{ID: "alice", Role: messages.RoleClient, LastSeen: seen}}); err != nil {
		t.Fatalf("SaveUsers: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err := s.Conversation(t.Context(), conv.Id)
	if !errors.Is(err, messages.ErrUnavailable) {
		t.Errorf("closed store: got %v, want ErrUnavailable", err)
	}

	s = reopen()
	got, err := s.Conversation(t.Context(), conv.Id)
	if err != nil || !slices.Equal(got.MemberIds, conv.MemberIds) || got.CreatedAtMs != conv.CreatedAtMs {
		t.Fatalf("conversation after reopen: %v, %v", got, err)
	}
	if again, created, err := s.CreateConversation(t.Context(), []string{"bob", "alice"}); err != nil || created || again.Id != conv.Id {
		t.Errorf("direct pair after reopen: %v created %v, %v", again, created, err)
	}
	if got, err := s.Conversation(t.Context(), group.Id); err != nil || len(got.MemberIds) != 3 {
		t.Errorf("group after reopen: %v, %v", got, err)
	}
	users, err := s.Users(t.Context(), []string{"alice"})
	if err != nil || users["alice"].Role != messages.RoleClient || !users["alice"].LastSeen.Equal(seen) {
		t.Errorf("users after reopen: %+v, %v", users, err)
	}
	page := mustHistory(t, s, messages.HistoryQuery{ConversationID: conv.Id})
	if len(page.Messages) != 3 {
		t.Fatalf("history after reopen: %d messages", len(page.Messages))
	}
	for i, m := range page.Messages {
		sameMessage(t, "message after reopen", m, withReadBy(sent[i], i < 2, "bob"))
	}
	res, err := s.AppendMessages(t.Context(), []messages.NewMessage{
		send(conv.Id, "alice", "a-1", "resent", 0),
		send(conv.Id, "bob", "b", "new", 0),
	})
	if err != nil || !res[0].Duplicate || res[0].Message.Id != sent[1].Id || res[1].Message.Seq != 4 {
		t.Errorf("appending after reopen: %+v, %v", res, err)
	}
}

// withReadBy returns a copy of m read by reader when read is set.
func withReadBy(m *messages.ChatMessage, read bool, reader string) *messages.ChatMessage {
	out := &messages.ChatMessage{
		Id: m.Id, ConversationId: m.ConversationId, Seq: m.Seq, SenderId: m.SenderId,
		Content: m.Content, ClientMsgId: m.ClientMsgId, CreatedAtMs: m.CreatedAtMs,
	}
	if read {
		out.ReadBy = []string{reader}
	}
	return out
}
