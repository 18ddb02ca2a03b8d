package persistence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is the Store on a PostgreSQL database, which the nodes of a
// cluster share. Its methods are those of the actors' Store interface.
type Postgres struct {
	*store
	lanes int
}

// WriteLanes is how many batches of writes the server may commit at once:
// half the pool, the other half left to reads (history, contacts). Each
// commit's round trips then overlap another's instead of queueing behind
// them.
func (p *Postgres) WriteLanes() int { return p.lanes }

// migrationLock is the advisory lock key that serializes the nodes of a
// cluster migrating one database at once; its value is arbitrary.
const migrationLock = `SELECT pg_advisory_xact_lock(7301944720375120915)`

// OpenPostgres connects to the database at url and applies the missing
// migrations. Pool settings ride on the URL (pool_max_conns,
// pool_max_conn_lifetime, ... as pgxpool reads them), and so does
// search_path. An unreachable server is an error wrapping
// messages.ErrUnavailable.
func OpenPostgres(ctx context.Context, url string, logger *slog.Logger) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parsing postgres url: %v", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("creating postgres pool: %v", err)
	}
	s := newStore(&pgDB{pool: pool}, logger)
	if err := s.migrate(ctx, "postgres", migrationLock); err != nil {
		pool.Close()
		return nil, s.fail("migrating postgres", err)
	}
	s.log.Info("opened postgres store", "host", cfg.ConnConfig.Host, "database", cfg.ConnConfig.Database)
	return &Postgres{s, max(1, int(cfg.MaxConns)/2)}, nil
}

// pgDB is the backend on pgx's pool.
type pgDB struct {
	pool *pgxpool.Pool
}

// beginWrite uses READ COMMITTED: the row lock of the seq increment orders
// concurrent appends, and a statement after the wait sees the winner's rows.
func (d *pgDB) beginWrite(ctx context.Context) (tx, error) {
	t, err := d.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return nil, err
	}
	return pgTx{pgQuerier{t}, t}, nil
}

func (d *pgDB) beginRead(ctx context.Context) (tx, error) {
	t, err := d.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	return pgTx{pgQuerier{t}, t}, nil
}

func (d *pgDB) reader() querier { return pgQuerier{d.pool} }

func (d *pgDB) lockClause() string { return " FOR UPDATE" }

// oneWriter is false: members append at once, so they lock
// conversations' rows in id order first, so that they never deadlock.
func (d *pgDB) oneWriter() bool { return false }

func (d *pgDB) uniqueViolation(err error) bool { return sqlState(err) == "23505" }

// retryable: a deadlock or a serialization failure against another node's
// transaction; running it again usually succeeds.
func (d *pgDB) retryable(err error) bool {
	code := sqlState(err)
	return code == "40P01" || code == "40001"
}

// unavailable: the server cannot be reached, is starting or stopping, is
// out of resources, cancelled the statement, or kept losing races.
func (d *pgDB) unavailable(err error) bool {
	if code := sqlState(err); code != "" {
		switch {
		case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"), strings.HasPrefix(code, "57"):
			return true
		}
		return d.retryable(err)
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func (d *pgDB) ping(ctx context.Context) error { return d.pool.Ping(ctx) }

func (d *pgDB) close() error {
	d.pool.Close()
	return nil
}

// sqlState is the SQLSTATE of a server error, or "".
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// pgRunner is what the pool and a transaction share.
type pgRunner interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// pgQuerier adapts pgx to querier.
type pgQuerier struct{ r pgRunner }

func (q pgQuerier) exec(ctx context.Context, query string, args ...any) error {
	_, err := q.r.Exec(ctx, query, args...)
	return err
}

func (q pgQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	return q.r.Query(ctx, query, args...)
}

func (q pgQuerier) queryRow(ctx context.Context, query string, args ...any) row {
	return q.r.QueryRow(ctx, query, args...)
}

type pgTx struct {
	pgQuerier
	t pgx.Tx
}

// pipeline sends the steps in one batch and reads their results in order.
// After a failed statement the server skips the rest of the batch and the
// transaction is aborted, up to the caller's savepoint if it set one.
func (t pgTx) pipeline(ctx context.Context, steps []*step) (err error) {
	b := &pgx.Batch{}
	for _, st := range steps {
		b.Queue(st.query, st.args...)
	}
	br := t.t.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	for _, st := range steps {
		if st.each != nil {
			rs, err := br.Query()
			if err != nil {
				return err
			}
			if err := forRows(rs, st.each); err != nil {
				return err
			}
			continue
		}
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	return nil
}

func (t pgTx) commit(ctx context.Context) error   { return t.t.Commit(ctx) }
func (t pgTx) rollback(ctx context.Context) error { return t.t.Rollback(ctx) }
