package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/messages"
)

func testMarkReadForwardAndCapped(t *testing.T, s actors.Store) {
	conv := mustCreate(t, s, "alice", "bob")
	fill(t, s, conv.Id, "alice", "a", 5)
	for _, step := range []struct {
		upTo, want int64
		moved      bool
	}{
		{3, 3, true},
		{2, 3, false}, // never back
		{3, 3, false},
		{100, 5, true}, // never past the last seq
		{5, 5, false},
		{0, 5, false},
	} {
		r := mustMark(t, s, conv.Id, "bob", step.upTo)
		if r.UpToSeq != step.want || r.Moved != step.moved {
			t.Errorf("mark %d: got up to %d moved %v, want %d %v", step.upTo, r.UpToSeq, r.Moved, step.want, step.moved)
		}
	}
	// A batch applies its marks in order, in one go.
	fill(t, s, conv.Id, "alice", "b", 3)
	res, err := s.MarkRead(t.Context(), []messages.ReadMark{
		{ConversationID: conv.Id, UserID: "bob", UpToSeq: 7},
		{ConversationID: conv.Id, UserID: "bob", UpToSeq: 6},
		{ConversationID: conv.Id, UserID: "bob", UpToSeq: 8},
	})
	if err != nil {
		t.Fatalf("MarkRead: %v", err)
	}
	if res[0].UpToSeq != 7 || !res[0].Moved || res[1].UpToSeq != 7 || res[1].Moved || res[2].UpToSeq != 8 || !res[2].Moved {
		t.Errorf("batch: %+v", res)
	}
	if sums := mustConversations(t, s, "bob"); sums[0].LastReadSeq != 8 || sums[0].Unread != 0 {
		t.Errorf("bob's state: %+v", sums[0])
	}
}

func testMarkReadCoveredSenders(t *testing.T, s actors.Store) {
	conv := mustCreate(t, s, "alice", "bob", "carol", "dave")
	mustAppend(t, s,
		send(conv.Id, "carol", "1", "", 0),
		send(conv.Id, "alice", "2", "", 0),
		send(conv.Id, "alice", "3", "", 0),
		send(conv.Id, "bob", "4", "", 0), // bob's watermark moves to 4
		send(conv.Id, "alice", "5", "", 0),
		send(conv.Id, "carol", "6", "", 0))
	for _, step := range []struct {
		user     string
		upTo     int64
		moved    bool
		upToWant int64
		covered  []string
	}{
		{"bob", 5, true, 5, []string{"alice"}},
		{"dave", 4, true, 4, []string{"alice", "bob", "carol"}},
		{"dave", 6, true, 6, []string{"alice", "carol"}},
		{"dave", 6, false, 6, nil},
		{"bob", 3, false, 5, nil},
	} {
		r := mustMark(t, s, conv.Id, step.user, step.upTo)
		if r.Moved != step.moved || r.UpToSeq != step.upToWant || !sameStrings(r.CoveredSenders, step.covered) {
			t.Errorf("%s up to %d: %+v, want moved %v up to %d covering %v",
				step.user, step.upTo, r, step.moved, step.upToWant, step.covered)
		}
	}
}

func testMarkReadItemErrors(t *testing.T, s actors.Store) {
	conv := mustCreate(t, s, "alice", "bob")
	fill(t, s, conv.Id, "alice", "a", 2)
	res, err := s.MarkRead(t.Context(), []messages.ReadMark{
		{ConversationID: "c-unknown", UserID: "bob", UpToSeq: 1},
		{ConversationID: conv.Id, UserID: "mallory", UpToSeq: 1},
		{ConversationID: conv.Id, UserID: "bob", UpToSeq: 2},
	})
	if err != nil || len(res) != 3 {
		t.Fatalf("MarkRead: %+v, %v", res, err)
	}
	wantErr(t, "unknown conversation", res[0].Err, messages.ErrNotFound)
	wantErr(t, "non-member", res[1].Err, messages.ErrForbidden)
	if res[2].Err != nil || !res[2].Moved || res[2].UpToSeq != 2 || !slices.Equal(res[2].CoveredSenders, []string{"alice"}) {
		t.Errorf("valid mark: %+v", res[2])
	}
}

func testHistoryPaging(t *testing.T, s actors.Store) {
	conv := mustCreate(t, s, "alice", "bob")
	sent := fill(t, s, conv.Id, "alice", "a", 12)
	for _, tc := range []struct {
		name    string
		q       messages.HistoryQuery
		want    []int64
		hasMore bool
	}{
		{"all by default", messages.HistoryQuery{}, seqRange(1, 12), false},
		{"newest page", messages.HistoryQuery{Limit: 5}, seqRange(8, 12), true},
		{"before", messages.HistoryQuery{BeforeSeq: 8, Limit: 5}, seqRange(3, 7), true},
		{"before, last page", messages.HistoryQuery{BeforeSeq: 3, Limit: 5}, seqRange(1, 2), false},
		{"before, exact page", messages.HistoryQuery{BeforeSeq: 6, Limit: 5}, seqRange(1, 5), false},
		{"before the first", messages.HistoryQuery{BeforeSeq: 1}, nil, false},
		{"after", messages.HistoryQuery{AfterSeq: 2, Limit: 4}, seqRange(3, 6), true},
		{"after, last page", messages.HistoryQuery{AfterSeq: 10, Limit: 4}, seqRange(11, 12), false},
		{"after, exact page", messages.HistoryQuery{AfterSeq: 8, Limit: 4}, seqRange(9, 12), false},
		{"after the last", messages.HistoryQuery{AfterSeq: 12}, nil, false},
		{"forward from the start", messages.HistoryQuery{Forward: true, Limit: 4}, seqRange(1, 4), true},
		{"forward from the start, all", messages.HistoryQuery{Forward: true}, seqRange(1, 12), false},
		{"between", messages.HistoryQuery{AfterSeq: 2, BeforeSeq: 6, Limit: 10}, seqRange(3, 5), false},
		{"between, paged", messages.HistoryQuery{AfterSeq: 2, BeforeSeq: 9, Limit: 3}, seqRange(3, 5), true},
		{"before past the end", messages.HistoryQuery{BeforeSeq: 100, Limit: 2}, seqRange(11, 12), true},
	} {
		tc.q.ConversationID = conv.Id
		page := mustHistory(t, s, tc.q)
		if got := seqs(page.Messages); !slices.Equal(got, tc.want) || page.HasMore != tc.hasMore {
			t.Errorf("%s: got %v hasMore %v, want %v %v", tc.name, got, page.HasMore, tc.want, tc.hasMore)
		}
	}
	page := mustHistory(t, s, messages.HistoryQuery{ConversationID: conv.Id, AfterSeq: 3, Limit: 1})
	sameMessage(t, "seq 4", page.Messages[0], sent[3])
	empty := mustCreate(t, s, "alice", "carol")
	if page := mustHistory(t, s, messages.HistoryQuery{ConversationID: empty.Id}); len(page.Messages) != 0 || page.HasMore {
		t.Errorf("empty conversation: %+v", page)
	}
}

func testHistoryLimitCap(t *testing.T, s actors.Store) {
	conv := mustCreate(t, s, "alice", "bob")
	fill(t, s, conv.Id, "alice", "a", 210)
	page := mustHistory(t, s, messages.HistoryQuery{ConversationID: conv.Id, Limit: 1000})
	if got := seqs(page.Messages); !slices.Equal(got, seqRange(11, 210)) || !page.HasMore {
		t.Errorf("limit 1000: %d messages from %d, hasMore %v; want 200 from 11, true", len(got), got[0], page.HasMore)
	}
	page = mustHistory(t, s, messages.HistoryQuery{ConversationID: conv.Id})
	if got := seqs(page.Messages); !slices.Equal(got, seqRange(161, 210)) || !page.HasMore {
		t.Errorf("default limit: %d messages, hasMore %v; want 50, true", len(got), page.HasMore)
	}
}

func testHistoryReadBy(t *testing.T, s actors.Store) {
	conv := mustCreate(t, s, "alice", "bob", "carol")
	mustAppend(t, s,
		send(conv.Id, "alice", "1", "", 0),
		send(conv.Id, "alice", "2", "", 0),
		send(conv.Id, "bob", "3", "", 0),   // bob's watermark: 3
		send(conv.Id, "alice", "4", "", 0), // alice's: 4
		send(conv.Id, "carol", "5", "", 0)) // carol's: 5
	want := map[int64][]string{
		1: {"bob", "carol"},
		2: {"bob", "carol"},
		3: {"alice", "carol"},
		4: {"carol"},
		5: nil,
	}
	check := func() {
		t.Helper()
		page := mustHistory(t, s, messages.HistoryQuery{ConversationID: conv.Id})
		for _, m := range page.Messages {
			if !sameStrings(m.ReadBy, want[m.Seq]) {
				t.Errorf("seq %d read by %v, want %v", m.Seq, m.ReadBy, want[m.Seq])
			}
		}
	}
	check()
	mustMark(t, s, conv.Id, "bob", 5)
	want[4], want[5] = []string{"bob", "carol"}, []string{"bob"}
	check()
}

func testHistoryNotFound(t *testing.T, s actors.Store) {
	_, err := s.History(t.Context(), messages.HistoryQuery{ConversationID: "c-unknown"})
	wantErr(t, "History(c-unknown)", err, messages.ErrNotFound)
}

func testUnread(t *testing.T, s actors.Store) {
	direct := mustCreate(t, s, "alice", "bob")
	group := mustCreate(t, s, "alice", "bob", "carol")
	at := time.Now().Add(time.Hour)
	stamp := func(m messages.NewMessage, d time.Duration) messages.NewMessage {
		m.CreatedAt = at.Add(d)
		return m
	}
	fromAlice := mustAppend(t, s,
		stamp(send(direct.Id, "alice", "1", "one", 0), 0),
		stamp(send(direct.Id, "alice", "2", "two", 0), time.Second),
		stamp(send(direct.Id, "alice", "3", "three", 0), 2*time.Second))
	fromCarol := mustAppend(t, s,
		stamp(send(group.Id, "carol", "4", "four", 0), 3*time.Second),
		stamp(send(group.Id, "carol", "5", "five", 0), 4*time.Second))
	unread := func(user string) []messages.UnreadSummary {
		t.Helper()
		u, err := s.Unread(t.Context(), user)
		if err != nil {
			t.Fatalf("Unread(%s): %v", user, err)
		}
		return u
	}
	got := unread("bob")
	if len(got) != 2 || got[0].ConversationID != group.Id || got[0].Count != 2 ||
		got[1].ConversationID != direct.Id || got[1].Count != 3 {
		t.Fatalf("bob: %+v", got)
	}
	sameMessage(t, "bob's last in group", got[0].LastMessage, fromCarol[1])
	sameMessage(t, "bob's last in direct", got[1].LastMessage, fromAlice[2])
	// Own messages are never unread.
	if got := unread("alice"); len(got) != 1 || got[0].ConversationID != group.Id || got[0].Count != 2 {
		t.Errorf("alice: %+v", got)
	}
	mustMark(t, s, direct.Id, "bob", 2)
	mustMark(t, s, group.Id, "bob", 2)
	got = unread("bob")
	if len(got) != 1 || got[0].ConversationID != direct.Id || got[0].Count != 1 {
		t.Errorf("bob after reading: %+v", got)
	}
	if got := unread("nobody"); len(got) != 0 {
		t.Errorf("nobody: %+v", got)
	}
}
