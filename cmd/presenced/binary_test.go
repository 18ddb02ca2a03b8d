package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/presenced/presenced/internal/pgtest"
	"github.com/presenced/presenced/internal/wstest"
)

// binary is the presenced executable built once for the tests that run the
// real process (kill -9, signals, exit codes).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "presenced-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "presenced")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building presenced:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running presenced process.
type proc struct {
	cmd     *exec.Cmd
	addr    string
	logs    *strings.Builder
	mu      *sync.Mutex
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid once done is closed
}

var listeningRE = regexp.MustCompile(`msg="presenced listening" addr=(\S+)`)

// startProc starts presenced with flags and waits until it listens.
func startProc(t testing.TB, flags ...string) *proc {
	t.Helper()
	// The load tests stream faster than a browser may.
	args := append([]string{"--listen", "127.0.0.1:0", "--set", "auth.mode=dev",
		"--set", "limits.rate_per_second=100000", "--set", "limits.rate_burst=100000"}, flags...)
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "PRESENCED_CONFIG=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logs: &strings.Builder{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.addr = <-addr:
		return p
	case <-p.done:
		t.Fatalf("presenced exited before listening (%v):\n%s", p.waitErr, p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("presenced did not listen within 30s:\n%s", p.log())
	}
	return nil
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func (p *proc) url(path string) string { return "http://" + p.addr + path }

func (p *proc) post(t testing.TB, path, query, body string) map[string]any {
	t.Helper()
	resp, err := http.Post(p.url(path)+"?"+query, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return decodeResp(t, resp)
}

func (p *proc) get(t testing.TB, path, query string) map[string]any {
	t.Helper()
	resp, err := http.Get(p.url(path) + "?" + query)
	if err != nil {
		t.Fatal(err)
	}
	return decodeResp(t, resp)
}

func decodeResp(t testing.TB, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("HTTP %d %s", resp.StatusCode, raw)
	}
	return out
}

// TestAcknowledgedMessagesSurviveKill9 sends a stream of messages, kills
// the server with SIGKILL once some are acknowledged, restarts it on the
// same store, and finds every acknowledged message in history, once, with
// gapless seqs.
func TestAcknowledgedMessagesSurviveKill9(t *testing.T) {
	stores := map[string]func(t *testing.T) []string{
		"sqlite": func(t *testing.T) []string {
			return []string{"--set", "store.driver=sqlite", "--set", "store.sqlite.path=" + filepath.Join(t.TempDir(), "db", "p.db")}
		},
		"postgres": func(t *testing.T) []string {
			return []string{"--set", "store.driver=postgres", "--set", "store.postgres.url=" + pgtest.URL(t)}
		},
	}
	for name, storeFlags := range stores {
		t.Run(name, func(t *testing.T) {
			flags := storeFlags(t)
			p := startProc(t, flags...)
			conv := p.post(t, "/v1/conversations", "user=alice&role=CLIENT", `{"memberIds":["alice","bob"]}`)["conversationId"].(string)
			acked := sendUntilKilled(t, p, "alice", conv, 400, 120)
			if len(acked) < 120 {
				t.Fatalf("only %d acks before the kill", len(acked))
			}

			p2 := startProc(t, flags...)
			checkAcked(t, acked, history(t, p2, conv, "alice"))
		})
	}
}

// sendUntilKilled streams n sends from user and SIGKILLs the server after
// killAfter acks; it returns clientMsgId → seq of every acknowledged message.
func sendUntilKilled(t *testing.T, p *proc, user, conv string, n, killAfter int) map[string]int64 {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+p.addr+"/ws?user="+user+"&role=CLIENT", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	acked := make(map[string]int64)
	var mu sync.Mutex // acked is also read for the failure message
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var f struct {
				Type string
				Data struct {
					Message struct {
						ClientMsgID string
						Seq         int64
					}
				}
			}
			if json.Unmarshal(b, &f) == nil && f.Type == "message:sent" {
				mu.Lock()
				acked[f.Data.Message.ClientMsgID] = f.Data.Message.Seq
				if len(acked) == killAfter {
					_ = p.cmd.Process.Signal(syscall.SIGKILL)
				}
				mu.Unlock()
			} else if f.Type == "error" {
				t.Logf("server answered %s", b)
			}
		}
	}()
	for i := range n {
		frame := fmt.Sprintf(`{"type":"send_message","data":{"conversationId":%q,"content":"message %d","clientMsgId":"k-%d"}}`, conv, i, i)
		if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			break
		}
		if i%20 == 19 {
			time.Sleep(time.Millisecond) // pace the stream so the kill lands mid-way
		}
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
		t.Fatalf("the server was not killed: %d acks; log:\n%s", n, p.log())
	}
	<-readDone
	return acked
}

// checkAcked fails unless every acknowledged message is in stored (both
// clientMsgId → seq) with its seq.
func checkAcked(t *testing.T, acked, stored map[string]int64) {
	t.Helper()
	for id, seq := range acked {
		if got, ok := stored[id]; !ok || got != seq {
			t.Fatalf("acknowledged message %s (seq %d) is %v in history after kill -9", id, seq, got)
		}
	}
	t.Logf("%d acknowledged before the kill, all in history (%d stored)", len(acked), len(stored))
}

// history pages through a conversation and returns clientMsgId → seq,
// failing on a gap or a duplicate.
func history(t testing.TB, p *proc, conv, user string) map[string]int64 {
	t.Helper()
	out := make(map[string]int64)
	var next int64 = 1
	for after := int64(0); ; {
		page := p.get(t, "/v1/conversations/"+conv+"/messages", fmt.Sprintf("user=%s&role=CLIENT&afterSeq=%d&limit=200", user, after))
		msgs := page["messages"].([]any)
		for _, m := range msgs {
			m := m.(map[string]any)
			seq := int64(m["seq"].(float64))
			if seq != next {
				t.Fatalf("history jumps from %d to %d", next-1, seq)
			}
			next++
			id := m["clientMsgId"].(string)
			if _, dup := out[id]; dup {
				t.Fatalf("clientMsgId %s stored twice", id)
			}
			out[id] = seq
			after = seq
		}
		if more, _ := page["hasMore"].(bool); !more {
			return out
		}
	}
}

func TestSIGTERMDrainsWith1012(t *testing.T) {
	p := startProc(t, "--set", "store.sqlite.path="+filepath.Join(t.TempDir(), "p.db"))
	c := wstest.Dial(t, "ws://"+p.addr+"/ws?user=alice&role=CLIENT", nil)
	c.Expect("presence:connected")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.Closed(); code != websocket.CloseServiceRestart {
		t.Fatalf("closed with %d, want 1012", code)
	}
	select {
	case <-p.done:
		if p.waitErr != nil {
			t.Fatalf("exit: %v\n%s", p.waitErr, p.log())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("did not exit within the drain timeout")
	}
	if !strings.Contains(p.log(), "drained") {
		t.Fatalf("no drain in the log:\n%s", p.log())
	}
}

func TestConfigErrorsExitWith2AndOneLine(t *testing.T) {
	cases := map[string][]string{
		"unknown key":            {"--set", "presence.heartbeat_timout=3s"},
		"wrong type":             {"--set", "presence.heartbeat_timeout=banana"},
		"cluster with sqlite":    {"--set", "cluster.enabled=true"},
		"dev auth on all ifaces": {"--listen", ":8080", "--set", "auth.mode=dev"},
		"timeout below interval": {"--set", "auth.mode=dev", "--set", "presence.heartbeat_timeout=10s"},
		"jwt without a key":      {},
		"unreadable public key":  {"--set", "auth.jwt.public_key_file=/nonexistent.pem"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, args...)
			cmd.Env = append(os.Environ(), "PRESENCED_CONFIG=")
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want 2; output:\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "config: ") {
				t.Fatalf("want one config line, got:\n%s", out)
			}
		})
	}
}

func TestConfigCommandPrintsMaskedConfiguration(t *testing.T) {
	cmd := exec.Command(binary, "config", "--set", "auth.jwt.secret=hunter2-hunter2", "--set", "store.driver=postgres",
		"--set", "store.postgres.url=postgres://u:pw@db/x")
	cmd.Env = append(os.Environ(), "PRESENCED_CONFIG=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	s := string(out)
	if strings.Contains(s, "hunter2") || strings.Contains(s, ":pw@") || !strings.Contains(s, "heartbeat_interval: 25s") {
		t.Fatalf("printed:\n%s", s)
	}
}
