// Package persistence owns presenced's durable state: the SQL schema and its
// migrations, and the two implementations of the actors' Store interface, on
// SQLite (one node, one file) and on PostgreSQL (one database shared by a
// cluster of nodes).
//
// # What is stored
//
// Users (role, last seen), conversations (their members, each member's read
// watermark, the last seq handed out) and messages. A message's seq is
// assigned by incrementing its conversation's last_seq inside the appending
// transaction: the row lock that increment takes orders concurrent appends
// from any number of processes, and a rolled-back transaction takes its
// increment with it, so seqs stay gapless and unique.
//
// # Concurrency
//
// Every method of SQLite and Postgres is safe for concurrent use. Each write
// (AppendMessages, MarkRead, SaveUsers, CreateConversation) is one
// transaction, so a batch costs one commit. On SQLite all writes go through a
// single connection and reads through a separate pool, so readers never wait
// behind a commit. On PostgreSQL, deadlocks and serialization failures
// between processes are retried a few times before reporting
// messages.ErrUnavailable.
//
// # Errors
//
// Driver errors never leave the package: they are translated at the edge
// into messages.ErrNotFound, messages.ErrForbidden, an error wrapping
// messages.ErrUnavailable (connection refused, timeout, store closed, busy),
// or a plain error carrying the driver's text for anything else, which is a
// bug.
//
// # Migrations
//
// The schema lives in versioned SQL files embedded in the binary
// (migrations/<dialect>/NNNN_name.sql). Open applies the missing ones in one
// transaction and records them in schema_migrations; on PostgreSQL an
// advisory lock lets several nodes start at once against one database.
package persistence
