package wstest

import (
	"context"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/transport"
)

// Serve serves e through a transport made with opts on a real HTTP server
// for the rest of the test. At its end the engine shuts down, the
// transport's connections finish, and store is closed, in that order, as
// the binary does it.
func Serve(t testing.TB, e *actors.Engine, opts transport.Options, store io.Closer) *httptest.Server {
	t.Helper()
	srv, err := transport.New(opts, e)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("engine shutdown: %v", err)
		}
		if err := srv.Wait(ctx); err != nil {
			t.Errorf("transport wait: %v", err)
		}
		hs.Close()
		_ = store.Close()
	})
	return hs
}
