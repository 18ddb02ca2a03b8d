package persistence_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/internal/pgtest"
	"github.com/presenced/presenced/internal/storetest"
	"github.com/presenced/presenced/messages"
	"github.com/presenced/presenced/persistence"
)

func openPostgres(t *testing.T, url string) *persistence.Postgres {
	t.Helper()
	s, err := persistence.OpenPostgres(t.Context(), url, testLogger(t))
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// PostgreSQL takes several write transactions at once: the persistence
// actor must see that, or it commits one batch at a time.
var _ actors.ParallelWriter = (*persistence.Postgres)(nil)

func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) actors.Store {
		return openPostgres(t, pgtest.URL(t))
	})
}

func TestPostgresDurable(t *testing.T) {
	storetest.RunDurable(t, func(t *testing.T) (actors.Store, func() actors.Store) {
		url := pgtest.URL(t)
		return openPostgres(t, url), func() actors.Store { return openPostgres(t, url) }
	})
}

// TestPostgresConcurrentOpen opens several stores on one fresh schema at
// once, as the nodes of a cluster starting together: the advisory lock lets
// one migrate and the others find the schema done.
func TestPostgresConcurrentOpen(t *testing.T) {
	url := pgtest.URL(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := persistence.OpenPostgres(t.Context(), url, testLogger(t))
			if err != nil {
				t.Errorf("OpenPostgres: %v", err)
				return
			}
			_ = s.Close()
		})
	}
	wg.Wait()
}

// TestPostgresTwoProcesses runs two stores (as two nodes) on one database:
// a conversation created on one is the same on the other, and seqs stay
// gapless across both.
func TestPostgresTwoProcesses(t *testing.T) {
	url := pgtest.URL(t)
	a, b := openPostgres(t, url), openPostgres(t, url)
	conv, _, err := a.CreateConversation(t.Context(), []string{"alice", "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if again, created, err := b.CreateConversation(t.Context(), []string{"bob", "alice"}); err != nil || created || again.Id != conv.Id {
		t.Fatalf("other node: %v created %v, %v", again, created, err)
	}
	var wg sync.WaitGroup
	for i, s := range []*persistence.Postgres{a, b, a, b} {
		wg.Go(func() {
			for j := range 25 {
				batch := []messages.NewMessage{
					{ConversationID: conv.Id, SenderID: "alice", ClientMsgID: string(rune('a'+i)) + "-" + string(rune('a'+j)), Content: "x"},
					{ConversationID: conv.Id, SenderID: "bob", ClientMsgID: "shared-" + string(rune('a'+j)), Content: "y"},
				}
				if _, err := s.AppendMessages(t.Context(), batch); err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	page, err := b.History(t.Context(), messages.HistoryQuery{ConversationID: conv.Id, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	// 4 writers x 25 distinct alice messages, plus 25 shared bob ones.
	if len(page.Messages) != 125 {
		t.Fatalf("%d messages, want 125", len(page.Messages))
	}
	for i, m := range page.Messages {
		if m.Seq != int64(i+1) {
			t.Fatalf("seq %d at position %d: gap or duplicate", m.Seq, i)
		}
	}
}

func TestPostgresUnreachable(t *testing.T) {
	// Nothing listens on port 1: the open fails as unavailable, quickly.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, err := persistence.OpenPostgres(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", testLogger(t))
	if !errors.Is(err, messages.ErrUnavailable) {
		t.Errorf("unreachable server: got %v, want ErrUnavailable", err)
	}
}
