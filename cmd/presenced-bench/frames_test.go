package main

import (
	"reflect"
	"testing"

	"github.com/presenced/presenced/messages"
)

func presenceFrame(ps ...messages.Presence) []byte {
	var frags [][]byte
	for _, p := range ps {
		frags = append(frags, p.AppendJSON(nil))
	}
	return messages.AppendPresenceFrame(nil, messages.TypePresenceUpdate, "", frags)
}

// The fast path reads the server's own frames; anything else is decoded
// in full, with the same answer.
func TestPresenceUsersReadsWhatTheServerWrites(t *testing.T) {
	want := []userStatus{{"v1", "active"}, {"c-7", "offline"}, {"v2", "online"}}
	server := presenceFrame(
		messages.Presence{UserID: "v1", Role: "CLIENT", Status: messages.StatusActive, LastActive: 1},
		messages.Presence{UserID: "c-7", Role: "ADMIN", Status: messages.StatusOffline, LastActive: 1, LastSeen: 2},
		messages.Presence{UserID: "v2", Role: "FREELANCER", Status: messages.StatusOnline, LastActive: 3},
	)
	if got, ok := scanPresence(server); !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("fast path on the server's frame: %v %v, want %v", got, ok, want)
	}
	for name, b := range map[string]string{
		"server":          string(server),
		"status first":    `{"type":"presence:update","data":{"users":[{"status":"active","userId":"v1"},{"status":"offline","userId":"c-7"},{"userId":"v2","status":"online"}]}}`,
		"spaces":          `{"type":"presence:update","data":{"users": [ {"userId": "v1", "status": "active"}, {"userId":"c-7","status":"offline"},{"userId":"v2","status":"online"} ]}}`,
		"nested, escaped": `{"type":"presence:update","data":{"users":[{"userId":"v1","x":{"y":1},"status":"active"},{"userId":"c-7","status":"offline","n":"a\"b"},{"userId":"v2","status":"online"}]}}`,
	} {
		got, err := presenceUsers([]byte(b))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v %v, want %v", name, got, err, want)
		}
	}
	if _, err := presenceUsers([]byte(`{"type":"presence:update","data":{"users":[{"userId":"v1"`)); err == nil {
		t.Error("a cut frame was read without error")
	}
}

func TestHelloReadsTheHeartbeatPastTheUsers(t *testing.T) {
	var frags [][]byte
	p := messages.Presence{UserID: "heartbeatIntervalMs", Role: "CLIENT", Status: messages.StatusActive}
	for range 1000 {
		frags = append(frags, p.AppendJSON(nil))
	}
	for name, b := range map[string][]byte{
		"server": messages.AppendConnectedFrame(nil, "me", "CLIENT", frags, 25000),
		"spaces": []byte(`{"type":"presence:connected","data":{"you":{"userId":"me"},"users":[],"heartbeatIntervalMs": 25000 }}`),
		"first":  []byte(`{"type":"presence:connected","data":{"heartbeatIntervalMs":25000,"users":[{"userId":"heartbeatIntervalMs\":1"}]}}`),
	} {
		h, err := helloOf(b)
		if err != nil || h.HeartbeatIntervalMs != 25000 {
			t.Errorf("%s: %+v %v, want 25000", name, h, err)
		}
	}
}
