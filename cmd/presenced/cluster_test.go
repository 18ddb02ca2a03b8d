package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/pgtest"
	"github.com/presenced/presenced/internal/wstest"
)

// ghostBound is the promise: a user whose member died is shown offline
// within this, with the default heartbeat, grace and automanaged provider.
const ghostBound = 10 * time.Second

// startCluster starts n presenced processes forming one cluster on
// loopback with the automanaged provider, all on one Postgres schema.
func startCluster(t testing.TB, n int) []*proc {
	t.Helper()
	url := pgtest.URL(t)
	ports := make([]int, n)
	seeds := make([]string, n)
	for i := range ports {
		ports[i] = freePort(t)
		seeds[i] = "127.0.0.1:" + strconv.Itoa(ports[i])
	}
	var procs []*proc
	for i := range n {
		procs = append(procs, startProc(t,
			"--set", "store.driver=postgres", "--set", "store.postgres.url="+url,
			"--set", "cluster.enabled=true", "--set", "cluster.provider=automanaged",
			"--set", "cluster.host=127.0.0.1", "--set", "cluster.automanaged_port="+strconv.Itoa(ports[i]),
			"--set", "cluster.seeds="+strings.Join(seeds, ",")))
	}
	for _, p := range procs {
		p.waitMembers(t, n)
	}
	return procs
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitMembers waits until the member lists n members, as an ADMIN sees.
func (p *proc) waitMembers(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.url("/v1/cluster/members?user=ops&role=ADMIN"))
		if err == nil {
			var out struct{ Members []map[string]any }
			_ = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if len(out.Members) == n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("member %s never saw %d members:\n%s", p.addr, n, p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *proc) dial(t testing.TB, user, role string) *wstest.Client {
	t.Helper()
	c := wstest.Dial(t, "ws://"+p.addr+"/ws?user="+user+"&role="+role, nil)
	c.Expect("presence:connected")
	return c
}

// watcher follows the presence a viewer is shown, per user.
type watcher struct {
	c    *wstest.Client
	mu   sync.Mutex
	seen map[string]string
	at   map[string]time.Time
}

func watch(c *wstest.Client) *watcher {
	return &watcher{c: c, seen: map[string]string{}, at: map[string]time.Time{}}
}

// until waits until user's shown status is want, and returns when it first was.
func (w *watcher) until(t *testing.T, user, want string, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for w.seen[user] != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s still %q after %v, want %s", user, w.seen[user], within, want)
		}
		f, ok := w.c.NextWithin(time.Until(deadline))
		if !ok || f.Type != "presence:update" && f.Type != "presence:connected" {
			continue
		}
		var d struct {
			Users []struct{ UserID, Status string }
		}
		f.Decode(t, &d)
		for _, u := range d.Users {
			w.seen[u.UserID] = u.Status
			w.at[u.UserID] = time.Now()
		}
	}
	return w.at[user]
}

// TestClusterOfThreeProcessesSurvivesKill9 runs three members, users on
// each, a stream of messages from a user on the member that is then
// killed with SIGKILL: the users it held turn offline on the others within
// the bound (no ghosts), the others keep working, its users reconnect
// elsewhere, and every acknowledged message is in history.
func TestClusterOfThreeProcessesSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes (-short)")
	}
	m := startCluster(t, 3)
	live, doomed := m[:2], m[2]
	viewer := watch(live[0].dial(t, "ops", "ADMIN"))
	survivor := live[1].dial(t, "survivor", "CLIENT")
	viewer.until(t, "survivor", "active", wstest.Wait)
	var lost []string
	for i := range 5 {
		u := fmt.Sprintf("lost%d", i)
		lost = append(lost, u)
		c := doomed.dial(t, u, "CLIENT")
		c.Send("chat:focus", "", map[string]any{"partnerId": "ops"})
	}
	for _, u := range lost {
		viewer.until(t, u, "online", wstest.Wait)
	}

	conv := live[0].post(t, "/v1/conversations", "user=sender&role=CLIENT", `{"memberIds":["sender","reader"]}`)["conversationId"].(string)
	reader := live[0].dial(t, "reader", "CLIENT")
	acked := sendUntilKilled(t, doomed, "sender", conv, 300, 80)

	killed := time.Now()
	for _, u := range lost {
		at := viewer.until(t, u, "offline", ghostBound)
		if d := at.Sub(killed); d > ghostBound {
			t.Fatalf("%s offline %v after the kill", u, d)
		}
	}
	t.Logf("users of the killed member offline within %v", time.Since(killed))

	// The rest of the cluster works on: presence, reconnection, messages.
	survivor.Send("chat:focus", "", map[string]any{"partnerId": "ops"})
	viewer.until(t, "survivor", "online", wstest.Wait)
	back := live[1].dial(t, "lost0", "CLIENT")
	viewer.until(t, "lost0", "active", wstest.Wait)
	sender := live[1].dial(t, "sender", "CLIENT")
	sender.Send("send_message", "after", map[string]any{"conversationId": conv, "content": "after the kill", "clientMsgId": "after"})
	sender.Until("message:sent")
	reader.Until("new_message")
	_ = back

	checkAcked(t, acked, history(t, live[0], conv, "reader"))
}
