package transport

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/internal/memstore"
)

// A buffer pushed to be handed back is handed back only once its frame is
// written: the registry builds the next greeting in it.
func TestReturnedBufferComesBackOnlyOnceWritten(t *testing.T) {
	ws, c := serveOne(t)

	// Larger than every socket buffer between the two: while the client
	// does not read, the write cannot complete.
	frame := make([]byte, 32<<20)
	var returned atomic.Bool
	if !c.PushReturned(frame, func([]byte) { returned.Store(true) }) {
		t.Fatal("push refused")
	}
	until(t, "the write to start", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.writing && len(c.queue) == 0
	})
	if returned.Load() {
		t.Fatal("the buffer came back while its frame was still being written")
	}
	for { // the greeting, then the big frame
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == len(frame) {
			break
		}
	}
	until(t, "the buffer to come back", returned.Load)
}

// serveOne serves a transport on a real HTTP server for the rest of the
// test and connects one client: the client's socket and the server's side
// of it. (wstest.Serve does the same for other packages; it imports this
// one, so this package's own tests cannot use it.)
func serveOne(t *testing.T) (*websocket.Conn, *conn) {
	t.Helper()
	e, err := actors.New(actors.Options{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Auth: AuthOptions{Mode: AuthDev}}, e)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
		_ = srv.Wait(ctx)
		hs.Close()
	})
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+"/ws?user=alice&role=CLIENT", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws, eventuallyConn(t, srv)
}

func eventuallyConn(t *testing.T, srv *Server) *conn {
	t.Helper()
	var got *conn
	until(t, "the connection to be served", func() bool {
		srv.pings.mu.Lock()
		defer srv.pings.mu.Unlock()
		for c := range srv.pings.conns {
			got = c
		}
		return got != nil
	})
	return got
}

// until probes cond for up to five seconds.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited too long for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A frame the client has read no longer counts as unwritten: the registry
// holds a viewer's next change for a whole coalescing window while its
// connection has a frame unwritten, so counting it until after the write
// returned held changes behind frames the client already had.
func TestAFrameReadIsNoLongerUnwritten(t *testing.T) {
	ws, c := serveOne(t)
	if _, _, err := ws.ReadMessage(); err != nil { // the greeting
		t.Fatal(err)
	}
	for i := range 2000 {
		if !c.Push([]byte(`{"type":"x"}`)) {
			t.Fatal("push refused")
		}
		if _, _, err := ws.ReadMessage(); err != nil {
			t.Fatal(err)
		}
		if n := c.Unwritten(); n != 0 {
			t.Fatalf("frame %d read by the client, %d still unwritten", i, n)
		}
	}
}
