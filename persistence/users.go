package persistence

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/presenced/presenced/messages"
)

// An empty role or a zero last seen in the new row keeps the stored value.
const upsertUser = `INSERT INTO users (id, role, last_seen_ms, created_at_ms)
VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET
	role = CASE WHEN excluded.role = '' THEN users.role ELSE excluded.role END,
	last_seen_ms = CASE WHEN excluded.last_seen_ms = 0 THEN users.last_seen_ms ELSE excluded.last_seen_ms END`

// SaveUsers upserts users in one transaction: a non-empty Role replaces the
// stored role, a non-zero LastSeen replaces the stored last seen. Unknown ids
// are inserted.
func (s *store) SaveUsers(ctx context.Context, users []messages.UserSeen) error {
	if len(users) == 0 {
		return nil
	}
	// Rows are locked in id order, so that two processes saving overlapping
	// sets cannot deadlock. The stable sort keeps the last write of an id last.
	sorted := slices.Clone(users)
	slices.SortStableFunc(sorted, func(a, b messages.UserSeen) int { return cmp.Compare(a.ID, b.ID) })
	err := s.inWriteTx(ctx, func(t tx) error {
		now := s.now().UnixMilli()
		for _, u := range sorted {
			if err := t.exec(ctx, upsertUser, u.ID, u.Role, millis(u.LastSeen), now); err != nil {
				return fmt.Errorf("saving user %s: %w", u.ID, err)
			}
		}
		return nil
	})
	return s.fail("saving users", err)
}

// Users returns the known users among ids; unknown ids are absent.
func (s *store) Users(ctx context.Context, ids []string) (map[string]messages.UserRecord, error) {
	out := make(map[string]messages.UserRecord, len(ids))
	err := inChunks(ids, func(chunk []string) error {
		recs, err := queryAll(ctx, s.db.reader(), scanUser,
			`SELECT id, role, last_seen_ms FROM users WHERE id IN (`+placeholders(1, len(chunk))+`)`,
			anySlice(chunk)...)
		for _, r := range recs {
			out[r.ID] = r
		}
		return err
	})
	if err != nil {
		return nil, s.fail("loading users", err)
	}
	return out, nil
}

func scanUser(rs rows) (messages.UserRecord, error) {
	var r messages.UserRecord
	var lastSeen int64
	err := rs.Scan(&r.ID, &r.Role, &lastSeen)
	r.LastSeen = fromMillis(lastSeen)
	return r, err
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
