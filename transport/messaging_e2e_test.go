package transport_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/wstest"
	"github.com/presenced/presenced/messages"
)

// message is the Message object of PROTOCOL.md.
type message = messages.WireMessage

type sent struct {
	ConversationID string  `json:"conversationId"`
	Message        message `json:"message"`
	Delivered      bool    `json:"delivered"`
}

func send(c *wstest.Client, ref, conv, content, clientMsgID string) {
	c.Send("send_message", ref, map[string]any{"conversationId": conv, "content": content, "clientMsgId": clientMsgID})
}

func TestMessagesOverRealWebSockets(t *testing.T) {
	s := start(t)
	conv := s.converse("alice", "bob")
	alice, _ := s.dial("alice", "CLIENT")
	aliceTab, _ := s.dial("alice", "CLIENT")
	bob, _ := s.dial("bob", "FREELANCER")

	send(alice, "c-17", conv, "hi bob 👋", "9f1c")
	f := alice.Until("message:sent")
	var ack sent
	f.Decode(t, &ack)
	if f.Ref != "c-17" || !ack.Delivered || ack.Message.Seq != 1 || ack.Message.Content != "hi bob 👋" ||
		ack.Message.SenderID != "alice" || ack.Message.ConversationID != conv || ack.Message.ID == "" {
		t.Fatalf("message:sent %s", f.Raw)
	}
	var got struct {
		ConversationID string  `json:"conversationId"`
		Message        message `json:"message"`
	}
	bob.Until("new_message").Decode(t, &got)
	if got.Message.ID != ack.Message.ID || got.ConversationID != conv {
		t.Fatalf("bob got %+v", got)
	}
	aliceTab.Until("new_message").Decode(t, &got) // the sender's other tab

	// A resend after a lost ack answers the original and pushes nothing.
	send(alice, "retry", conv, "hi bob 👋", "9f1c")
	var again sent
	alice.Until("message:sent").Decode(t, &again)
	if again.Message.ID != ack.Message.ID || again.Message.Seq != 1 {
		t.Fatalf("resend answered %+v", again.Message)
	}
	bob.Quiet(100 * time.Millisecond)

	// Joined, bob sees typing; reading tells alice.
	bob.Send("join_conversation", "", map[string]any{"conversationId": conv})
	// join has no answer; a history request behind it in bob's actor is one.
	bob.Send("history", "barrier", map[string]any{"conversationId": conv})
	bob.Until("history")
	alice.Send("typing", "", map[string]any{"conversationId": conv, "isTyping": true})
	var ty struct {
		UserID   string `json:"userId"`
		IsTyping bool   `json:"isTyping"`
	}
	bob.Until("typing").Decode(t, &ty)
	if ty.UserID != "alice" || !ty.IsTyping {
		t.Fatalf("typing %+v", ty)
	}
	bob.Send("mark_read", "mr", map[string]any{"conversationId": conv, "upToSeq": 1})
	if f := bob.Until("message:read"); f.Ref != "mr" {
		t.Fatalf("mark_read answered %s", f.Raw)
	}
	var read struct {
		UserID  string `json:"userId"`
		UpToSeq int64  `json:"upToSeq"`
	}
	alice.Until("message:read").Decode(t, &read)
	if read.UserID != "bob" || read.UpToSeq != 1 {
		t.Fatalf("alice told %+v", read)
	}

	// History over the WebSocket and over HTTP, with readBy.
	bob.Send("history", "h1", map[string]any{"conversationId": conv, "limit": 10})
	var hist struct {
		Messages []message `json:"messages"`
		HasMore  bool      `json:"hasMore"`
	}
	f = bob.Until("history")
	f.Decode(t, &hist)
	if f.Ref != "h1" || len(hist.Messages) != 1 || len(hist.Messages[0].ReadBy) != 1 || hist.Messages[0].ReadBy[0] != "bob" {
		t.Fatalf("history %s", f.Raw)
	}
	status, out := s.api("GET", "/v1/conversations/"+conv+"/messages", "user=alice&role=CLIENT&limit=10", "")
	if msgs, _ := out["messages"].([]any); status != 200 || len(msgs) != 1 {
		t.Fatalf("HTTP history %d %v", status, out)
	}
	if status, out := s.api("GET", "/v1/conversations/"+conv+"/messages", "user=mallory&role=CLIENT", ""); status != 403 || errorCode(out) != "forbidden" {
		t.Fatalf("HTTP history for a non-member: %d %v", status, out)
	}
}

func TestFocusedRecipientReadsAtOnce(t *testing.T) {
	s := start(t)
	conv := s.converse("alice", "bob")
	alice, _ := s.dial("alice", "CLIENT")
	bob, _ := s.dial("bob", "FREELANCER")
	bob.Send("chat:focus", "", map[string]any{"partnerId": "alice"})
	// Bob's connect reaches alice at once (active); his focus (online),
	// inside her coalescing window, when the window ends on the fake clock.
	// Only the latter says the focus is in.
	for online := false; !online; {
		s.clock.Advance(time.Second)
		var upd struct {
			Users []struct{ UserID, Status string } `json:"users"`
		}
		alice.Until("presence:update").Decode(t, &upd)
		for _, u := range upd.Users {
			online = online || u.UserID == "bob" && u.Status == "online"
		}
	}

	send(alice, "s", conv, "are you there?", "m1")
	alice.Until("message:sent")
	var read struct {
		UserID  string `json:"userId"`
		UpToSeq int64  `json:"upToSeq"`
	}
	alice.Until("message:read").Decode(t, &read)
	if read.UserID != "bob" || read.UpToSeq != 1 {
		t.Fatalf("read %+v", read)
	}
}

func TestOfflineRecipientGetsUnreadOnConnect(t *testing.T) {
	s := start(t)
	conv := s.converse("alice", "bob")
	alice, _ := s.dial("alice", "CLIENT")
	for i := range 3 {
		send(alice, "", conv, fmt.Sprintf("message %d", i), fmt.Sprintf("m%d", i))
		var ack sent
		alice.Until("message:sent").Decode(t, &ack)
		if ack.Delivered {
			t.Fatal("reported delivered to an offline user")
		}
	}
	bob, _ := s.dial("bob", "FREELANCER")
	var unread struct {
		Conversations []struct {
			ConversationID string  `json:"conversationId"`
			Count          int64   `json:"count"`
			LastMessage    message `json:"lastMessage"`
		} `json:"conversations"`
	}
	bob.Expect("unread").Decode(t, &unread) // right after presence:connected
	if len(unread.Conversations) != 1 || unread.Conversations[0].Count != 3 || unread.Conversations[0].LastMessage.Seq != 3 {
		t.Fatalf("unread %+v", unread)
	}
	status, out := s.api("GET", "/v1/conversations", "user=bob&role=FREELANCER", "")
	list := out["conversations"].([]any)
	if status != 200 || list[0].(map[string]any)["unreadCount"].(float64) != 3 {
		t.Fatalf("conversations %d %v", status, out)
	}
}

func TestBadMessagesAreRefusedAndStoreNothing(t *testing.T) {
	s := start(t, func(c *config) { c.transport.MaxMessageBytes = 16 })
	conv := s.converse("alice", "bob")
	other := s.converse("bob", "carol")
	alice, _ := s.dial("alice", "CLIENT")
	cases := []struct{ name, frame, code string }{
		{"not a member", `{"type":"send_message","ref":"r","data":{"conversationId":"` + other + `","content":"x","clientMsgId":"a"}}`, "forbidden"},
		{"no such conversation", `{"type":"send_message","ref":"r","data":{"conversationId":"c-nope","content":"x","clientMsgId":"a"}}`, "not_found"},
		{"too large", `{"type":"send_message","ref":"r","data":{"conversationId":"` + conv + `","content":"` + strings.Repeat("é", 9) + `","clientMsgId":"a"}}`, "too_large"},
		{"empty", `{"type":"send_message","ref":"r","data":{"conversationId":"` + conv + `","content":"","clientMsgId":"a"}}`, "invalid_payload"},
		{"lone surrogate", `{"type":"send_message","ref":"r","data":{"conversationId":"` + conv + `","content":"\ud800x","clientMsgId":"a"}}`, "invalid_payload"},
		{"invalid utf-8", "{\"type\":\"send_message\",\"ref\":\"r\",\"data\":{\"conversationId\":\"" + conv + "\",\"content\":\"\xc3\x28\",\"clientMsgId\":\"a\"}}", "invalid_payload"},
		{"no clientMsgId", `{"type":"send_message","ref":"r","data":{"conversationId":"` + conv + `","content":"x"}}`, "invalid_payload"},
		{"clientMsgId too long", `{"type":"send_message","ref":"r","data":{"conversationId":"` + conv + `","content":"x","clientMsgId":"` + strings.Repeat("z", 65) + `"}}`, "invalid_payload"},
		{"content not a string", `{"type":"send_message","ref":"r","data":{"conversationId":"` + conv + `","content":5,"clientMsgId":"a"}}`, "invalid_payload"},
		{"mark_read not a member", `{"type":"mark_read","ref":"r","data":{"conversationId":"` + other + `","upToSeq":1}}`, "forbidden"},
		{"mark_read negative", `{"type":"mark_read","ref":"r","data":{"conversationId":"` + conv + `","upToSeq":-1}}`, "invalid_payload"},
		{"mark_read fraction", `{"type":"mark_read","ref":"r","data":{"conversationId":"` + conv + `","upToSeq":1.5}}`, "invalid_payload"},
		{"join not a member", `{"type":"join_conversation","ref":"r","data":{"conversationId":"` + other + `"}}`, "forbidden"},
		{"history not a member", `{"type":"history","ref":"r","data":{"conversationId":"` + other + `"}}`, "forbidden"},
		{"typing without isTyping", `{"type":"typing","ref":"r","data":{"conversationId":"` + conv + `"}}`, "invalid_payload"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			alice.SendRaw([]byte(tc.frame))
			alice.ExpectError(tc.code, "r")
		})
	}
	send(alice, "ok", conv, "still fine", "good")
	var ack sent
	alice.Until("message:sent").Decode(t, &ack)
	if ack.Message.Seq != 1 {
		t.Fatalf("first stored message has seq %d: a refused one was stored", ack.Message.Seq)
	}
}
