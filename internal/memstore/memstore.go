package memstore

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/presenced/presenced/messages"
)

// History page sizes, as in persistence.
const (
	defaultHistoryLimit = 50
	maxHistoryLimit     = 200
)

// Store is the in-memory store. The zero value is not usable: call New.
type Store struct {
	mu          sync.Mutex
	unavailable bool
	closed      bool
	appendCalls int
	markCalls   int
	appendHook  func(context.Context, []messages.NewMessage) error

	users    map[string]messages.UserRecord
	convs    map[string]*conv
	direct   map[string]string // sorted pair -> conversation id
	clientID map[clientKey]*record
}

// conv is a conversation and its messages; msgs[i] has seq i+1.
type conv struct {
	id        string
	members   []string // sorted
	lastRead  map[string]int64
	createdAt int64
	msgs      []*record
}

// record is a stored message without its ReadBy, which is computed on read.
type record struct {
	id, convID, sender, clientMsgID, content string
	seq, createdAt                           int64
}

type clientKey struct{ sender, clientMsgID string }

// New returns an empty store.
func New() *Store {
	return &Store{
		users:    make(map[string]messages.UserRecord),
		convs:    make(map[string]*conv),
		direct:   make(map[string]string),
		clientID: make(map[clientKey]*record),
	}
}

// SetUnavailable makes every method (but Close) fail with an error wrapping
// messages.ErrUnavailable while on, as a store whose database is down.
func (s *Store) SetUnavailable(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unavailable = on
}

// SetAppendHook sets a function AppendMessages calls with each batch before
// storing it, without holding the store's lock: it may block (to let a test
// pile up sends behind a slow commit) or return an error, which fails the
// batch with nothing stored. nil removes it.
func (s *Store) SetAppendHook(fn func(ctx context.Context, batch []messages.NewMessage) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendHook = fn
}

// AppendCalls returns how many times AppendMessages was called: one per
// batch, which tells a test how sends were grouped.
func (s *Store) AppendCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appendCalls
}

// MarkReadCalls returns how many times MarkRead was called.
func (s *Store) MarkReadCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.markCalls
}

// Ping checks the store can serve.
func (s *Store) Ping(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.check(ctx, "pinging")
}

// Close makes the store unavailable for good.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// check reports why the store cannot serve op now, as the durable stores
// would; the caller holds s.mu.
func (s *Store) check(ctx context.Context, op string) error {
	switch err := ctx.Err(); {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w: %w", op, messages.ErrUnavailable, err)
	case err != nil:
		return fmt.Errorf("%s: %w", op, err)
	case s.closed:
		return fmt.Errorf("%s: %w: store closed", op, messages.ErrUnavailable)
	case s.unavailable:
		return fmt.Errorf("%s: %w: injected", op, messages.ErrUnavailable)
	}
	return nil
}

// SaveUsers upserts users: a non-empty Role replaces the stored role, a
// non-zero LastSeen replaces the stored last seen.
func (s *Store) SaveUsers(ctx context.Context, users []messages.UserSeen) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, "saving users"); err != nil {
		return err
	}
	for _, u := range users {
		rec := s.users[u.ID]
		rec.ID = u.ID
		if u.Role != "" {
			rec.Role = u.Role
		}
		if !u.LastSeen.IsZero() {
			rec.LastSeen = time.UnixMilli(u.LastSeen.UnixMilli()) // the durable stores keep milliseconds
		}
		s.users[u.ID] = rec
	}
	return nil
}

// Users returns the known users among ids; unknown ids are absent.
func (s *Store) Users(ctx context.Context, ids []string) (map[string]messages.UserRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, "loading users"); err != nil {
		return nil, err
	}
	out := make(map[string]messages.UserRecord, len(ids))
	for _, id := range ids {
		if rec, ok := s.users[id]; ok {
			out[id] = rec
		}
	}
	return out, nil
}

// CreateConversation creates a conversation of the given distinct members
// (at least two; repeated ids count once); a pair always gets the same
// direct conversation back, with created false.
func (s *Store) CreateConversation(ctx context.Context, memberIDs []string) (*messages.Conversation, bool, error) {
	members, err := messages.MemberList(memberIDs)
	if err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, "creating conversation"); err != nil {
		return nil, false, err
	}
	key := ""
	if len(members) == 2 {
		key = members[0] + "\x00" + members[1]
		if id, ok := s.direct[key]; ok {
			return s.convs[id].proto(), false, nil
		}
	}
	c := &conv{id: newID("c-"), members: members, lastRead: make(map[string]int64), createdAt: time.Now().UnixMilli()}
	s.convs[c.id] = c
	if key != "" {
		s.direct[key] = c.id
	}
	return c.proto(), true, nil
}

// Conversation returns a conversation with its members, or ErrNotFound.
func (s *Store) Conversation(ctx context.Context, id string) (*messages.Conversation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, "loading conversation "+id); err != nil {
		return nil, err
	}
	c, ok := s.convs[id]
	if !ok {
		return nil, fmt.Errorf("loading conversation %s: %w", id, messages.ErrNotFound)
	}
	return c.proto(), nil
}

// Contacts returns every user sharing a conversation with userID, userID
// excluded, sorted, without duplicates.
func (s *Store) Contacts(ctx context.Context, userID string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, "loading contacts of "+userID); err != nil {
		return nil, err
	}
	var out []string
	for _, c := range s.convs {
		if c.isMember(userID) {
			out = append(out, c.members...)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if i, ok := slices.BinarySearch(out, userID); ok {
		out = slices.Delete(out, i, i+1)
	}
	return out, nil
}

// Conversations returns userID's conversations with their read state, most
// recently active first (ties by id).
func (s *Store) Conversations(ctx context.Context, userID string) ([]messages.ConversationSummary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, "loading conversations of "+userID); err != nil {
		return nil, err
	}
	return s.summaries(userID), nil
}

// summaries is Conversations under s.mu.
func (s *Store) summaries(userID string) []messages.ConversationSummary {
	var mine []*conv
	for _, c := range s.convs {
		if c.isMember(userID) {
			mine = append(mine, c)
		}
	}
	slices.SortFunc(mine, func(a, b *conv) int {
		return cmp.Or(cmp.Compare(b.activity(), a.activity()), cmp.Compare(a.id, b.id))
	})
	out := make([]messages.ConversationSummary, 0, len(mine))
	for _, c := range mine {
		sum := messages.ConversationSummary{
			Conversation: c.proto(),
			LastSeq:      int64(len(c.msgs)),
			LastReadSeq:  c.lastRead[userID],
			Unread:       c.unread(userID),
		}
		if len(c.msgs) > 0 {
			sum.LastMessage = c.message(c.msgs[len(c.msgs)-1])
		}
		out = append(out, sum)
	}
	return out
}

// Unread returns userID's conversations holding messages of others above
// the user's watermark, most recently active first.
func (s *Store) Unread(ctx context.Context, userID string) ([]messages.UnreadSummary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, "loading unread of "+userID); err != nil {
		return nil, err
	}
	var out []messages.UnreadSummary
	for _, sum := range s.summaries(userID) {
		if sum.Unread > 0 {
			out = append(out, messages.UnreadSummary{
				ConversationID: sum.Conversation.Id,
				Count:          sum.Unread,
				LastMessage:    sum.LastMessage,
			})
		}
	}
	return out, nil
}

func (c *conv) proto() *messages.Conversation {
	return &messages.Conversation{
		Id:          c.id,
		MemberIds:   slices.Clone(c.members),
		Direct:      len(c.members) == 2,
		CreatedAtMs: c.createdAt,
	}
}

func (c *conv) isMember(userID string) bool {
	_, ok := slices.BinarySearch(c.members, userID)
	return ok
}

func (c *conv) activity() int64 {
	if len(c.msgs) > 0 {
		return c.msgs[len(c.msgs)-1].createdAt
	}
	return c.createdAt
}

func (c *conv) unread(userID string) int64 {
	var n int64
	for _, r := range c.msgs[c.lastRead[userID]:] {
		if r.sender != userID {
			n++
		}
	}
	return n
}

// message returns a fresh copy of r with its ReadBy.
func (c *conv) message(r *record) *messages.ChatMessage {
	m := &messages.ChatMessage{
		Id:             r.id,
		ConversationId: r.convID,
		Seq:            r.seq,
		SenderId:       r.sender,
		Content:        r.content,
		ClientMsgId:    r.clientMsgID,
		CreatedAtMs:    r.createdAt,
	}
	for _, u := range c.members {
		if u != r.sender && c.lastRead[u] >= r.seq {
			m.ReadBy = append(m.ReadBy, u)
		}
	}
	return m
}

func newID(prefix string) string {
	var b [13]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand aborts the program instead
	return prefix + hex.EncodeToString(b[:])
}
