package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/pgtest"
	"github.com/presenced/presenced/internal/wstest"
)

// BenchmarkAcrossMembers measures presence and messages between members of
// a three-process cluster on this machine, beside the same on one node:
//
//	go test -run '^$' -bench AcrossMembers -benchtime 200x ./cmd/presenced/
//
// presence: a user on one member focuses and blurs a viewer on another,
// one change at a time, 60 ms apart so the coalescing window never holds a
// change back; the time is from the frame sent to the viewer's update.
// messages: one sender, one recipient on another member; send to
// new_message, one at a time.
func BenchmarkAcrossMembers(b *testing.B) {
	for _, setup := range []struct {
		name  string
		procs func(b *testing.B) (from, to *proc)
	}{
		{"single-node", func(b *testing.B) (*proc, *proc) {
			p := startProc(b, "--set", "store.driver=postgres", "--set", "store.postgres.url="+pgtest.URL(b))
			return p, p
		}},
		{"single-node-sqlite", func(b *testing.B) (*proc, *proc) {
			p := startProc(b, "--set", "store.sqlite.path="+filepath.Join(b.TempDir(), "b.db"))
			return p, p
		}},
		{"three-members", func(b *testing.B) (*proc, *proc) {
			m := startCluster(b, 3)
			return m[1], m[0]
		}},
	} {
		b.Run(setup.name+"/presence", func(b *testing.B) {
			from, to := setup.procs(b)
			benchPresence(b, from, to)
		})
		b.Run(setup.name+"/messages", func(b *testing.B) {
			from, to := setup.procs(b)
			benchMessages(b, from, to)
		})
	}
}

func benchPresence(b *testing.B, from, to *proc) {
	viewer := to.dial(b, "viewer", "ADMIN")
	user := from.dial(b, "mover", "CLIENT")
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		want := "online"
		t0 := time.Now()
		if i%2 == 0 {
			user.Send("chat:focus", "", map[string]any{"partnerId": "viewer"})
		} else {
			want = "active"
			user.Send("chat:blur", "", map[string]any{})
		}
		waitStatus(b, viewer, "mover", want)
		lat = append(lat, time.Since(t0))
		time.Sleep(60 * time.Millisecond)
	}
	b.StopTimer()
	report(b, lat)
}

func waitStatus(b *testing.B, c *wstest.Client, user, want string) {
	for {
		f := c.Next()
		if f.Type != "presence:update" {
			continue
		}
		var d struct {
			Users []struct{ UserID, Status string }
		}
		f.Decode(b, &d)
		for _, u := range d.Users {
			if u.UserID == user && u.Status == want {
				return
			}
		}
	}
}

func benchMessages(b *testing.B, from, to *proc) {
	conv := to.post(b, "/v1/conversations", "user=writer&role=CLIENT", `{"memberIds":["writer","recipient"]}`)["conversationId"].(string)
	recipient := to.dial(b, "recipient", "CLIENT")
	writer := from.dial(b, "writer", "CLIENT")
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		writer.Send("send_message", "", map[string]any{"conversationId": conv, "content": "x", "clientMsgId": fmt.Sprint(i)})
		recipient.Until("new_message")
		lat = append(lat, time.Since(t0))
		writer.Until("message:sent")
	}
	b.StopTimer()
	report(b, lat)
}

func report(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
