package persistence

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// querier runs statements: on a pool, or inside a transaction. Both drivers
// are adapted to it so the store's logic is written once. Queries use $N
// placeholders, which SQLite understands as ordinals too.
type querier interface {
	exec(ctx context.Context, query string, args ...any) error
	query(ctx context.Context, query string, args ...any) (rows, error)
	queryRow(ctx context.Context, query string, args ...any) row
}

// rows is the cursor of a query; Close is idempotent.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// row is a single-row result; Scan reports sql.ErrNoRows (pgx's no-rows
// error matches it with errors.Is) when there is none.
type row interface {
	Scan(dest ...any) error
}

// tx is a transaction; rollback after commit is harmless.
type tx interface {
	querier
	// pipeline runs steps in order and stops at the first error. A driver
	// that can sends them all at once: one round trip instead of one each.
	pipeline(ctx context.Context, steps []*step) error
	commit(ctx context.Context) error
	rollback(ctx context.Context) error
}

// step is one statement of a pipeline; when each is set, it is called
// with every row the statement returns.
type step struct {
	query string
	args  []any
	each  func(rows) error
}

// run runs a step on q, for drivers that cannot pipeline.
func (st *step) run(ctx context.Context, q querier) error {
	if st.each != nil {
		return each(ctx, q, st.each, st.query, st.args...)
	}
	return q.exec(ctx, st.query, st.args...)
}

// backend is what a database driver gives the shared store logic.
type backend interface {
	// beginWrite starts a read-write transaction.
	beginWrite(ctx context.Context) (tx, error)
	// beginRead starts a read-only transaction that sees one snapshot.
	beginRead(ctx context.Context) (tx, error)
	// reader runs single statements outside a transaction.
	reader() querier
	// lockClause is appended to a SELECT that must lock its row.
	lockClause() string
	// oneWriter: the database takes one write transaction at a time, so
	// the order a statement locks rows in cannot deadlock another.
	oneWriter() bool
	// uniqueViolation, retryable and unavailable classify driver errors.
	uniqueViolation(err error) bool
	retryable(err error) bool
	unavailable(err error) bool
	ping(ctx context.Context) error
	close() error
}

// each runs a query and calls fn on every row.
func each(ctx context.Context, q querier, fn func(rows) error, query string, args ...any) error {
	rs, err := q.query(ctx, query, args...)
	if err != nil {
		return err
	}
	return forRows(rs, fn)
}

// forRows calls fn on every row of rs, and closes it.
func forRows(rs rows, fn func(rows) error) error {
	defer rs.Close()
	for rs.Next() {
		if err := fn(rs); err != nil {
			return err
		}
	}
	return rs.Err()
}

// queryAll scans every row of a query with scan.
func queryAll[T any](ctx context.Context, q querier, scan func(rows) (T, error), query string, args ...any) ([]T, error) {
	var out []T
	err := each(ctx, q, func(rs rows) error {
		v, err := scan(rs)
		if err == nil {
			out = append(out, v)
		}
		return err
	}, query, args...)
	return out, err
}

func scanString(rs rows) (string, error) {
	var s string
	err := rs.Scan(&s)
	return s, err
}

// placeholders returns "$from, $from+1, ..." for n arguments.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", from+i)
	}
	return b.String()
}

// chunkSize bounds the arguments of an IN list, well below both databases'
// limits on bound parameters.
const chunkSize = 500

// inChunks calls fn with successive slices of at most chunkSize ids.
func inChunks(ids []string, fn func([]string) error) error {
	for len(ids) > 0 {
		n := min(len(ids), chunkSize)
		if err := fn(ids[:n]); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// isNoRows reports whether a single-row query found nothing.
func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
