package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/actors"
	"github.com/presenced/presenced/internal/wstest"
	"github.com/presenced/presenced/persistence"
	"github.com/presenced/presenced/transport"
)

// TestMain lets the test binary serve as a worker process: the --procs
// test starts it again with the worker flag, as the real tool starts
// itself.
func TestMain(m *testing.M) {
	if spec, ok := workerArgs(os.Args[1:]); ok {
		if err := workerMain(context.Background(), spec, os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(exitError)
		}
		os.Exit(exitOK)
	}
	os.Exit(m.Run())
}

// startServer runs presenced's actors and transport in this process on a
// SQLite store, on the real clock, with everyone visible to everyone, and
// returns its base URL. Auth is dev, or HS256 JWTs when jwtSecret is given.
func startServer(t *testing.T, jwtSecret ...string) string {
	t.Helper()
	store, err := persistence.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "bench.db"), nil)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	e, err := actors.New(actors.Options{Store: store, Visibility: actors.VisibilityAll, OfflineGrace: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	auth := transport.AuthOptions{Mode: transport.AuthDev}
	if len(jwtSecret) > 0 {
		auth = transport.AuthOptions{Mode: transport.AuthJWT, Secret: []byte(jwtSecret[0])}
	}
	return wstest.Serve(t, e, transport.Options{Auth: auth, Visibility: "all"}, store).URL
}

// bench runs the tool with args against url and returns its JSON result,
// failing unless it exits 0 with one JSON line on stdout.
func bench(t *testing.T, url string, args ...string) map[string]any {
	t.Helper()
	return benchExit(t, exitOK, url, args...)
}

// benchExit is bench expecting the exit status want.
func benchExit(t *testing.T, want int, url string, args ...string) map[string]any {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// This process is the server: its memory is what --server-pid reads.
	args = append([]string{"--url", url, "--progress", "100ms", "--server-pid", strconv.Itoa(os.Getpid())}, args...)
	code := run(ctx, args, strings.NewReader(""), &stdout, &stderr)
	if code != want {
		t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, want, stdout.String(), stderr.String())
	}
	if n := strings.Count(stdout.String(), "\n"); n != 1 {
		t.Fatalf("stdout has %d lines, want one JSON line:\n%s", n, stdout.String())
	}
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("result is not JSON: %v\n%s", err, stdout.String())
	}
	if want == exitOK && !strings.Contains(stderr.String(), "checks: ok") {
		t.Errorf("no human table on stderr:\n%s", stderr.String())
	}
	t.Logf("stderr:\n%s", stderr.String())
	return out
}

func count(r map[string]any, name string) int64 {
	v, _ := r["counts"].(map[string]any)[name].(float64)
	return int64(v)
}

func latency(t *testing.T, r map[string]any, name string) map[string]any {
	t.Helper()
	l, ok := r["latencyMs"].(map[string]any)[name].(map[string]any)
	if !ok || l["n"].(float64) == 0 {
		t.Fatalf("no %s latency in %v", name, r["latencyMs"])
	}
	return l
}

func TestScenariosAtTinyScale(t *testing.T) {
	if testing.Short() {
		t.Skip("opens real connections")
	}
	url := startServer(t)

	t.Run("idle", func(t *testing.T) {
		r := bench(t, url, "--scenario", "idle", "--conns", "20", "--duration", "300ms")
		if count(r, "opened") != 20 || count(r, "open_at_end") != 20 || count(r, "closed") != 0 {
			t.Errorf("counts %v", r["counts"])
		}
		latency(t, r, "connect")
		if s := r["server"].(map[string]any); s["rssBefore"].(float64) <= 0 || s["rssAfter"].(float64) <= 0 {
			t.Errorf("server memory %v", s)
		}
	})
	t.Run("presence churn", func(t *testing.T) {
		r := bench(t, url, "--scenario", "presence", "--conns", "20", "--changes", "10", "--changes-per-sec", "50",
			"--lifetime", "100ms", "--settle", "100ms", "--offline-grace", "1ms")
		// 10 changes, each seen by all 20 viewers.
		if count(r, "changes") != 10 || count(r, "arrivals") != 200 || count(r, "arrivals_missing") != 0 {
			t.Errorf("counts %v", r["counts"])
		}
		latency(t, r, "arrival:connect")
		latency(t, r, "arrival:disconnect")
		if l := latency(t, r, "complete"); l["n"].(float64) != 10 {
			t.Errorf("%v changes reached every viewer, want 10", l["n"])
		}
		if v := r["values"].(map[string]any)["presenceBytesPerChange"].(float64); v <= 0 {
			t.Errorf("bytes per change %v", v)
		}
	})
	t.Run("presence focus", func(t *testing.T) {
		r := bench(t, url, "--scenario", "presence", "--conns", "20", "--changes", "8", "--changes-per-sec", "50",
			"--change-kind", "focus", "--lifetime", "100ms", "--settle", "100ms")
		// Only the partner sees a focus or a blur.
		if count(r, "changes") != 8 || count(r, "arrivals") != 8 || count(r, "arrivals_missing") != 0 {
			t.Errorf("counts %v", r["counts"])
		}
		latency(t, r, "arrival:focus")
		latency(t, r, "arrival:blur")
	})
	t.Run("messages", func(t *testing.T) {
		r := bench(t, url, "--scenario", "messages", "--pairs", "5", "--rate", "100", "--duration", "500ms")
		sent := count(r, "sent")
		if sent < 40 || count(r, "acked") != sent || count(r, "delivered") != sent || count(r, "history_checked") != sent {
			t.Errorf("counts %v", r["counts"])
		}
		if count(r, "lost")+count(r, "duplicated")+count(r, "unacked")+count(r, "history_missing") != 0 {
			t.Errorf("counts %v", r["counts"])
		}
		latency(t, r, "ack")
		latency(t, r, "deliver")
	})
	t.Run("storm", func(t *testing.T) {
		r := bench(t, url, "--scenario", "storm", "--conns", "30", "--concurrency", "10")
		if count(r, "served") != 30 || count(r, "failed") != 0 {
			t.Errorf("counts %v", r["counts"])
		}
		latency(t, r, "connect")
	})
	t.Run("two worker processes", func(t *testing.T) {
		// Pairs and presence notes split over two processes; the merged
		// result must count every message and every arrival once.
		r := bench(t, url, "--scenario", "presence", "--procs", "2", "--conns", "10", "--changes", "6",
			"--changes-per-sec", "50", "--change-kind", "mixed", "--lifetime", "100ms", "--settle", "100ms", "--offline-grace", "1ms")
		if r["procs"].(float64) != 2 || count(r, "changes") != 6 || count(r, "arrivals_missing") != 0 {
			t.Errorf("procs %v counts %v", r["procs"], r["counts"])
		}
		// 2 churn ops (4 changes) seen by 10 viewers, one focus op (2 changes) by one.
		if count(r, "arrivals") != 4*10+2 {
			t.Errorf("%d arrivals, want 42", count(r, "arrivals"))
		}
	})
}

func TestSweepWritesAChart(t *testing.T) {
	if testing.Short() {
		t.Skip("opens real connections")
	}
	url := startServer(t)
	svg := filepath.Join(t.TempDir(), "sweep.svg")
	r := bench(t, url, "--scenario", "messages", "--pairs", "2", "--duration", "300ms", "--sweep", "rates=20,40", "--chart", svg, "--verify=false")
	runs := r["runs"].([]any)
	if len(runs) != 2 || r["ok"] != true {
		t.Fatalf("sweep %v", r)
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("<polyline")) || !bytes.HasPrefix(b, []byte("<svg")) {
		t.Errorf("chart:\n%s", b)
	}
}

func TestJWTIdentities(t *testing.T) {
	if testing.Short() {
		t.Skip("opens real connections")
	}
	url := startServer(t, "bench-secret-bench-secret")
	// Tokens on the upgrade and on the HTTP API (conversations, history).
	r := bench(t, url, "--scenario", "messages", "--jwt-secret", "bench-secret-bench-secret",
		"--pairs", "2", "--rate", "20", "--duration", "300ms")
	if count(r, "sent") == 0 || count(r, "history_checked") != count(r, "sent") {
		t.Errorf("counts %v", r["counts"])
	}
	if cfg := r["config"].(map[string]any); cfg["jwtSecret"] != "***" {
		t.Errorf("the secret is printed: %v", cfg["jwtSecret"])
	}
	// A wrong secret: every upgrade is refused, the run completes and fails
	// its check, and the refusals are counted by status.
	r = benchExit(t, exitFailed, url, "--scenario", "storm", "--jwt-secret", "wrong", "--conns", "5")
	if count(r, "served") != 0 || count(r, "dial_failed:http_401") != 5 || r["ok"] != false {
		t.Errorf("counts %v", r["counts"])
	}
}
