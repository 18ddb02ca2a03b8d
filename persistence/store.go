package persistence

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// maxTxAttempts bounds the retries of a write transaction that lost a
// deadlock or serialization race against another process.
const maxTxAttempts = 4

// store is the dialect-independent implementation of the Store interface;
// SQLite and Postgres embed it.
type store struct {
	db      backend
	log     *slog.Logger
	now     func() time.Time
	closed  atomic.Bool
	members memberCache
	// resending: unix ns until which batches look their client ids up
	// first, after one was refused (see AppendMessages).
	resending atomic.Int64
}

func newStore(db backend, logger *slog.Logger) *store {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &store{db: db, log: logger, now: time.Now}
}

// Ping checks the store can serve (readiness).
func (s *store) Ping(ctx context.Context) error {
	return s.fail("pinging", s.db.ping(ctx))
}

// Close releases the store. Transactions in flight complete first: both
// drivers wait for their connections to come back before closing them.
func (s *store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.db.close(); err != nil {
		return fmt.Errorf("closing store: %v", err)
	}
	return nil
}

// inWriteTx runs fn in a write transaction and commits it. fn may run more
// than once (after a deadlock with another process), so it must build its
// results from scratch each time.
func (s *store) inWriteTx(ctx context.Context, fn func(tx) error) error {
	return s.inWriteTxRetrying(ctx, nil, fn)
}

// inWriteTxRetrying is inWriteTx that also retries on the errors also
// reports.
func (s *store) inWriteTxRetrying(ctx context.Context, also func(error) bool, fn func(tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.runTx(ctx, s.db.beginWrite, fn)
		retry := err != nil && (s.db.retryable(err) || also != nil && also(err))
		if !retry || attempt == maxTxAttempts {
			return err
		}
		s.log.Debug("retrying write transaction", "attempt", attempt, "err", err)
	}
}

// inReadTx runs fn in a read-only snapshot, for reads made of several
// queries that must agree with each other.
func (s *store) inReadTx(ctx context.Context, fn func(tx) error) error {
	return s.runTx(ctx, s.db.beginRead, fn)
}

func (s *store) runTx(ctx context.Context, begin func(context.Context) (tx, error), fn func(tx) error) (err error) {
	t, err := begin(ctx)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer func() {
		if err != nil {
			// The caller's context may be done already; the rollback must
			// still reach the server to free the connection promptly.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = t.rollback(rctx)
		}
	}()
	if err = fn(t); err != nil {
		return err
	}
	if err = t.commit(ctx); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// sortableEncoding is base32 in ASCII order, so that encoded ids sort as
// their bytes do.
var sortableEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newMessageID returns "m-" followed by 26 characters: 48 bits of the time
// in milliseconds, then 80 random bits. Unique across processes without
// coordination, and increasing with time, so that inserting one touches the
// right edge of the id index rather than a random page of it (with random
// ids, every message of a commit dirtied a page of its own).
func newMessageID() string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	_, _ = rand.Read(b[6:])
	return "m-" + sortableEncoding.EncodeToString(b[:])
}

// newID returns prefix followed by 26 characters of 128 random bits: unique
// across processes without coordination, and a valid id of PROTOCOL.md.
func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand aborts the program instead
	return prefix + idEncoding.EncodeToString(b[:])
}

// directKey identifies the pair of a direct conversation in either order.
// The length prefix keeps it unambiguous whatever the ids contain (Postgres
// text cannot hold the NUL byte a plain separator would need).
func directKey(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return fmt.Sprintf("%d:%s/%s", len(a), a, b)
}

// nullable stores the empty string as NULL, so that messages without a
// client id never collide on UNIQUE(sender_id, client_msg_id).
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// millis converts a time to the unix milliseconds the schema stores; the
// zero time is 0.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMillis is the inverse of millis.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
