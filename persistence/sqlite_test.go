package persistence_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/internal/storetest"
	"github.com/presenced/presenced/messages"
	"github.com/presenced/presenced/persistence"
)

func openSQLite(t *testing.T, path string) *persistence.SQLite {
	t.Helper()
	s, err := persistence.OpenSQLite(t.Context(), path, testLogger(t))
	if err != nil {
		t.Fatalf("OpenSQLite(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) actors.Store {
		return openSQLite(t, filepath.Join(t.TempDir(), "presenced.db"))
	})
}

func TestSQLiteDurable(t *testing.T) {
	storetest.RunDurable(t, func(t *testing.T) (actors.Store, func() actors.Store) {
		path := filepath.Join(t.TempDir(), "presenced.db")
		return openSQLite(t, path), func() actors.Store { return openSQLite(t, path) }
	})
}

func TestSQLiteCreatesFileAndFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	path := filepath.Join(dir, "presenced.db")
	openSQLite(t, path)
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatalf("folder not created: %v", err)
	}
	if perm := info.Mode().Perm(); perm&^fs.FileMode(0o750) != 0 {
		t.Errorf("folder mode %v, want at most 0750", perm)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file not created: %v", err)
	}
}

// TestSQLiteMigratesOnce reopens a database: the migrations already
// recorded are not applied again (they would fail on existing tables).
func TestSQLiteMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "presenced.db")
	first := openSQLite(t, path)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	openSQLite(t, path)
}

func TestSQLiteUnopenable(t *testing.T) {
	// A folder where the file should be: the open fails, without panicking
	// or leaving a pool behind.
	dir := t.TempDir()
	if _, err := persistence.OpenSQLite(t.Context(), dir, testLogger(t)); err == nil {
		t.Fatal("opening a folder as a database succeeded")
	}
}

func TestSQLiteDeadline(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "presenced.db"))
	ctx, cancel := context.WithTimeout(t.Context(), 0)
	defer cancel()
	_, err := s.Conversations(ctx, "alice")
	if !errors.Is(err, messages.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("expired deadline: got %v, want ErrUnavailable and DeadlineExceeded", err)
	}
}

// TestSQLiteCheckpointsInBackground: committed messages are copied from
// the WAL into the database file itself soon after the commit, long before
// the WAL is long enough for the writer to checkpoint in a commit of its
// own (which would make that commit, and every send waiting on it, slow).
func TestSQLiteCheckpointsInBackground(t *testing.T) {
	path := filepath.Join(t.TempDir(), "presenced.db")
	s := openSQLite(t, path)
	conv, _, err := s.CreateConversation(t.Context(), []string{"ann", "bob"})
	if err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return info.Size()
	}
	before := size()
	batch := make([]messages.NewMessage, 100) // ~100 KiB: a few dozen pages
	for i := range batch {
		batch[i] = messages.NewMessage{ConversationID: conv.Id, SenderID: "ann",
			ClientMsgID: fmt.Sprint(i), Content: strings.Repeat("x", 1000)}
	}
	if _, err := s.AppendMessages(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for size() < before+100*1000 {
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes 10 s after a commit of 100 KiB (%d before): the WAL was not checkpointed", size(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testLogger sends the store's logs to the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
