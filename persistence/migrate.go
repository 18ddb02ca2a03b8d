package persistence

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// migrationFiles holds the schema of each dialect, so that a binary carries
// the schema it was written against.
//
//go:embed migrations
var migrationFiles embed.FS

// migration is one versioned SQL file: NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the migrations of a dialect, in version order.
func loadMigrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("reading migrations of %s: %w", dialect, err)
	}
	var out []migration
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".sql")
		if !ok {
			continue
		}
		prefix, _, _ := strings.Cut(name, "_")
		version, err := strconv.Atoi(prefix)
		if err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version", e.Name())
		}
		if len(out) > 0 && out[len(out)-1].version >= version {
			return nil, fmt.Errorf("migration %s: version %d repeats or goes back", e.Name(), version)
		}
		body, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: version, name: name, sql: string(body)})
	}
	return out, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version       bigint PRIMARY KEY,
	name          text NOT NULL,
	applied_at_ms bigint NOT NULL
)`

// migrate applies the migrations of dialect that the database lacks, all in
// one transaction: a failure leaves the schema as it was. lock, when set, is
// run first to serialize processes migrating the same database at once.
func (s *store) migrate(ctx context.Context, dialect, lock string) error {
	all, err := loadMigrations(dialect)
	if err != nil {
		return err
	}
	var applied []string
	err = s.inWriteTx(ctx, func(t tx) error {
		applied = applied[:0]
		if lock != "" {
			if err := t.exec(ctx, lock); err != nil {
				return fmt.Errorf("locking for migration: %w", err)
			}
		}
		if err := t.exec(ctx, createMigrationsTable); err != nil {
			return fmt.Errorf("creating schema_migrations: %w", err)
		}
		done, err := appliedVersions(ctx, t)
		if err != nil {
			return err
		}
		for _, m := range all {
			if done[m.version] {
				continue
			}
			if err := applyMigration(ctx, t, m, s.now().UnixMilli()); err != nil {
				return err
			}
			applied = append(applied, m.name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range applied {
		s.log.Info("applied migration", "dialect", dialect, "migration", name)
	}
	return nil
}

func appliedVersions(ctx context.Context, t tx) (map[int]bool, error) {
	versions, err := queryAll(ctx, t, func(rs rows) (int, error) {
		var v int
		err := rs.Scan(&v)
		return v, err
	}, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("reading schema_migrations: %w", err)
	}
	done := make(map[int]bool, len(versions))
	for _, v := range versions {
		done[v] = true
	}
	return done, nil
}

func applyMigration(ctx context.Context, t tx, m migration, nowMs int64) error {
	if err := t.exec(ctx, m.sql); err != nil {
		return fmt.Errorf("applying migration %s: %w", m.name, err)
	}
	err := t.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)`,
		m.version, m.name, nowMs)
	if err != nil {
		return fmt.Errorf("recording migration %s: %w", m.name, err)
	}
	return nil
}
