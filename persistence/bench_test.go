package persistence_test

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/internal/pgtest"
	"github.com/presenced/presenced/messages"
	"github.com/presenced/presenced/persistence"
)

// The append benchmarks measure group commit: one AppendMessages call per
// iteration, each a transaction of batch new messages spread over convs
// conversations, as the persistence actor sends them. msgs/s and the p99 of
// a commit are what count. With many conversations a commit touches a page
// per conversation, whatever the batch: that is the server's case under
// load (the load tool's 100 pairs).

func BenchmarkAppendSQLite(b *testing.B) {
	benchAppend(b, func(b *testing.B) actors.Store {
		s, err := persistence.OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "bench.db"), slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func BenchmarkAppendPostgres(b *testing.B) {
	benchAppend(b, func(b *testing.B) actors.Store {
		s, err := persistence.OpenPostgres(b.Context(), pgtest.URL(b), slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func benchAppend(b *testing.B, open func(*testing.B) actors.Store) {
	for _, c := range []struct{ convs, size int }{{4, 1}, {4, 16}, {4, 128}, {100, 128}} {
		name := fmt.Sprintf("batch=%d", c.size)
		if c.convs != 4 {
			name = fmt.Sprintf("convs=%d/batch=%d", c.convs, c.size)
		}
		b.Run(name, func(b *testing.B) {
			s := open(b)
			var convs, senders []string
			for i := range c.convs {
				sender := fmt.Sprintf("alice%d", i)
				conv, _, err := s.CreateConversation(b.Context(), []string{sender, fmt.Sprintf("bob%d", i)})
				if err != nil {
					b.Fatal(err)
				}
				convs, senders = append(convs, conv.Id), append(senders, sender)
			}
			batch := make([]messages.NewMessage, c.size)
			sent := 0
			var took []time.Duration
			for b.Loop() {
				for i := range batch {
					batch[i] = messages.NewMessage{
						ConversationID: convs[sent%len(convs)],
						SenderID:       senders[sent%len(convs)],
						ClientMsgID:    fmt.Sprintf("m%d", sent),
						Content:        "a message of ordinary length, about sixty bytes long",
						CreatedAt:      time.Now(),
					}
					sent++
				}
				start := time.Now()
				if _, err := s.AppendMessages(b.Context(), batch); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "msgs/s")
			// A message waits for its batch's commit: the slow commits are
			// the message latency's tail.
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
