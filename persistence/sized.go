package persistence

import (
	"fmt"
	"strings"
)

// sizedQuery is a statement over a list of rows whose text depends on how
// many rows it carries. A batch is cut into chunks of a power of two rows,
// at most max, so that its statements come from a few texts known at start:
// SQLite prepares them once, pgx caches them per connection. Built anew for
// each batch size, they were parsed for every batch: a tenth of the
// server's CPU at 5,000 messages/s on SQLite.
type sizedQuery struct {
	max   int
	texts map[int]string // by rows
}

func newSizedQuery(max int, text func(rows int) string) *sizedQuery {
	q := &sizedQuery{max: max, texts: make(map[int]string)}
	for n := 1; n <= max; n *= 2 {
		q.texts[n] = text(n)
	}
	return q
}

// chunks cuts rows into lengths that have a text, largest first.
func (q *sizedQuery) chunks(rows int) []int {
	var lens []int
	for rows > 0 {
		n := 1
		for n*2 <= min(rows, q.max) {
			n *= 2
		}
		lens = append(lens, n)
		rows -= n
	}
	return lens
}

// split cuts args, width of them per row, into chunks that have a text,
// and calls fn with each chunk and its text until fn fails.
func (q *sizedQuery) split(args []any, width int, fn func(text string, chunk []any) error) error {
	for _, n := range q.chunks(len(args) / width) {
		if err := fn(q.text(n), args[:width*n:width*n]); err != nil {
			return err
		}
		args = args[width*n:]
	}
	return nil
}

// steps are the statements of args, one per chunk.
func (q *sizedQuery) steps(args []any, width int) []*step {
	var steps []*step
	_ = q.split(args, width, func(text string, chunk []any) error {
		steps = append(steps, &step{query: text, args: chunk})
		return nil
	})
	return steps
}

func (q *sizedQuery) text(rows int) string {
	t, ok := q.texts[rows]
	if !ok {
		panic(fmt.Sprintf("persistence: no statement for %d rows", rows))
	}
	return t
}

// valueRows is "(p, p, ...), (p, ...), ..." for rows rows of width
// placeholders each, numbered from $1; wrap, when set, dresses each
// placeholder (its number and column) in a cast.
func valueRows(rows, width int, wrap func(n, col int) string) string {
	var b strings.Builder
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range width {
			if c > 0 {
				b.WriteString(", ")
			}
			n := r*width + c + 1
			if wrap != nil {
				b.WriteString(wrap(n, c))
			} else {
				fmt.Fprintf(&b, "$%d", n)
			}
		}
		b.WriteByte(')')
	}
	return b.String()
}

// casts dresses the placeholders of column i in a cast to types[i]: a
// VALUES list gives Postgres no types of its own.
func casts(types ...string) func(n, col int) string {
	return func(n, col int) string { return fmt.Sprintf("CAST($%d AS %s)", n, types[col]) }
}

// The sized statements of the append path. Their widths keep a chunk's
// arguments (at most 896) far below both databases' limits.
var (
	qStoredClientIDs = newSizedQuery(256, func(n int) string {
		return `SELECT ` + messageColumns + ` FROM messages m
			WHERE (m.sender_id, m.client_msg_id) IN (VALUES ` + valueRows(n, 2, nil) + `)`
	})
	qMemberships = newSizedQuery(256, func(n int) string {
		return `SELECT conversation_id, user_id FROM conversation_members
			WHERE (conversation_id, user_id) IN (VALUES ` + valueRows(n, 2, nil) + `)`
	})
	qInsertMessages = newSizedQuery(128, func(n int) string {
		return `INSERT INTO messages (conversation_id, seq, id, sender_id, client_msg_id, content, created_at_ms)
			VALUES ` + valueRows(n, messageFields, nil)
	})
	// VALUES columns are column1, column2, ... in both dialects; the casts
	// give Postgres their types.
	qSetWatermarks = newSizedQuery(128, func(n int) string {
		return `UPDATE conversation_members SET last_read_seq = v.column3
			FROM (VALUES ` + valueRows(n, 3, casts("TEXT", "TEXT", "BIGINT")) + `) AS v
			WHERE conversation_id = v.column1 AND user_id = v.column2 AND last_read_seq < v.column3`
	})
	// qTakeSeqs takes each conversation's next column2 seqs, and returns
	// the last one taken.
	qTakeSeqs = newSizedQuery(128, func(n int) string {
		return `UPDATE conversations SET last_seq = last_seq + v.column2, last_message_at_ms = v.column3
			FROM (VALUES ` + valueRows(n, 3, casts("TEXT", "BIGINT", "BIGINT")) + `) AS v
			WHERE conversations.id = v.column1 RETURNING conversations.id, conversations.last_seq`
	})
	sizedQueries = []*sizedQuery{qStoredClientIDs, qMemberships, qInsertMessages, qSetWatermarks, qTakeSeqs}
)
