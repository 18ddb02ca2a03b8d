package transport_test

import (
	"context"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/pgtest"
	"github.com/presenced/presenced/internal/wstest"
	"github.com/presenced/presenced/persistence"
)

// TestStoreOutage runs on the real Postgres behind a proxy that the test
// cuts: sends are refused with unavailable (never a false message:sent),
// /readyz turns 503, presence keeps working, and everything recovers by
// itself when the database is back.
func TestStoreOutage(t *testing.T) {
	dbURL, proxy := pgtest.Cuttable(t)
	store, err := persistence.OpenPostgres(context.Background(), dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, func(c *config) { c.engine.Store = store })
	t.Cleanup(func() { _ = store.Close() })

	conv := s.converse("alice", "bob")
	alice, _ := s.dial("alice", "CLIENT")
	bob, _ := s.dial("bob", "FREELANCER")
	send(alice, "warm", conv, "before", "m0")
	alice.Until("message:sent")
	bob.Until("new_message")

	proxy.Cut()
	send(alice, "down", conv, "during", "m1")
	alice.ExpectErrorSkipping("unavailable", "down")
	if status, _ := s.api("GET", "/readyz", "", ""); status != 503 {
		t.Fatalf("readyz %d while the store is down, want 503", status)
	}
	// Presence does not need the store.
	s.clock.Advance(time.Second)
	bob.Send("chat:focus", "", map[string]any{"partnerId": "alice"})
	if got := update(t, alice)["bob"].Status; got != "online" {
		t.Fatalf("alice sees bob %s", got)
	}
	carol := wstest.Dial(t, wstest.WSURL(s.http.URL, "user=carol&role=CLIENT"), nil)
	carol.Expect("presence:connected")

	proxy.Restore()
	deadline := time.Now().Add(wstest.Wait)
	for status, _ := s.api("GET", "/readyz", "", ""); status != 200; status, _ = s.api("GET", "/readyz", "", "") {
		if time.Now().After(deadline) {
			t.Fatalf("readyz still %d after the store came back", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	send(alice, "retry", conv, "during", "m1")
	var ack sent
	alice.Until("message:sent").Decode(t, &ack)
	if ack.Message.Seq != 2 || ack.Message.ClientMsgID != "m1" {
		t.Fatalf("after recovery: %+v", ack.Message)
	}
}
