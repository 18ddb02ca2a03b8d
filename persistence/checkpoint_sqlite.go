package persistence

import (
	"context"
	"database/sql"
	"log/slog"
	"time"
)

// walAutocheckpoint is the WAL length, in pages, past which the writer
// checkpoints at the end of a commit, and the WAL starts over. SQLite's
// default, 1,000, made the writer checkpoint every few commits when a batch
// spreads over many conversations (a page each): a store benchmark of 128
// messages over 100 conversations went 6,000–6,700 → 7,600–10,300
// msgs/s with 10,000. The checkpointer does most of the copying before the
// writer's turn, so that commit stays short.
const walAutocheckpoint = "10000"

// checkpointEvery spaces the checkpointer's passes: a page rewritten by
// many commits in between is copied once.
const checkpointEvery = 250 * time.Millisecond

// checkpointer copies committed WAL frames into the database file on its
// own connection, off the writer's path: a PASSIVE checkpoint takes no lock
// that a commit waits for. It runs after commits, at most once per
// checkpointEvery, and not at all while nothing is written.
type checkpointer struct {
	db   *sql.DB
	log  *slog.Logger
	kick chan struct{}
	ctx  context.Context // ends at close, a pass under way with it
	stop context.CancelFunc
	done chan struct{}
}

func startCheckpointer(db *sql.DB, log *slog.Logger) *checkpointer {
	ctx, stop := context.WithCancel(context.Background())
	c := &checkpointer{
		db: db, log: log, kick: make(chan struct{}, 1),
		ctx: ctx, stop: stop, done: make(chan struct{}),
	}
	go c.run()
	return c
}

// committed says a write transaction committed; it never blocks.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	pause := time.NewTimer(0)
	defer pause.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.kick:
		}
		// A failed pass is harmless: the writer's own checkpoint at
		// walAutocheckpoint pages still bounds the WAL.
		var busy, frames, copied int
		err := c.db.QueryRowContext(c.ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
		if err != nil && c.ctx.Err() == nil {
			c.log.Debug("background checkpoint failed", "err", err)
		}
		pause.Reset(checkpointEvery)
		select {
		case <-c.ctx.Done():
			return
		case <-pause.C:
		}
	}
}

// close stops the checkpointer, interrupting a pass under way (the WAL
// keeps what it did not copy), and closes its connection.
func (c *checkpointer) close() error {
	c.stop()
	<-c.done
	return c.db.Close()
}
