package actors

import (
	"fmt"
	"testing"

	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/proto"

	"github.com/presenced/presenced/messages"
)

// TestEveryMessageBetweenMembersSerializes guards against Proto.Actor's
// worst cluster trap: a member that receives a type it cannot deserialize
// crashes. Every message this code sends to another member must be a
// protobuf message that round-trips through remoting's serializer.
func TestEveryMessageBetweenMembersSerializes(t *testing.T) {
	ref := &messages.ConnRef{Member: "127.0.0.1:1", Id: 7}
	msg := &messages.ChatMessage{Id: "m-1", ConversationId: "c-1", Seq: 3, SenderId: "a", Content: "hé", ReadBy: []string{"b"}}
	conv := &messages.Conversation{Id: "c-1", MemberIds: []string{"a", "b"}, Direct: true}
	crossMember := []proto.Message{
		&messages.Attach{Conn: ref, UserId: "a", Role: "CLIENT", Focus: []string{"b"}, Rejoin: true, Greeted: true},
		&messages.AttachReply{UserPidAddress: "x", UserPidId: "y"},
		&messages.Detach{Conn: ref, Superseded: true},
		&messages.Touch{Conn: ref, Heartbeat: true},
		&messages.Focus{Conn: ref, PartnerId: "b"},
		&messages.Blur{Conn: ref},
		&messages.PresenceChanged{Presence: &messages.UserPresence{UserId: "a", Connected: true, Focus: []string{"b"}, Version: 9, ConnMembers: []string{"m"}, Owner: "m"}},
		&messages.ViewerJoin{Conn: ref, UserId: "a", Role: "ADMIN"},
		&messages.ViewerReady{Conn: ref},
		&messages.ViewerLeave{Conn: ref},
		&messages.ContactsAdded{Conversation: conv},
		&messages.Push{ConnIds: []uint64{1, 2}, Frame: []byte(`{"type":"x"}`)},
		&messages.CloseConns{ConnIds: []uint64{1}, Code: 1000, Reason: "r"},
		&messages.Reattach{ConnIds: []uint64{1}},
		&messages.ConnCountRequest{},
		&messages.ConnCountReply{Member: "m", Connections: 3},
		&messages.SendMessage{Conn: ref, Ref: "r", ConversationId: "c-1", Content: "x", ClientMsgId: "k"},
		&messages.Deliver{Message: msg, Origin: ref, MemberIds: []string{"a", "b"}, DryRun: true},
		&messages.DeliverReply{Delivered: true, UserId: "b", MessageId: "m-1"},
		&messages.MarkRead{Conn: ref, ConversationId: "c-1", UpToSeq: 3},
		&messages.ReadReceipt{ConversationId: "c-1", UserId: "b", UpToSeq: 3, CoveredSenders: []string{"a"}},
		&messages.Typing{Conn: ref, ConversationId: "c-1", IsTyping: true},
		&messages.TypingRelay{ConversationId: "c-1", UserId: "a", IsTyping: true},
		&messages.JoinConversation{Conn: ref, ConversationId: "c-1"},
		&messages.LeaveConversation{Conn: ref, ConversationId: "c-1"},
		&messages.HistoryRequest{Conn: ref, ConversationId: "c-1", Forward: true, Limit: 5},
	}
	for _, m := range crossMember {
		t.Run(fmt.Sprintf("%T", m), func(t *testing.T) {
			b, typeName, err := remote.Serialize(m, 0)
			if err != nil {
				t.Fatalf("serialize: %v", err)
			}
			back, err := remote.Deserialize(b, typeName, 0)
			if err != nil {
				t.Fatalf("deserialize %s: %v", typeName, err)
			}
			if !proto.Equal(m, back.(proto.Message)) {
				t.Fatalf("round trip changed %v into %v", m, back)
			}
		})
	}
}
