// Package pgtest gives each test a PostgreSQL schema of its own, so tests
// of any package can run in parallel against one test database and leave
// nothing behind. The database is PRESENCED_TEST_POSTGRES_URL, by default
// DefaultURL. An unreachable server fails the test, never skips it: a
// store suite that silently did not run is worse than a red one.
package pgtest
