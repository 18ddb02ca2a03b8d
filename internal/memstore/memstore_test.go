package memstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/internal/memstore"
	"github.com/presenced/presenced/internal/storetest"
	"github.com/presenced/presenced/messages"
)

var _ actors.Store = (*memstore.Store)(nil)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) actors.Store {
		s := memstore.New()
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestUnavailable(t *testing.T) {
	s := memstore.New()
	conv, _, err := s.CreateConversation(t.Context(), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	s.SetUnavailable(true)
	calls := map[string]error{
		"Ping": s.Ping(t.Context()),
	}
	_, calls["Conversation"] = s.Conversation(t.Context(), conv.Id)
	_, _, calls["CreateConversation"] = s.CreateConversation(t.Context(), []string{"a", "c"})
	_, calls["AppendMessages"] = s.AppendMessages(t.Context(), []messages.NewMessage{{ConversationID: conv.Id, SenderID: "a"}})
	_, calls["MarkRead"] = s.MarkRead(t.Context(), []messages.ReadMark{{ConversationID: conv.Id, UserID: "a"}})
	_, calls["History"] = s.History(t.Context(), messages.HistoryQuery{ConversationID: conv.Id})
	_, calls["Unread"] = s.Unread(t.Context(), "a")
	_, calls["Conversations"] = s.Conversations(t.Context(), "a")
	_, calls["Contacts"] = s.Contacts(t.Context(), "a")
	_, calls["Users"] = s.Users(t.Context(), []string{"a"})
	calls["SaveUsers"] = s.SaveUsers(t.Context(), []messages.UserSeen{{ID: "a"}})
	for name, err := range calls {
		if !errors.Is(err, messages.ErrUnavailable) {
			t.Errorf("%s: got %v, want ErrUnavailable", name, err)
		}
	}
	s.SetUnavailable(false)
	page, err := s.History(t.Context(), messages.HistoryQuery{ConversationID: conv.Id})
	if err != nil || len(page.Messages) != 0 {
		t.Errorf("after recovery: %+v, %v: nothing may have been stored while unavailable", page, err)
	}
	if got := s.AppendCalls(); got != 1 {
		t.Errorf("AppendCalls = %d, want 1", got)
	}
}

func TestAppendHook(t *testing.T) {
	s := memstore.New()
	conv, _, _ := s.CreateConversation(t.Context(), []string{"a", "b"})
	boom := errors.New("boom")
	s.SetAppendHook(func(_ context.Context, batch []messages.NewMessage) error {
		if len(batch) == 2 {
			return boom
		}
		return nil
	})
	msg := messages.NewMessage{ConversationID: conv.Id, SenderID: "a", ClientMsgID: "1"}
	if _, err := s.AppendMessages(t.Context(), []messages.NewMessage{msg, msg}); !errors.Is(err, boom) {
		t.Fatalf("hook error: got %v", err)
	}
	res, err := s.AppendMessages(t.Context(), []messages.NewMessage{msg})
	if err != nil || res[0].Duplicate || res[0].Message.Seq != 1 {
		t.Errorf("after a failed batch: %+v, %v; want seq 1, nothing of the failed batch stored", res, err)
	}
	if got := s.AppendCalls(); got != 2 {
		t.Errorf("AppendCalls = %d, want 2", got)
	}
}
