package actors

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/messages"
)

type wireMsg struct {
	ID, ConversationID, SenderID, Content, ClientMsgID string
	Seq, CreatedAt                                     int64
	ReadBy                                             []string
}

type sentData struct {
	ConversationID string
	Message        wireMsg
	Delivered      bool
}

type readData struct {
	ConversationID, UserID string
	UpToSeq                int64
}

// only asserts that exactly frames of these types arrived, in this order,
// and returns them.
func (h *harness) only(p *probe, want ...string) []frame {
	h.t.Helper()
	fs := p.take()
	if len(fs) != len(want) {
		h.t.Fatalf("got %v, want %v", types(fs), want)
	}
	for i := range want {
		if fs[i].Type != want[i] {
			h.t.Fatalf("got %v, want %v", types(fs), want)
		}
	}
	return fs
}

func (h *harness) conversation(a, b string) string {
	h.t.Helper()
	conv, err := h.e.CreateConversation(context.Background(), a, client, []string{a, b})
	if err != nil {
		h.t.Fatal(err)
	}
	return conv.Id
}

// settle lets the coalescing windows end and takes presence noise away.
func (h *harness) settle(ps ...*probe) {
	h.clock.Advance(time.Second)
	for _, p := range ps {
		var keep []frame
		for _, f := range p.take() {
			if f.Type != messages.TypePresenceUpdate {
				keep = append(keep, f)
			}
		}
		p.mu.Lock()
		p.frames = append(keep, p.frames...)
		p.mu.Unlock()
	}
}

// chatting is a harness where alice (a client) and bob (a freelancer)
// share a conversation and are connected, their presence noise settled.
func chatting(t *testing.T) (h *harness, conv string, alice, bob *probe) {
	h = newHarness(t)
	conv = h.conversation("alice", "bob")
	alice, _ = h.connect("alice", client)
	bob, _ = h.connect("bob", freelancer)
	h.settle(alice, bob)
	return h, conv, alice, bob
}

// The server's message latency runs from the sender's actor taking a send
// to its message:sent: the commit included, once per acknowledgement.
func TestMessageAckLatencyIncludesTheCommit(t *testing.T) {
	h, conv, alice, bob := chatting(t)
	h.store.SetAppendHook(func(context.Context, []messages.NewMessage) error {
		h.clock.Advance(25 * time.Millisecond) // a commit that takes 25 ms
		return nil
	})

	alice.sess.Send("c-1", conv, "hello", "m1")
	h.only(alice, messages.TypeMessageSent)
	h.only(bob, messages.TypeNewMessage)
	n, sum := histogram(t, h.e.env.metrics.messageAck)
	if n != 1 || math.Abs(sum-0.025) > 1e-9 {
		t.Fatalf("message ack latency: %d observations summing to %gs, want 1 of 0.025s", n, sum)
	}

	h.store.SetUnavailable(true)
	alice.sess.Send("c-2", conv, "lost?", "m2")
	h.only(alice, messages.TypeError)
	if n, _ := histogram(t, h.e.env.metrics.messageAck); n != 1 {
		t.Fatalf("a send answered with an error was counted as acknowledged (%d observations)", n)
	}
}

func TestMessageToAnOnlineRecipientOnEveryDevice(t *testing.T) {
	h := newHarness(t)
	conv := h.conversation("alice", "bob")
	phone, _ := h.connect("alice", client)
	laptop, _ := h.connect("alice", client)
	bob, _ := h.connect("bob", freelancer)
	h.settle(phone, laptop, bob)

	phone.sess.Send("c-1", conv, "hello", "m1")
	var sent sentData
	f := h.only(phone, messages.TypeMessageSent)[0]
	mustDecode(t, f.Data, &sent)
	if f.Ref != "c-1" || !sent.Delivered || sent.Message.Seq != 1 || sent.Message.Content != "hello" ||
		sent.Message.SenderID != "alice" || sent.Message.ClientMsgID != "m1" || sent.Message.ID == "" {
		t.Fatalf("message:sent %s", f.Data)
	}
	var got struct{ Message wireMsg }
	mustDecode(t, h.only(bob, messages.TypeNewMessage)[0].Data, &got)
	if got.Message.ID != sent.Message.ID {
		t.Fatalf("bob got %+v", got.Message)
	}
	h.only(laptop, messages.TypeNewMessage) // the sender's other device
}

func TestMessageToAnOfflineRecipientWaitsAsUnread(t *testing.T) {
	h := newHarness(t)
	conv := h.conversation("alice", "bob")
	alice, _ := h.connect("alice", client)
	alice.sess.Send("r", conv, "are you there?", "m1")
	var sent sentData
	mustDecode(t, h.only(alice, messages.TypeMessageSent)[0].Data, &sent)
	if sent.Delivered {
		t.Fatal("delivered to nobody, yet reported delivered")
	}

	p := &probe{}
	s, err := h.e.Connect(t.Context(), "bob", freelancer, p)
	if err != nil {
		t.Fatal(err)
	}
	p.sess = s
	fs := h.only(p, messages.TypePresenceConnected, messages.TypeUnread)
	var unread struct {
		Conversations []struct {
			ConversationID string
			Count          int64
			LastMessage    wireMsg
		}
	}
	mustDecode(t, fs[1].Data, &unread)
	if len(unread.Conversations) != 1 || unread.Conversations[0].Count != 1 ||
		unread.Conversations[0].LastMessage.Content != "are you there?" {
		t.Fatalf("unread %s", fs[1].Data)
	}
	s.History("h", conv, 0, 0, true, 50)
	var hist struct {
		Messages []wireMsg
		HasMore  bool
	}
	f := h.only(p, messages.TypeHistory)[0]
	mustDecode(t, f.Data, &hist)
	if f.Ref != "h" || len(hist.Messages) != 1 || hist.HasMore {
		t.Fatalf("history %s", f.Data)
	}
}

func TestFocusedRecipientReadsAtOnceAndTheSenderIsTold(t *testing.T) {
	h := newHarness(t)
	conv := h.conversation("alice", "bob")
	alice, _ := h.connect("alice", client)
	bob, _ := h.connect("bob", freelancer)
	bobPhone, _ := h.connect("bob", freelancer)
	if err := bob.sess.Focus("alice"); err != nil {
		t.Fatal(err)
	}
	h.settle(alice, bob, bobPhone)

	alice.sess.Send("r", conv, "hi", "m1")
	fs := h.only(alice, messages.TypeMessageSent, messages.TypeMessageRead)
	var read readData
	mustDecode(t, fs[1].Data, &read)
	if read.UserID != "bob" || read.UpToSeq != 1 || read.ConversationID != conv {
		t.Fatalf("message:read %s", fs[1].Data)
	}
	h.only(bob, messages.TypeNewMessage, messages.TypeMessageRead)      // its own read, for its badge
	h.only(bobPhone, messages.TypeNewMessage, messages.TypeMessageRead) // the other device follows
	page, _ := h.store.History(t.Context(), messages.HistoryQuery{ConversationID: conv})
	if len(page.Messages[0].ReadBy) != 1 || page.Messages[0].ReadBy[0] != "bob" {
		t.Fatalf("stored readBy %v", page.Messages[0].ReadBy)
	}
}

func TestMarkReadSyncsDevicesAndTellsTheSender(t *testing.T) {
	h := newHarness(t)
	conv := h.conversation("alice", "bob")
	alice, _ := h.connect("alice", client)
	bob, _ := h.connect("bob", freelancer)
	bobPhone, _ := h.connect("bob", freelancer)
	h.settle(alice, bob, bobPhone)
	alice.sess.Send("", conv, "one", "m1")
	alice.sess.Send("", conv, "two", "m2")
	alice.take()
	bob.take()
	bobPhone.take()

	bob.sess.MarkRead("mr", conv, 2)
	f := h.only(bob, messages.TypeMessageRead)[0]
	if f.Ref != "mr" {
		t.Fatalf("answer %s without its ref", f.Data)
	}
	h.only(bobPhone, messages.TypeMessageRead)
	var read readData
	mustDecode(t, h.only(alice, messages.TypeMessageRead)[0].Data, &read)
	if read.UserID != "bob" || read.UpToSeq != 2 {
		t.Fatalf("alice told %+v", read)
	}
	bob.sess.MarkRead("again", conv, 1) // never backwards: answered, nobody else told
	mustDecode(t, h.only(bob, messages.TypeMessageRead)[0].Data, &read)
	if read.UpToSeq != 2 {
		t.Fatalf("watermark went back to %d", read.UpToSeq)
	}
	h.only(alice)
}

func TestResendWithTheSameClientMsgIDNeverDuplicates(t *testing.T) {
	h, conv, alice, bob := chatting(t)

	alice.sess.Send("first", conv, "pay me", "same-id")
	var first, again sentData
	mustDecode(t, h.only(alice, messages.TypeMessageSent)[0].Data, &first)
	h.only(bob, messages.TypeNewMessage)

	alice.sess.Send("retry", conv, "pay me", "same-id")
	f := h.only(alice, messages.TypeMessageSent)[0]
	mustDecode(t, f.Data, &again)
	if f.Ref != "retry" || again.Message.ID != first.Message.ID || again.Message.Seq != first.Message.Seq || !again.Delivered {
		t.Fatalf("resend answered %s, want the original %+v", f.Data, first.Message)
	}
	h.only(bob) // nothing pushed twice
	page, _ := h.store.History(t.Context(), messages.HistoryQuery{ConversationID: conv})
	if len(page.Messages) != 1 {
		t.Fatalf("%d messages stored", len(page.Messages))
	}
}

func TestStoreDownAnswersUnavailableAndRecovers(t *testing.T) {
	h := newHarness(t)
	conv := h.conversation("alice", "bob")
	alice, _ := h.connect("alice", client)
	bob, _ := h.connect("bob", freelancer)
	alice.sess.Send("warm", conv, "cache the members", "m0")
	h.settle(alice, bob)
	alice.take()
	bob.take()

	h.store.SetUnavailable(true)
	alice.sess.Send("s1", conv, "hello?", "m1")
	f := h.only(alice, messages.TypeError)[0]
	var e struct{ Code string }
	mustDecode(t, f.Data, &e)
	if f.Ref != "s1" || e.Code != string(messages.CodeUnavailable) {
		t.Fatalf("got %s, want unavailable with ref s1", f.Data)
	}
	h.only(bob)

	// Presence keeps working meanwhile.
	h.clock.Advance(time.Second)
	carol := &probe{}
	s, err := h.e.Connect(t.Context(), "carol", client, carol)
	if err != nil {
		t.Fatalf("connecting while the store is down: %v", err)
	}
	carol.sess = s
	h.only(carol, messages.TypePresenceConnected)

	h.store.SetUnavailable(false)
	alice.sess.Send("s2", conv, "hello?", "m1")
	var sent sentData
	mustDecode(t, h.only(alice, messages.TypeMessageSent)[0].Data, &sent)
	if sent.Message.Seq != 2 {
		t.Fatalf("seq %d", sent.Message.Seq)
	}
}

func TestBadMessagesChangeNothing(t *testing.T) {
	h := newHarness(t)
	conv := h.conversation("bob", "carol")
	alice, _ := h.connect("alice", client)
	for _, tc := range []struct{ conv, code string }{
		{conv, string(messages.CodeForbidden)},
		{"c-does-not-exist", string(messages.CodeNotFound)},
	} {
		alice.sess.Send("x", tc.conv, "hi", "m1")
		var e struct{ Code string }
		f := h.only(alice, messages.TypeError)[0]
		mustDecode(t, f.Data, &e)
		if e.Code != tc.code || f.Ref != "x" {
			t.Fatalf("sending to %s: %s, want %s", tc.conv, f.Data, tc.code)
		}
		alice.sess.Join("j", tc.conv)
		mustDecode(t, h.only(alice, messages.TypeError)[0].Data, &e)
		if e.Code != tc.code {
			t.Fatalf("joining %s: %s", tc.conv, e.Code)
		}
	}
	if n := h.store.AppendCalls(); n != 0 {
		t.Fatalf("%d appends reached the store", n)
	}
}

func TestTypingReachesJoinedConnectionsOnly(t *testing.T) {
	h := newHarness(t)
	conv := h.conversation("alice", "bob")
	alice, _ := h.connect("alice", client)
	bobChat, _ := h.connect("bob", freelancer)
	bobList, _ := h.connect("bob", freelancer)
	h.settle(alice, bobChat, bobList)
	bobChat.sess.Join("", conv)

	alice.sess.Typing("", conv, true)
	var ty struct {
		ConversationID, UserID string
		IsTyping               bool
	}
	mustDecode(t, h.only(bobChat, messages.TypeTyping)[0].Data, &ty)
	if ty.UserID != "alice" || !ty.IsTyping || ty.ConversationID != conv {
		t.Fatalf("typing %+v", ty)
	}
	h.only(bobList)
	h.only(alice)

	bobChat.sess.Leave("", conv)
	alice.sess.Typing("", conv, false)
	h.only(bobChat)
}

// A connection that ends while its user types (a tab closed or crashed
// mid-sentence) does not leave "typing" on the partner's screen: the
// partner is told it stopped, once no other tab of the user still types.
func TestTypingStopsWhenTheTypingConnectionEnds(t *testing.T) {
	h := newHarness(t)
	conv := h.conversation("alice", "bob")
	tab1, _ := h.connect("alice", client)
	tab2, _ := h.connect("alice", client)
	bob, _ := h.connect("bob", freelancer)
	h.settle(tab1, tab2, bob)
	bob.sess.Join("", conv)
	// typing returns the isTyping of every typing frame bob got since last
	// (presence aside).
	typing := func() []bool {
		t.Helper()
		var out []bool
		for _, f := range bob.take() {
			if f.Type == messages.TypePresenceUpdate {
				continue
			}
			if f.Type != messages.TypeTyping {
				t.Fatalf("got %s", f.Type)
			}
			var ty struct {
				UserID   string
				IsTyping bool
			}
			mustDecode(t, f.Data, &ty)
			if ty.UserID != "alice" {
				t.Fatalf("typing from %s", ty.UserID)
			}
			out = append(out, ty.IsTyping)
		}
		return out
	}

	tab1.sess.Typing("", conv, true)
	tab2.sess.Typing("", conv, true)
	if got := typing(); !slices.Equal(got, []bool{true, true}) {
		t.Fatalf("bob got %v, want typing twice", got)
	}
	tab2.sess.Close() // tab1 still types
	if got := typing(); len(got) != 0 {
		t.Fatalf("bob got %v while tab1 still types", got)
	}
	tab1.sess.Close()
	if got := typing(); !slices.Equal(got, []bool{false}) {
		t.Fatalf("bob got %v when the last typing tab closed, want one stop", got)
	}

	// A tab that said it stopped ends quietly.
	tab3, _ := h.connect("alice", client)
	tab3.sess.Typing("", conv, true)
	tab3.sess.Typing("", conv, false)
	tab3.sess.Close()
	h.clock.Advance(time.Minute)
	if got := typing(); !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("bob got %v, want just tab3's own true and false", got)
	}
}

func TestHistoryPagesBothWays(t *testing.T) {
	h := newHarness(t)
	conv := h.conversation("alice", "bob")
	alice, _ := h.connect("alice", client)
	for i := range 5 {
		alice.sess.Send("", conv, "m", string(rune('a'+i)))
	}
	alice.take()
	var page struct {
		Messages []wireMsg
		HasMore  bool
	}
	seqs := func() []int64 {
		var out []int64
		for _, m := range page.Messages {
			out = append(out, m.Seq)
		}
		return out
	}
	alice.sess.History("", conv, 0, 0, false, 2)
	mustDecode(t, h.only(alice, messages.TypeHistory)[0].Data, &page)
	if s := seqs(); len(s) != 2 || s[0] != 4 || s[1] != 5 || !page.HasMore {
		t.Fatalf("newest page %v hasMore=%v", s, page.HasMore)
	}
	alice.sess.History("", conv, 4, 0, false, 10)
	mustDecode(t, h.only(alice, messages.TypeHistory)[0].Data, &page)
	if s := seqs(); len(s) != 3 || s[0] != 1 || page.HasMore {
		t.Fatalf("older page %v hasMore=%v", s, page.HasMore)
	}
	alice.sess.History("", conv, 0, 2, true, 2)
	mustDecode(t, h.only(alice, messages.TypeHistory)[0].Data, &page)
	if s := seqs(); len(s) != 2 || s[0] != 3 || !page.HasMore {
		t.Fatalf("newer page %v hasMore=%v", s, page.HasMore)
	}
	alice.sess.History("", conv, 0, 0, true, 2) // catching up from a watermark of 0
	mustDecode(t, h.only(alice, messages.TypeHistory)[0].Data, &page)
	if s := seqs(); len(s) != 2 || s[0] != 1 || !page.HasMore {
		t.Fatalf("first page %v hasMore=%v", s, page.HasMore)
	}
}
