package persistence

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/presenced/presenced/messages"
)

// TestSQLiteBusyIsUnavailable takes the write lock on one connection and
// asks for it on another that will not wait: the SQLITE_BUSY it gets must
// reach callers as ErrUnavailable, its driver type flattened away.
func TestSQLiteBusyIsUnavailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	holder, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	hold, err := holder.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	if _, err := hold.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = hold.ExecContext(context.Background(), "ROLLBACK") }()

	waiter, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close()
	_, busy := waiter.ExecContext(t.Context(), "BEGIN IMMEDIATE")
	if busy == nil {
		t.Fatal("a second writer got the lock")
	}
	db := &sqliteDB{}
	if !db.unavailable(busy) {
		t.Fatalf("SQLITE_BUSY (%v) not classified unavailable", busy)
	}
	s := newStore(db, nil)
	err = s.fail("appending", busy)
	if !errors.Is(err, messages.ErrUnavailable) {
		t.Errorf("fail(busy) = %v, want ErrUnavailable", err)
	}
	var driverErr interface{ Code() int }
	if errors.As(err, &driverErr) {
		t.Errorf("the driver's error type leaked out: %T", driverErr)
	}
}

func TestFailKeepsSentinelsAndFlattensTheRest(t *testing.T) {
	s := newStore(&sqliteDB{}, nil)
	for _, target := range []error{messages.ErrNotFound, messages.ErrForbidden} {
		if err := s.fail("op", target); !errors.Is(err, target) {
			t.Errorf("fail(%v) = %v", target, err)
		}
	}
	ce := messages.Errorf(messages.CodeInvalidPayload, "bad")
	if err := s.fail("op", ce); err != ce {
		t.Errorf("a client error was rewrapped: %v", err)
	}
	if err := s.fail("op", context.DeadlineExceeded); !errors.Is(err, messages.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v", err)
	}
	other := errors.New("syntax error")
	if err := s.fail("op", other); errors.Is(err, other) || errors.Is(err, messages.ErrUnavailable) || err == nil {
		t.Errorf("a driver error must be flattened and not unavailable: %v", err)
	}
	if s.fail("op", nil) != nil {
		t.Error("fail(nil) != nil")
	}
}
