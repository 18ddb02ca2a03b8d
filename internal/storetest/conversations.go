package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/messages"
)

func testCreateDirectIdempotent(t *testing.T, s actors.Store) {
	conv, created, err := s.CreateConversation(t.Context(), []string{"bob", "alice"})
	if err != nil || !created {
		t.Fatalf("first create: created %v, err %v", created, err)
	}
	if !conv.Direct || !slices.Equal(conv.MemberIds, []string{"alice", "bob"}) || conv.Id == "" || conv.CreatedAtMs == 0 {
		t.Fatalf("first create: %v", conv)
	}
	for _, members := range [][]string{{"alice", "bob"}, {"bob", "alice"}, {"bob", "alice", "bob"}} {
		again, created, err := s.CreateConversation(t.Context(), members)
		if err != nil || created {
			t.Fatalf("create %v: created %v, err %v", members, created, err)
		}
		if again.Id != conv.Id || again.CreatedAtMs != conv.CreatedAtMs || !again.Direct {
			t.Errorf("create %v: got %v, want %v", members, again, conv)
		}
	}
	got, err := s.Conversation(t.Context(), conv.Id)
	if err != nil {
		t.Fatalf("Conversation: %v", err)
	}
	if got.Id != conv.Id || !got.Direct || !slices.Equal(got.MemberIds, conv.MemberIds) || got.CreatedAtMs != conv.CreatedAtMs {
		t.Errorf("Conversation: got %v, want %v", got, conv)
	}
	other := mustCreate(t, s, "alice", "carol")
	if other.Id == conv.Id {
		t.Errorf("another pair got the same conversation %s", conv.Id)
	}
}

func testCreateDirectConcurrent(t *testing.T, s actors.Store) {
	const n = 16
	ids := make([]string, n)
	createdCount := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		members := []string{"x", "y"}
		if i%2 == 1 {
			members = []string{"y", "x"}
		}
		wg.Go(func() {
			conv, created, err := s.CreateConversation(t.Context(), members)
			if err != nil {
				t.Errorf("create %d: %v", i, err)
				return
			}
			ids[i], createdCount[i] = conv.Id, created
		})
	}
	wg.Wait()
	for i := range ids {
		if ids[i] != ids[0] {
			t.Fatalf("concurrent creates of one pair gave different conversations: %v", ids)
		}
	}
	if c := countTrue(createdCount); c != 1 {
		t.Errorf("%d creates reported created, want exactly 1", c)
	}
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func testCreateGroup(t *testing.T, s actors.Store) {
	conv, created, err := s.CreateConversation(t.Context(), []string{"carol", "alice", "bob", "alice"})
	if err != nil || !created {
		t.Fatalf("create: created %v, err %v", created, err)
	}
	if conv.Direct || !slices.Equal(conv.MemberIds, []string{"alice", "bob", "carol"}) {
		t.Errorf("create: %v", conv)
	}
	again, created, err := s.CreateConversation(t.Context(), []string{"alice", "bob", "carol"})
	if err != nil || !created || again.Id == conv.Id {
		t.Errorf("a group is not idempotent: got %v created %v err %v", again, created, err)
	}
	got, err := s.Conversation(t.Context(), conv.Id)
	if err != nil || got.Direct || !slices.Equal(got.MemberIds, conv.MemberIds) {
		t.Errorf("Conversation: got %v, err %v", got, err)
	}
}

func testCreateInvalidMembers(t *testing.T, s actors.Store) {
	for _, members := range [][]string{nil, {}, {"alice"}, {"alice", "alice"}, {"", "alice"}, {"", "alice", "bob"}} {
		conv, _, err := s.CreateConversation(t.Context(), members)
		var ce *messages.Error
		if !errors.As(err, &ce) || ce.Code != messages.CodeInvalidPayload {
			t.Errorf("create %q: got %v, %v; want an invalid_payload error", members, conv, err)
		}
	}
}

func testConversationNotFound(t *testing.T, s actors.Store) {
	_, err := s.Conversation(t.Context(), "c-nope")
	wantErr(t, "Conversation(c-nope)", err, messages.ErrNotFound)
}

func testContacts(t *testing.T, s actors.Store) {
	mustCreate(t, s, "alice", "bob")
	mustCreate(t, s, "alice", "carol", "dave")
	mustCreate(t, s, "bob", "dave")
	mustCreate(t, s, "erin", "frank")
	for user, want := range map[string][]string{
		"alice":  {"bob", "carol", "dave"},
		"bob":    {"alice", "dave"},
		"dave":   {"alice", "bob", "carol"},
		"erin":   {"frank"},
		"nobody": nil,
	} {
		got, err := s.Contacts(t.Context(), user)
		if err != nil {
			t.Fatalf("Contacts(%s): %v", user, err)
		}
		if !sameStrings(got, want) {
			t.Errorf("Contacts(%s) = %v, want %v", user, got, want)
		}
	}
}

func testSaveUsersUpsert(t *testing.T, s actors.Store) {
	seen1, seen2 := base.Add(time.Minute), base.Add(time.Hour)
	save := func(users ...messages.UserSeen) {
		t.Helper()
		if err := s.SaveUsers(t.Context(), users); err != nil {
			t.Fatalf("SaveUsers: %v", err)
		}
	}
	check := func(want map[string]messages.UserRecord) {
		t.Helper()
		got, err := s.Users(t.Context(), []string{"u1", "u2", "u3", "u4"})
		if err != nil {
			t.Fatalf("Users: %v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("Users: got %v, want %v", got, want)
		}
		for id, w := range want {
			g, ok := got[id]
			if !ok || g.ID != w.ID || g.Role != w.Role || !g.LastSeen.Equal(w.LastSeen) {
				t.Errorf("Users[%s] = %+v, want %+v", id, g, w)
			}
		}
	}
	save(messages.UserSeen{ID: "u1", Role: messages.RoleClient}, messages.UserSeen{ID: "u2", LastSeen: seen1})
	check(map[string]messages.UserRecord{
		"u1": {ID: "u1", Role: messages.RoleClient},
		"u2": {ID: "u2", LastSeen: seen1},
	})
	// An empty role and a zero last seen keep what is stored.
	save(messages.UserSeen{ID: "u1", LastSeen: seen2}, messages.UserSeen{ID: "u2", Role: messages.RoleFreelancer})
	save(messages.UserSeen{ID: "u1"}, messages.UserSeen{ID: "u3", Role: messages.RoleAdmin})
	check(map[string]messages.UserRecord{
		"u1": {ID: "u1", Role: messages.RoleClient, LastSeen: seen2},
		"u2": {ID: "u2", Role: messages.RoleFreelancer, LastSeen: seen1},
		"u3": {ID: "u3", Role: messages.RoleAdmin},
	})
	save(messages.UserSeen{ID: "u1", Role: messages.RoleAdmin, LastSeen: seen1})
	check(map[string]messages.UserRecord{
		"u1": {ID: "u1", Role: messages.RoleAdmin, LastSeen: seen1},
		"u2": {ID: "u2", Role: messages.RoleFreelancer, LastSeen: seen1},
		"u3": {ID: "u3", Role: messages.RoleAdmin},
	})
	if got, err := s.Users(t.Context(), nil); err != nil || len(got) != 0 {
		t.Errorf("Users(nil) = %v, %v", got, err)
	}
	if err := s.SaveUsers(t.Context(), nil); err != nil {
		t.Errorf("SaveUsers(nil): %v", err)
	}
}

func testConversationsOrderAndState(t *testing.T, s actors.Store) {
	c1 := mustCreate(t, s, "u", "a")
	c2 := mustCreate(t, s, "u", "b")
	c3 := mustCreate(t, s, "u", "a", "b")
	mustCreate(t, s, "a", "b") // not u's
	// Messages are stamped hours after the conversations' creation, so
	// activity orders them: c3, then c1, then c2 which has no message.
	now := time.Now().Add(time.Hour)
	m1 := mustAppend(t, s, messages.NewMessage{ConversationID: c1.Id, SenderID: "a", ClientMsgID: "1", Content: "one", CreatedAt: now})
	m3 := mustAppend(t, s,
		messages.NewMessage{ConversationID: c3.Id, SenderID: "a", ClientMsgID: "2", Content: "two", CreatedAt: now.Add(time.Hour)},
		messages.NewMessage{ConversationID: c3.Id, SenderID: "u", ClientMsgID: "3", Content: "three", CreatedAt: now.Add(2 * time.Hour)},
		messages.NewMessage{ConversationID: c3.Id, SenderID: "b", ClientMsgID: "4", Content: "four", CreatedAt: now.Add(3 * time.Hour)})
	sums := mustConversations(t, s, "u")
	wantOrder := []string{c3.Id, c1.Id, c2.Id}
	if got := summaryIDs(sums); !slices.Equal(got, wantOrder) {
		t.Fatalf("order %v, want %v", got, wantOrder)
	}
	check := func(i int, lastSeq, lastRead, unread int64, last *messages.ChatMessage, members []string) {
		t.Helper()
		sum := sums[i]
		if sum.LastSeq != lastSeq || sum.LastReadSeq != lastRead || sum.Unread != unread {
			t.Errorf("%s: last seq %d, read %d, unread %d; want %d, %d, %d",
				sum.Conversation.Id, sum.LastSeq, sum.LastReadSeq, sum.Unread, lastSeq, lastRead, unread)
		}
		if !slices.Equal(sum.Conversation.MemberIds, members) || sum.Conversation.Direct != (len(members) == 2) {
			t.Errorf("%s: conversation %v, want members %v", sum.Conversation.Id, sum.Conversation, members)
		}
		sameMessage(t, sum.Conversation.Id+" last message", sum.LastMessage, last)
	}
	// u's own message moved u's watermark to 2, so only b's (seq 3) is
	// unread for u, and no one has read it yet.
	check(0, 3, 2, 1, m3[2], []string{"a", "b", "u"})
	check(1, 1, 0, 1, m1[0], []string{"a", "u"})
	check(2, 0, 0, 0, nil, []string{"b", "u"})

	// u reads all of c3, and c2 becomes the most recently active.
	mustMark(t, s, c3.Id, "u", 3)
	mustAppend(t, s, messages.NewMessage{ConversationID: c2.Id, SenderID: "u", ClientMsgID: "5", Content: "five", CreatedAt: now.Add(4 * time.Hour)})
	sums = mustConversations(t, s, "u")
	if got := summaryIDs(sums); !slices.Equal(got, []string{c2.Id, c3.Id, c1.Id}) {
		t.Fatalf("order after activity %v", got)
	}
	lastOfC3 := &messages.ChatMessage{
		Id: m3[2].Id, ConversationId: c3.Id, Seq: 3, SenderId: "b", Content: "four",
		ClientMsgId: "4", CreatedAtMs: m3[2].CreatedAtMs, ReadBy: []string{"u"},
	}
	check(1, 3, 3, 0, lastOfC3, []string{"a", "b", "u"})
	if sums := mustConversations(t, s, "stranger"); len(sums) != 0 {
		t.Errorf("Conversations(stranger) = %v", sums)
	}
}

func summaryIDs(sums []messages.ConversationSummary) []string {
	out := make([]string, len(sums))
	for i, s := range sums {
		out[i] = s.Conversation.Id
	}
	return out
}
