package actors

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/presenced/presenced/internal/clocktest"
	"github.com/presenced/presenced/internal/memstore"
	"github.com/presenced/presenced/messages"
)

// t0 is where every test's fake clock starts.
var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// harness is an engine on the synchronous dispatcher and a fake clock: when
// a call into it returns, every actor has handled everything it caused, so
// tests assert right away, without sleeping.
type harness struct {
	t     testing.TB
	clock *clocktest.Clock
	store *memstore.Store
	e     *Engine
}

func newHarness(t testing.TB, tweak ...func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t, clock: clocktest.New(t0), store: memstore.New()}
	opts := Options{Store: h.store, Clock: h.clock, Synchronous: true}
	for _, f := range tweak {
		f(&opts)
	}
	e, err := New(opts)
	if err != nil {
		t.Fatalf("starting engine: %v", err)
	}
	h.e = e
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return h
}

// probe is a fake connection recording what the actors push to it.
type probe struct {
	mu     sync.Mutex
	frames []frame
	behind int // frames the test says are not yet written
	closed bool
	code   int
	reason string
	sess   *Session
}

// frame is a decoded server-to-client frame.
type frame struct {
	Type string          `json:"type"`
	Ref  string          `json:"ref"`
	Data json.RawMessage `json:"data"`
}

func (p *probe) Push(b []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		panic("actors pushed a frame that is not JSON: " + string(b))
	}
	p.frames = append(p.frames, f)
	return true
}

func (p *probe) Unwritten() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.behind
}

// setBehind makes the probe report n frames not yet written.
func (p *probe) setBehind(n int) {
	p.mu.Lock()
	p.behind = n
	p.mu.Unlock()
}

func (p *probe) Close(code int, reason string) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed, p.code, p.reason = true, code, reason
	p.mu.Unlock()
	// A real connection's reader ends and closes the session.
	p.sess.Close()
}

// take returns and forgets the frames received so far.
func (p *probe) take() []frame {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.frames
	p.frames = nil
	return out
}

func (p *probe) isClosed() (bool, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed, p.code
}

// connect opens a connection for user and returns it with its first frames
// already taken (presence:connected is checked and returned separately).
func (h *harness) connect(user, role string) (*probe, connected) {
	h.t.Helper()
	p := &probe{}
	s, err := h.e.Connect(context.Background(), user, role, p)
	if err != nil {
		h.t.Fatalf("connect %s: %v", user, err)
	}
	p.sess = s
	fs := p.take()
	if len(fs) == 0 || fs[0].Type != messages.TypePresenceConnected {
		h.t.Fatalf("connect %s: first frames %v, want presence:connected first", user, types(fs))
	}
	var c connected
	mustDecode(h.t, fs[0].Data, &c)
	if len(fs) > 1 {
		h.t.Fatalf("connect %s: unexpected frames after presence:connected: %v", user, types(fs[1:]))
	}
	return p, c
}

// pause holds an actor's messages in its mailbox until resume: an actor
// running late, without the test sleeping.
func (h *harness) pause(pid *actor.PID) { h.system(pid, &actor.SuspendMailbox{}) }

func (h *harness) resume(pid *actor.PID) { h.system(pid, &actor.ResumeMailbox{}) }

func (h *harness) system(pid *actor.PID, msg any) {
	h.t.Helper()
	proc, ok := h.e.env.system.ProcessRegistry.Get(pid)
	if !ok {
		h.t.Fatalf("no process %s", pid)
	}
	proc.SendSystemMessage(pid, msg)
}

// contacts makes users share a conversation.
func (h *harness) contacts(users ...string) {
	h.t.Helper()
	if _, err := h.e.CreateConversation(context.Background(), users[0], messages.RoleClient, users); err != nil {
		h.t.Fatalf("creating conversation: %v", err)
	}
}

type wirePresence struct {
	UserID     string `json:"userId"`
	Role       string `json:"role"`
	Status     string `json:"status"`
	LastActive *int64 `json:"lastActive"`
	LastSeen   *int64 `json:"lastSeen"`
}

type connected struct {
	You                 struct{ UserID, Role string }
	Users               []wirePresence `json:"users"`
	HeartbeatIntervalMs int64          `json:"heartbeatIntervalMs"`
}

func (c connected) status(user string) string { return statusIn(c.Users, user) }

func statusIn(list []wirePresence, user string) string {
	for _, p := range list {
		if p.UserID == user {
			return p.Status
		}
	}
	return ""
}

// updates returns the presence lists of the presence:update frames received
// since the last call, failing on any other frame.
func (h *harness) updates(p *probe) [][]wirePresence {
	h.t.Helper()
	var out [][]wirePresence
	for _, f := range p.take() {
		if f.Type != messages.TypePresenceUpdate {
			h.t.Fatalf("got %s frame, want only presence:update", f.Type)
		}
		var d struct{ Users []wirePresence }
		mustDecode(h.t, f.Data, &d)
		out = append(out, d.Users)
	}
	return out
}

// expectUpdate asserts exactly one presence:update frame arrived, holding
// exactly the given user → status pairs.
func (h *harness) expectUpdate(p *probe, want map[string]string) []wirePresence {
	h.t.Helper()
	ups := h.updates(p)
	if len(ups) != 1 {
		h.t.Fatalf("got %d presence:update frames %v, want 1 with %v", len(ups), ups, want)
	}
	got := make(map[string]string)
	for _, u := range ups[0] {
		got[u.UserID] = u.Status
	}
	if len(got) != len(want) {
		h.t.Fatalf("update %v, want %v", got, want)
	}
	for u, st := range want {
		if got[u] != st {
			h.t.Fatalf("update %v, want %v", got, want)
		}
	}
	return ups[0]
}

func (h *harness) expectNothing(p *probe) {
	h.t.Helper()
	if fs := p.take(); len(fs) > 0 {
		h.t.Fatalf("got frames %v, want none", types(fs))
	}
}

func types(fs []frame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Type + " " + string(f.Data)
	}
	return out
}

func mustDecode(t testing.TB, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
}

func sortedIDs(list []wirePresence) []string {
	var ids []string
	for _, p := range list {
		ids = append(ids, p.UserID)
	}
	slices.Sort(ids)
	return ids
}

// histogram reads the count and sum of one of the engine's histograms, as
// /metrics shows them.
func histogram(t *testing.T, hist prometheus.Histogram) (count uint64, sum float64) {
	t.Helper()
	var m dto.Metric
	if err := hist.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

// counter reads one of the engine's counters, as /metrics shows it.
func counter(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// gauge reads one of the engine's gauges, as /metrics shows it.
func gauge(t testing.TB, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}
