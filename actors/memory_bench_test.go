package actors

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/presenced/presenced/messages"
)

// BenchmarkHeapPerConnectedUser: what a connected user costs the actors'
// heap (its user actor, Proto.Actor's bookkeeping of it, the registry's
// entries, the connection table), the transport's side excluded. Run it
// with a fixed count, so that every run holds as many users:
//
//	go test -run '^$' -bench HeapPerConnectedUser -benchtime 10000x ./actors/
func BenchmarkHeapPerConnectedUser(b *testing.B) {
	h := newHarness(b)
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	n := 0
	for b.Loop() {
		if _, err := h.e.Connect(ctx, "u"+strconv.Itoa(n), client, discard{}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(n), "heap-B/user")
}

// BenchmarkHeapPerRemoteUser: what the registry holds for a user online on
// another member of a cluster, who no local viewer may see.
//
//	go test -run '^$' -bench HeapPerRemoteUser -benchtime 20000x ./actors/
func BenchmarkHeapPerRemoteUser(b *testing.B) {
	h := newHarness(b)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	n := 0
	for b.Loop() {
		raw, err := proto.Marshal(&messages.PresenceChanged{Presence: &messages.UserPresence{
			UserId: "user-" + strconv.Itoa(n), Role: messages.RoleFreelancer, Connected: true,
			LastActiveMs: 1764355200000, Version: 1764355200000000, Owner: "127.0.0.2:6090",
			ConnMembers: []string{"127.0.0.2:6090"},
		}})
		if err != nil {
			b.Fatal(err)
		}
		var m messages.PresenceChanged
		if err := proto.Unmarshal(raw, &m); err != nil {
			b.Fatal(err)
		}
		h.e.env.system.Root.Send(h.e.env.registry, &m)
		n++
	}
	if _, err := h.e.env.system.Root.RequestFuture(h.e.env.registry, &presenceQuery{user: "user-0"}, time.Minute).Result(); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(n), "heap-B/user")
}
