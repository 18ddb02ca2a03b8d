package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/messages"
)

func testAppendSeqGapless(t *testing.T, s actors.Store) {
	conv := mustCreate(t, s, "alice", "bob")
	first := mustAppend(t, s, send(conv.Id, "alice", "a1", "hi", 0))[0]
	if first.Seq != 1 || first.Id == "" || first.ConversationId != conv.Id || first.SenderId != "alice" ||
		first.Content != "hi" || first.ClientMsgId != "a1" || first.CreatedAtMs != base.UnixMilli() {
		t.Fatalf("first message %v", first)
	}
	more := mustAppend(t, s,
		send(conv.Id, "bob", "b1", "hey", time.Second),
		send(conv.Id, "alice", "a2", "how", 2*time.Second),
		send(conv.Id, "bob", "", "no client id", 3*time.Second),
		send(conv.Id, "bob", "", "no client id", 4*time.Second))
	if got := seqs(more); !slices.Equal(got, []int64{2, 3, 4, 5}) {
		t.Fatalf("seqs %v, want 2..5", got)
	}
	if more[2].Id == more[3].Id {
		t.Errorf("two messages without client id share id %s", more[2].Id)
	}
	page := mustHistory(t, s, messages.HistoryQuery{ConversationID: conv.Id})
	if got := seqs(page.Messages); !slices.Equal(got, seqRange(1, 5)) {
		t.Fatalf("history seqs %v", got)
	}
	// bob's messages moved his watermark past alice's first.
	sameMessage(t, "history[0]", page.Messages[0], withReadBy(first, true, "bob"))
}

// testAppendConcurrentSenders: 8 senders, 50 messages each, in batches of
// different sizes spread over two conversations, all at once. Each
// conversation's seqs must be exactly 1..n, ids unique, and each sender's
// messages in the order it sent them.
func testAppendConcurrentSenders(t *testing.T, s actors.Store) {
	const senders, perSender = 8, 50
	var members []string
	for g := range senders {
		members = append(members, fmt.Sprintf("s%d", g))
	}
	convs := []string{mustCreate(t, s, members...).Id, mustCreate(t, s, append(members, "extra")...).Id}
	sent := make([][]*messages.ChatMessage, senders)
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() { sent[g] = sendAll(t, s, convs, members[g], perSender, []int{1, 3, 7, 16}[g%4]) })
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	checkGapless(t, s, convs, sent, senders*perSender)

	// Resending everything, concurrently again, answers the originals and
	// takes no seq.
	for g := range senders {
		wg.Go(func() {
			again := sendAll(t, s, convs, members[g], perSender, 5)
			for i := range again {
				if again[i].Id != sent[g][i].Id || again[i].Seq != sent[g][i].Seq {
					t.Errorf("resend of %s: got %v, want %v", again[i].ClientMsgId, again[i], sent[g][i])
					return
				}
			}
		})
	}
	wg.Wait()
	checkGapless(t, s, convs, sent, senders*perSender)
}

// sendAll sends n messages from sender, alternating between convs, in
// batches of batchSize, and returns them in sending order.
func sendAll(t *testing.T, s actors.Store, convs []string, sender string, n, batchSize int) []*messages.ChatMessage {
	var out []*messages.ChatMessage
	for len(out) < n {
		var batch []messages.NewMessage
		for i := len(out); i < n && len(batch) < batchSize; i++ {
			batch = append(batch, send(convs[i%len(convs)], sender, fmt.Sprintf("%s-%d", sender, i), "x", time.Duration(i)))
		}
		res, err := s.AppendMessages(t.Context(), batch)
		if err != nil {
			t.Errorf("%s: AppendMessages: %v", sender, err)
			return nil
		}
		for _, r := range res {
			if r.Err != nil {
				t.Errorf("%s: item error %v", sender, r.Err)
				return nil
			}
			out = append(out, r.Message)
		}
	}
	return out
}

func checkGapless(t *testing.T, s actors.Store, convs []string, sent [][]*messages.ChatMessage, total int) {
	t.Helper()
	ids := make(map[string]bool)
	bySeq := make(map[string][]int64)
	for _, msgs := range sent {
		last := make(map[string]int64)
		for _, m := range msgs {
			if m.Seq <= last[m.ConversationId] {
				t.Fatalf("%s: seq %d after %d: a sender's messages out of order", m.ClientMsgId, m.Seq, last[m.ConversationId])
			}
			last[m.ConversationId] = m.Seq
			if ids[m.Id] {
				t.Fatalf("id %s given twice", m.Id)
			}
			ids[m.Id] = true
			bySeq[m.ConversationId] = append(bySeq[m.ConversationId], m.Seq)
		}
	}
	count := 0
	for _, conv := range convs {
		got := bySeq[conv]
		slices.Sort(got)
		if !slices.Equal(got, seqRange(1, int64(len(got)))) {
			t.Fatalf("%s: seqs are not 1..%d: %v", conv, len(got), got)
		}
		count += len(got)
		page := mustHistory(t, s, messages.HistoryQuery{ConversationID: conv, Limit: 200})
		if len(got) <= 200 && len(page.Messages) != len(got) {
			t.Errorf("%s: history has %d messages, %d were sent", conv, len(page.Messages), len(got))
		}
	}
	if count != total {
		t.Errorf("%d messages stored, want %d", count, total)
	}
}

func testAppendIdempotent(t *testing.T, s actors.Store) {
	conv := mustCreate(t, s, "alice", "bob")
	res, err := s.AppendMessages(t.Context(), []messages.NewMessage{
		send(conv.Id, "alice", "k1", "first", 0),
		send(conv.Id, "alice", "k1", "resent in the same batch", time.Second),
		send(conv.Id, "bob", "k1", "another sender's k1", 2*time.Second),
	})
	if err != nil {
		t.Fatalf("AppendMessages: %v", err)
	}
	orig := res[0].Message
	if res[0].Duplicate || orig.Seq != 1 {
		t.Fatalf("first: %+v", res[0])
	}
	if !res[1].Duplicate || res[1].Err != nil {
		t.Fatalf("same batch resend: %+v", res[1])
	}
	sameMessage(t, "same batch resend", res[1].Message, orig)
	if res[2].Duplicate || res[2].Message.Seq != 2 {
		t.Errorf("bob's k1 is not alice's: %+v", res[2])
	}
	// bob read alice's message since: the duplicate answers the original
	// with its ReadBy up to date, and takes no seq.
	mustMark(t, s, conv.Id, "bob", 2)
	again, err := s.AppendMessages(t.Context(), []messages.NewMessage{send(conv.Id, "alice", "k1", "resent later", time.Hour)})
	if err != nil || !again[0].Duplicate {
		t.Fatalf("later resend: %+v, %v", again, err)
	}
	want := &messages.ChatMessage{
		Id: orig.Id, ConversationId: conv.Id, Seq: 1, SenderId: "alice", Content: "first",
		ClientMsgId: "k1", CreatedAtMs: orig.CreatedAtMs, ReadBy: []string{"bob"},
	}
	sameMessage(t, "later resend", again[0].Message, want)
	next := mustAppend(t, s, send(conv.Id, "alice", "k2", "next", time.Hour))[0]
	if next.Seq != 3 {
		t.Errorf("next message seq %d, want 3: a duplicate consumed a seq", next.Seq)
	}
}

// testAppendConcurrentDuplicates sends the same client id from many
// goroutines at once, round after round: exactly one stores it, all get the
// same message, and no seq is lost.
func testAppendConcurrentDuplicates(t *testing.T, s actors.Store) {
	const rounds, senders = 10, 6
	conv := mustCreate(t, s, "alice", "bob")
	for round := range rounds {
		got := make([]messages.AppendResult, senders)
		var wg sync.WaitGroup
		for g := range senders {
			wg.Go(func() {
				res, err := s.AppendMessages(t.Context(), []messages.NewMessage{
					send(conv.Id, "alice", fmt.Sprintf("r%d", round), "same", 0),
					send(conv.Id, "bob", fmt.Sprintf("r%d-%d", round, g), "distinct", 0),
				})
				if err != nil {
					t.Errorf("round %d: %v", round, err)
					return
				}
				got[g] = res[0]
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		stored := 0
		for _, r := range got {
			if r.Err != nil || r.Message == nil || r.Message.Id != got[0].Message.Id {
				t.Fatalf("round %d: results disagree: %+v", round, got)
			}
			if !r.Duplicate {
				stored++
			}
		}
		if stored != 1 {
			t.Fatalf("round %d: %d senders stored the message, want 1", round, stored)
		}
	}
	page := mustHistory(t, s, messages.HistoryQuery{ConversationID: conv.Id, Limit: 200})
	if got := seqs(page.Messages); !slices.Equal(got, seqRange(1, rounds*(senders+1))) {
		t.Errorf("seqs %v, want 1..%d", got, rounds*(senders+1))
	}
}

func testAppendItemErrors(t *testing.T, s actors.Store) {
	conv := mustCreate(t, s, "alice", "bob")
	res, err := s.AppendMessages(t.Context(), []messages.NewMessage{
		send(conv.Id, "alice", "1", "ok", 0),
		send("c-unknown", "alice", "2", "no such conversation", 0),
		send(conv.Id, "mallory", "3", "not a member", 0),
		send(conv.Id, "bob", "4", "ok too", 0),
	})
	if err != nil || len(res) != 4 {
		t.Fatalf("AppendMessages: %v, %v", res, err)
	}
	wantErr(t, "unknown conversation", res[1].Err, messages.ErrNotFound)
	wantErr(t, "non-member", res[2].Err, messages.ErrForbidden)
	if res[0].Err != nil || res[0].Message.Seq != 1 || res[3].Err != nil || res[3].Message.Seq != 2 {
		t.Errorf("the valid items: %+v, %+v", res[0], res[3])
	}
	// A refused item's client id stays free.
	again, err := s.AppendMessages(t.Context(), []messages.NewMessage{send(conv.Id, "alice", "2", "now here", 0)})
	if err != nil || again[0].Duplicate || again[0].Err != nil || again[0].Message.Seq != 3 {
		t.Errorf("client id of a refused item: %+v, %v", again, err)
	}
}

func testAppendMovesSenderWatermark(t *testing.T, s actors.Store) {
	conv := mustCreate(t, s, "alice", "bob", "carol")
	fill(t, s, conv.Id, "bob", "b", 3)
	mustAppend(t, s, send(conv.Id, "alice", "a", "reply", time.Second))
	sums := mustConversations(t, s, "alice")
	if len(sums) != 1 || sums[0].LastReadSeq != 4 || sums[0].Unread != 0 {
		t.Errorf("alice after replying: %+v", sums)
	}
	sums = mustConversations(t, s, "carol")
	if len(sums) != 1 || sums[0].LastReadSeq != 0 || sums[0].Unread != 4 {
		t.Errorf("carol: %+v", sums)
	}
	page := mustHistory(t, s, messages.HistoryQuery{ConversationID: conv.Id})
	for _, m := range page.Messages {
		want := []string{"alice"}
		if m.SenderId == "alice" {
			want = nil
		}
		if !sameStrings(m.ReadBy, want) {
			t.Errorf("seq %d read by %v, want %v", m.Seq, m.ReadBy, want)
		}
	}
}
