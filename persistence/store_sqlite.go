package persistence

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite is the Store on one SQLite file, for a single node. Its methods are
// those of the actors' Store interface.
type SQLite struct {
	*store
}

// Every connection of a pool gets these pragmas: the DSN is how
// database/sql applies them to connections it opens later. The writer's
// synchronous=FULL fsyncs the WAL at each commit, so an acknowledged message
// survives kill -9 and power loss; immediate transactions take the write
// lock at BEGIN instead of failing to upgrade a read lock mid-transaction.
// A 64 MiB page cache and memory-mapped reads keep the hot pages (recent
// messages, their indexes) out of pread: under load the default 2 MiB cache
// made SQLite read pages back for nearly every insert. temp_store=MEMORY
// keeps each multi-row statement's undo log (the statement journal, needed
// only to roll one statement back inside its transaction) in memory: past
// 64 KiB SQLite spilled it to a temporary file, opened, written and closed
// for nearly every batch, 8% of the server's CPU at 5,000 messages/s. The
// WAL alone makes a commit durable. The checkpointer's connection only
// copies the WAL into the database file (checkpoint_sqlite.go).
const (
	sqliteCommonParams = "_pragma=busy_timeout(5000)&_pragma=cache_size(-65536)&_pragma=mmap_size(268435456)"
	sqliteWriterParams = sqliteCommonParams + "&_pragma=foreign_keys(1)" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=temp_store(MEMORY)&_txlock=immediate" +
		"&_pragma=wal_autocheckpoint(" + walAutocheckpoint + ")"
	sqliteCheckpointParams = sqliteCommonParams + "&_pragma=synchronous(FULL)"
	sqliteReaderParams     = sqliteCommonParams + "&_pragma=query_only(1)"
)

// OpenSQLite opens the database file at path, creating it and its folder
// (mode 0750) on first start, and applies the missing migrations. Writes go
// through one connection, reads through a separate pool, so a read never
// waits for a commit's fsync.
func OpenSQLite(ctx context.Context, path string, logger *slog.Logger) (*SQLite, error) {
	if path == "" {
		return nil, errors.New("opening sqlite: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("creating folder of %s: %w", path, err)
	}
	db := &sqliteDB{}
	var err error
	if db.write, err = openSQLitePool(path, sqliteWriterParams, 1); err != nil {
		return nil, err
	}
	s := newStore(db, logger)
	if err := s.migrate(ctx, "sqlite", ""); err != nil {
		_ = db.close()
		return nil, s.fail("migrating "+path, err)
	}
	if err := db.prepare(ctx); err != nil {
		_ = db.close()
		return nil, s.fail("preparing statements on "+path, err)
	}
	// Readers and the checkpointer open once the file is in WAL mode and
	// migrated.
	if db.read, err = openSQLitePool(path, sqliteReaderParams, max(4, runtime.GOMAXPROCS(0))); err != nil {
		_ = db.close()
		return nil, err
	}
	ckdb, err := openSQLitePool(path, sqliteCheckpointParams, 1)
	if err != nil {
		_ = db.close()
		return nil, err
	}
	db.ckpt = startCheckpointer(ckdb, s.log)
	s.log.Info("opened sqlite store", "path", path)
	return &SQLite{s}, nil
}

func openSQLitePool(path, params string, conns int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", path+"?"+params)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %v", path, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	// Connect now, so that a bad path or a bad pragma fails the open rather
	// than the first request.
	if err := db.Ping(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("opening %s: %v", path, err)
	}
	return db, nil
}

// sqliteDB is the backend on database/sql and modernc.org/sqlite.
type sqliteDB struct {
	write *sql.DB // one connection: SQLite has one writer at a time anyway
	read  *sql.DB
	ckpt  *checkpointer // nil until the store is open
	// stmts are the statements run once per item of a batch, prepared on
	// the writer: parsing them again for each message costs more than
	// running them.
	stmts map[string]*sql.Stmt
}

// batchStatements are prepared once on the writer: the fixed ones, and
// every size of the sized ones.
var batchStatements = func() []string {
	qs := []string{
		qSetWatermark, qConversationCount,
		qMembers, qLastSeq, qWatermark, qCoveredSenders,
		upsertUser, qInsertConversation, qInsertMember,
	}
	for _, sq := range sizedQueries {
		for _, t := range sq.texts {
			qs = append(qs, t)
		}
	}
	return qs
}()

// prepare prepares batchStatements; the writer's single connection must be
// free, so it runs at open, before any transaction.
func (d *sqliteDB) prepare(ctx context.Context) error {
	d.stmts = make(map[string]*sql.Stmt, len(batchStatements))
	for _, q := range batchStatements {
		st, err := d.write.PrepareContext(ctx, anonymousParams(q))
		if err != nil {
			return err
		}
		d.stmts[q] = st
	}
	return nil
}

// anonymousParams rewrites $1, $2, ... as ? when they appear in that
// order, each once, as in the sized statements; otherwise q is returned as
// it is. SQLite counts $N as a named parameter, and the driver asks the
// name of each one on every execution through a linear lookup: quadratic
// for a multi-row INSERT's 896 parameters (3% of the server's CPU at 5,000
// messages/s).
func anonymousParams(q string) string {
	var b strings.Builder
	next := 1
	for i := 0; i < len(q); i++ {
		if q[i] != '$' {
			b.WriteByte(q[i])
			continue
		}
		j := i + 1
		for j < len(q) && q[j] >= '0' && q[j] <= '9' {
			j++
		}
		if n, err := strconv.Atoi(q[i+1 : j]); err != nil || n != next {
			return q
		}
		next++
		b.WriteByte('?')
		i = j - 1
	}
	return b.String()
}

func (d *sqliteDB) beginWrite(ctx context.Context) (tx, error) {
	t, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	tx := sqlTx{sqlQuerier: sqlQuerier{r: t, tx: t, stmts: d.stmts}, t: t}
	if d.ckpt != nil {
		tx.committed = d.ckpt.committed
	}
	return tx, nil
}

// beginRead starts a deferred transaction: its snapshot is taken at the
// first read and holds until it ends.
func (d *sqliteDB) beginRead(ctx context.Context) (tx, error) {
	t, err := d.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	return sqlTx{sqlQuerier: sqlQuerier{r: t}, t: t}, nil
}

func (d *sqliteDB) reader() querier { return sqlQuerier{r: d.read} }

// lockClause is empty: SQLite locks the whole database for the writer.
func (d *sqliteDB) lockClause() string { return "" }

func (d *sqliteDB) oneWriter() bool { return true }

func (d *sqliteDB) uniqueViolation(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) &&
		(e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

func (d *sqliteDB) retryable(error) bool { return false }

// unavailable: the database is locked past busy_timeout, or the disk
// cannot serve (full, I/O error, file gone).
func (d *sqliteDB) unavailable(err error) bool {
	if errors.Is(err, sql.ErrConnDone) {
		return true
	}
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff { // the primary code of an extended one
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL,
		sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
		return true
	}
	return false
}

func (d *sqliteDB) ping(ctx context.Context) error {
	var one int
	return d.read.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

func (d *sqliteDB) close() error {
	var errs []error
	if d.ckpt != nil {
		errs = append(errs, d.ckpt.close())
	}
	for _, st := range d.stmts {
		errs = append(errs, st.Close())
	}
	if d.read != nil {
		errs = append(errs, d.read.Close())
	}
	return errors.Join(append(errs, d.write.Close())...)
}

// sqlRunner is what *sql.DB and *sql.Tx share.
type sqlRunner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// sqlQuerier adapts database/sql to querier. In a write transaction, a
// statement of stmts runs prepared.
type sqlQuerier struct {
	r     sqlRunner
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func (q sqlQuerier) runner(ctx context.Context, query string) sqlRunner {
	if st, ok := q.stmts[query]; ok && q.tx != nil {
		return stmtRunner{q.tx.StmtContext(ctx, st)}
	}
	return q.r
}

func (q sqlQuerier) exec(ctx context.Context, query string, args ...any) error {
	_, err := q.runner(ctx, query).ExecContext(ctx, query, args...)
	return err
}

func (q sqlQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	rs, err := q.runner(ctx, query).QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rs}, nil
}

func (q sqlQuerier) queryRow(ctx context.Context, query string, args ...any) row {
	return q.runner(ctx, query).QueryRowContext(ctx, query, args...)
}

// stmtRunner runs a prepared statement; the query text is its own.
type stmtRunner struct{ st *sql.Stmt }

func (s stmtRunner) ExecContext(ctx context.Context, _ string, args ...any) (sql.Result, error) {
	return s.st.ExecContext(ctx, args...)
}

func (s stmtRunner) QueryContext(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
	return s.st.QueryContext(ctx, args...)
}

func (s stmtRunner) QueryRowContext(ctx context.Context, _ string, args ...any) *sql.Row {
	return s.st.QueryRowContext(ctx, args...)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

type sqlTx struct {
	sqlQuerier
	t         *sql.Tx
	committed func() // after a commit, when set
}

// pipeline runs the steps one after the other: in process, a round trip
// costs nothing.
func (t sqlTx) pipeline(ctx context.Context, steps []*step) error {
	for _, st := range steps {
		if err := st.run(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

func (t sqlTx) commit(context.Context) error {
	if err := t.t.Commit(); err != nil {
		return err
	}
	if t.committed != nil {
		t.committed()
	}
	return nil
}
func (t sqlTx) rollback(context.Context) error { return t.t.Rollback() }
