package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/presenced/presenced/internal/tcpproxy"
)

// EnvURL names the environment variable holding the test database's URL.
const EnvURL = "PRESENCED_TEST_POSTGRES_URL"

// DefaultURL is the test database when EnvURL is unset: the local cluster,
// trust authentication, database test.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// StartHint tells how to start the local cluster.
const StartHint = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"

// BaseURL returns the test database's URL.
func BaseURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// URL creates a fresh schema in the test database, drops it when t ends,
// and returns a URL whose connections use that schema (search_path).
func URL(t testing.TB) string {
	t.Helper()
	base := BaseURL()
	schema := "t_" + randomHex(8)
	if err := run(base, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("PostgreSQL test database unreachable (%s=%q): %v\nstart it with: %s",
			EnvURL, redact(base), err, StartHint)
	}
	t.Cleanup(func() {
		if err := run(base, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping test schema %s: %v", schema, err)
		}
	})
	return withSearchPath(base, schema)
}

// run executes one statement on a connection of its own; it must work from
// a Cleanup too, after the test's context is done.
func run(base, stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, stmt)
	return err
}

// withSearchPath adds search_path to a URL, or to a keyword/value string.
func withSearchPath(base, schema string) string {
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		return base + " search_path=" + schema
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// redact hides a password in a URL before it is printed.
func redact(base string) string {
	u, err := url.Parse(base)
	if err != nil || u.User == nil {
		return base
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails: crypto/rand aborts the program instead
	return hex.EncodeToString(b)
}

// Cuttable is URL reached through a proxy that the test can cut and
// restore, to play a database outage. connect_timeout=2 makes a store
// notice the outage in seconds rather than at the driver's default.
func Cuttable(t testing.TB) (string, *tcpproxy.Proxy) {
	t.Helper()
	u, err := url.Parse(URL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := tcpproxy.Start(t, u.Host)
	u.Host = proxy.Addr
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	return u.String(), proxy
}
