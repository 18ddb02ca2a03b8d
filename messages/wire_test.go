package messages

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The hand-written frame encoders must produce what encoding/json would,
// for every awkward string.
func TestHandWrittenFramesAreValidJSON(t *testing.T) {
	m := &ChatMessage{Id: "m-1", ConversationId: "c\"1", Seq: 42, SenderId: "u<1>", Content: "line\nbreak \u2028 é 👋 \x00 \\ \"q\"",
		ClientMsgId: "k&1", CreatedAtMs: 1764355200000, ReadBy: []string{"a", "b"}}
	for name, frame := range map[string][]byte{
		"new_message":  NewMessageFrame(m),
		"message:sent": MessageSentFrame("r\t1", m, true),
		"message:read": MessageReadFrame("", "c1", "u\"2", 7),
		"typing":       TypingFrame("c1", "u2", false),
		"error":        ErrorFrame("ref", CodeInvalidPayload, "bad \"x\""),
		"presence":     AppendPresenceFrame(nil, TypePresenceUpdate, "", [][]byte{(&Presence{UserID: "u", Role: "CLIENT", Status: StatusOnline, LastActive: 5}).AppendJSON(nil)}),
	} {
		var v map[string]any
		if err := json.Unmarshal(frame, &v); err != nil {
			t.Fatalf("%s: %v in %s", name, err, frame)
		}
	}
	var got struct {
		Data struct{ Message *WireMessage }
	}
	if err := json.Unmarshal(NewMessageFrame(m), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Data.Message, m.Wire()) {
		t.Fatalf("decoded %+v, want %+v", got.Data.Message, m.Wire())
	}
	empty := &ChatMessage{Id: "m", ConversationId: "c", SenderId: "s", Content: "x", ClientMsgId: "k"}
	if err := json.Unmarshal(NewMessageFrame(empty), &got); err != nil || got.Data.Message.ReadBy == nil || len(got.Data.Message.ReadBy) != 0 {
		t.Fatalf("readBy must be [] when empty: %+v %v", got.Data.Message, err)
	}
}
