package transport

import (
	"encoding/json"
	"testing"

	"github.com/presenced/presenced/messages"
)

// FuzzDecodeFrame feeds arbitrary frames to the decoder: it must never
// panic, must answer only the codes PROTOCOL.md gives to bad frames, and
// must accept only JSON objects whose type it knows. The seed corpus is in
// testdata/fuzz/FuzzDecodeFrame.
func FuzzDecodeFrame(f *testing.F) {
	for _, seed := range []string{
		`{"type":"heartbeat"}`,
		`{"type":"chat:focus","ref":"r","data":{"partnerId":"u2"}}`,
		`{"type":"chat:blur","data":{}}`,
		`{"type":"presence:subscribe","data":{"userIds":["a","b"]}}`,
		`{"type":"send_message","ref":"c-17","data":{"conversationId":"c1","content":"hi \ud83d\ude00","clientMsgId":"9f1c"}}`,
		`{"type":"send_message","data":{"conversationId":"c1","content":"\ud83d","clientMsgId":"x"}}`,
		`{"type":"mark_read","data":{"conversationId":"c1","upToSeq":42}}`,
		`{"type":"history","data":{"conversationId":"c1","beforeSeq":100,"limit":500}}`,
		`{"type":"typing","data":{"conversationId":"c1","isTyping":true}}`,
		`[1]`, `null`, `"x"`, `{"type":7}`, `{"type":"x","data":[]}`, "{\"type\":\"heartbeat\",\"ref\":\"\xff\"}",
	} {
		f.Add([]byte(seed))
	}
	d := &decoder{maxMessageBytes: 4096, maxSubscriptions: 1000}
	allowed := map[messages.Code]bool{
		messages.CodeBadJSON: true, messages.CodeUnknownType: true, messages.CodeInvalidPayload: true,
		messages.CodeTooLarge: true, messages.CodeLimitExceeded: true,
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		cmd, typ, ref, err := d.decode(frame)
		if len(ref) > 4*maxRefLen {
			t.Fatalf("ref of %d bytes accepted", len(ref))
		}
		if err != nil {
			if !allowed[err.Code] {
				t.Fatalf("code %s for %q", err.Code, frame)
			}
			return
		}
		if cmd == nil || typ == "" {
			t.Fatalf("accepted %q without a command", frame)
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(frame, &obj) != nil {
			t.Fatalf("accepted %q, which is not a JSON object", frame)
		}
		if s, ok := cmd.(cmdSend); ok && (len(s.Content) == 0 || len(s.Content) > 4096) {
			t.Fatalf("accepted content of %d bytes", len(s.Content))
		}
	})
}

// The heartbeats decoded without encoding/json decode exactly as the same
// frame spelled otherwise, which takes the general path.
func TestPlainHeartbeatsDecodeLikeAnyOtherSpelling(t *testing.T) {
	d := &decoder{maxMessageBytes: 4096, maxSubscriptions: 1000}
	for _, hb := range plainHeartbeats {
		if !isPlainHeartbeat(hb) {
			t.Fatalf("%s not taken as a plain heartbeat", hb)
		}
		spaced := append([]byte(" "), hb...)
		if isPlainHeartbeat(spaced) {
			t.Fatalf("%q taken as a plain heartbeat", spaced)
		}
		cmd, typ, ref, err := d.decode(hb)
		cmd2, typ2, ref2, err2 := d.decode(spaced)
		if err != nil || err2 != nil || cmd != cmd2 || typ != typ2 || ref != ref2 {
			t.Errorf("%s: (%v, %q, %q, %v), spelled otherwise (%v, %q, %q, %v)", hb, cmd, typ, ref, err, cmd2, typ2, ref2, err2)
		}
	}
}
