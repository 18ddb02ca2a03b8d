package transport_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/internal/pgtest"
	"github.com/presenced/presenced/persistence"
)

// BenchmarkSendReceive measures a message from one real WebSocket to
// another through the whole server: decode, actors, durable store (group
// commit), delivery, encode. "serial" is the latency of one message at a
// time; "pairs=N" is N conversations sending at once, the throughput the
// group commit buys. Run:
//
//	go test -run '^$' -bench SendReceive -benchtime 3000x ./transport/
func BenchmarkSendReceive(b *testing.B) {
	stores := map[string]func(b *testing.B) actors.Store{
		"sqlite": func(b *testing.B) actors.Store {
			s, err := persistence.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "b.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
		"postgres": func(b *testing.B) actors.Store {
			s, err := persistence.OpenPostgres(context.Background(), pgtest.URL(b), nil)
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
	for _, name := range []string{"sqlite", "postgres"} {
		for _, pairs := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("%s/pairs=%d", name, pairs), func(b *testing.B) {
				benchPairs(b, stores[name](b), pairs)
			})
		}
	}
}

func benchPairs(b *testing.B, store actors.Store, pairs int) {
	srv := startBench(b, store)
	type pair struct {
		from, to *websocket.Conn
		conv     string
	}
	ps := make([]pair, pairs)
	for i := range ps {
		a, r := fmt.Sprintf("a%d", i), fmt.Sprintf("r%d", i)
		ps[i] = pair{from: srv.dialRaw(b, a), to: srv.dialRaw(b, r), conv: srv.conversation(b, a, r)}
	}
	per := max(b.N/pairs, 1)
	lat := make([][]time.Duration, pairs)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range ps {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p := ps[i]
			for n := range per {
				t0 := time.Now()
				frame := fmt.Sprintf(`{"type":"send_message","data":{"conversationId":%q,"content":"benchmark message %d","clientMsgId":"b%d"}}`, p.conv, n, n)
				if err := p.from.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
					b.Error(err)
					return
				}
				if err := readUntil(p.to, "new_message"); err != nil {
					b.Error(err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
				if err := readUntil(p.from, "message:sent"); err != nil {
					b.Error(err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) == 0 {
		return
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}

type benchServer struct{ *server }

func startBench(b *testing.B, store actors.Store) benchServer {
	b.Helper()
	s := start(b, func(c *config) {
		c.engine.Store = store
		c.engine.Clock = nil
		c.transport.RatePerSecond = 1e6
		c.transport.RateBurst = 1e6
	})
	b.Cleanup(func() { _ = store.Close() })
	return benchServer{s}
}

func (s benchServer) dialRaw(b *testing.B, user string) *websocket.Conn {
	ws, _, err := websocket.DefaultDialer.Dial("ws"+s.http.URL[4:]+"/ws?user="+user+"&role=CLIENT", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ws.Close() })
	if err := readUntil(ws, "presence:connected"); err != nil {
		b.Fatal(err)
	}
	return ws
}

func (s benchServer) conversation(b *testing.B, a, r string) string {
	conv, err := s.e.CreateConversation(context.Background(), a, "CLIENT", []string{a, r})
	if err != nil {
		b.Fatal(err)
	}
	return conv.Id
}

// readUntil reads frames until one of type typ.
func readUntil(ws *websocket.Conn, typ string) error {
	prefix := `{"type":"` + typ + `"`
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		if len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix {
			return nil
		}
	}
}
