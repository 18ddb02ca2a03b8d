package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// presenceScenario connects --conns viewers, waits --settle, then makes
// --changes presence changes at --changes-per-sec, and times each change's
// arrival at every viewer that should see it: from the moment before the
// change was made to the read of the presence:update frame that shows the
// user with the status the change implies. With coalescing a change may
// wait up to one window (50 ms by default) for its frame; that is part of
// the delay. Two kinds of change (--change-kind):
//
//   - churn: a fresh user connects (every viewer should see it "active"),
//     and --lifetime later disconnects (every viewer should see it
//     "offline"; the server's offline grace, given as --offline-grace, is
//     subtracted). The delay of a connect includes dialling and the upgrade.
//     The server must show everyone to everyone (presence.visibility: all).
//   - focus: a viewer sends chat:focus to a partner (only the partner should
//     see it "online"), and --lifetime later chat:blur (the partner should
//     see it "active" again).
//
// mixed alternates the two. A change is one half: a connect, a disconnect,
// a focus or a blur. Each change has a unique key, so an arrival is never
// taken for another change's: churn users are new for every connect, and
// a focus pair is not reused within a run.
//
// With several workers, each makes its share of the changes and sends a
// note of each (key and time, this machine's wall clock) through the
// coordinator to the others, whose viewers time their arrivals against it.
//
// Barriers: "start", "connected" (every viewer is open), "recording" (every
// worker has settled and counts arrivals), "changed" (every change is made
// and every note delivered), "drained" (arrivals are in or timed out).
type presenceScenario struct{}

// churnPool bounds the churn users connected at once.
func churnPool(c *Config) int {
	if c.ChangeKind == "focus" {
		return 0
	}
	return int(math.Ceil(c.ChangesPerSec*c.Lifetime.Seconds())) + 2
}

// op is one change pair: connect then disconnect, or focus then blur.
type op struct {
	churn   bool
	user    string // the churn user, or the focusing viewer
	partner string // the focused viewer
	actor   *conn  // the churn user's connection, or the focusing viewer's
	started time.Time
	ready   chan struct{} // closed when the first half is done
	ok      bool          // the first half succeeded; valid once ready
}

func (presenceScenario) work(ctx context.Context, w *worker) (*Partial, error) {
	c := w.cfg
	lo, hi := w.share(c.Conns)
	tr := newTracker(c, hi-lo, w.cnt)
	for i := lo; i < hi; i++ {
		tr.local[userID(c, "v", i)] = true
	}
	w.setOnNote(tr.note)

	o := newOpener(w)
	defer o.set.closeAll(w.parShare())
	if err := w.barrier(ctx, "start"); err != nil {
		return nil, err
	}
	viewers := o.open(ctx, hi-lo, w.parShare(), func(i int) string { return userID(c, "v", lo+i) }, tr.onViewerFrame, true)
	if err := w.barrier(ctx, "connected"); err != nil {
		return nil, err
	}
	if err := sleepCtx(ctx, c.Settle); err != nil {
		return nil, err
	}
	tr.recording.Store(true)
	if err := w.barrier(ctx, "recording"); err != nil {
		return nil, err
	}

	d := &driver{w: w, tr: tr, viewers: viewers, lo: lo, churnCnt: &counters{}}
	// run returns early when ctx ends, with changes still in flight; they
	// and their churn users must not outlive the work.
	defer d.closeAll()
	if err := d.run(ctx); err != nil {
		return nil, err
	}
	if err := w.barrier(ctx, "changed"); err != nil {
		return nil, err
	}
	tr.waitArrivals(ctx, c.Drain+c.OfflineGrace)
	tr.recording.Store(false)
	if err := w.barrier(ctx, "drained"); err != nil {
		return nil, err
	}
	d.closeAll() // before the report: closing settles the churn counts
	p := newPartial()
	o.report(p)
	tr.report(p)
	for k, v := range d.churnCnt.snapshot() {
		p.Counts["churn_"+k] += v
	}
	return p, nil
}

// driver makes one worker's share of the changes.
type driver struct {
	w        *worker
	tr       *tracker
	viewers  []*conn // this worker's viewers; nil where the dial failed
	lo       int     // global index of viewers[0]
	churnCnt *counters

	wg       sync.WaitGroup
	churnSeq atomic.Int64 // picks the source address of the next churn dial
	mu       sync.Mutex
	churns   []*conn // churn connections still open
}

// run makes the changes on schedule: slot j at start + j/rate. A slot ends
// the oldest open op when it has lived --lifetime, or when the slots left
// are only enough to end the open ones; otherwise it starts a new op.
func (d *driver) run(ctx context.Context) error {
	c := d.w.cfg
	lo, hi := d.w.share(c.Changes)
	n := hi - lo
	rate := d.w.shareF(c.ChangesPerSec)
	if n == 0 || rate <= 0 {
		return nil
	}
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	var open []*op
	started := 0
	for j := range n {
		if err := sleepCtx(ctx, time.Until(start.Add(time.Duration(j)*interval))); err != nil {
			return fmt.Errorf("making changes: %w", err)
		}
		left := n - j
		if len(open) > 0 && (time.Since(open[0].started) >= c.Lifetime || left <= len(open)) {
			o := open[0]
			open = open[1:]
			d.wg.Go(func() { d.second(ctx, o) })
			continue
		}
		o := d.newOp(started)
		started++
		open = append(open, o)
		d.wg.Go(func() { d.first(ctx, o) })
	}
	d.wg.Wait()
	return ctx.Err()
}

// newOp picks the k-th op of this worker: a fresh churn user, or a focus
// pair not used before (viewer k mod n focuses the viewer 1 + k/n after it).
func (d *driver) newOp(k int) *op {
	c := d.w.cfg
	o := &op{started: time.Now(), ready: make(chan struct{})}
	churn := c.ChangeKind == "churn" || (c.ChangeKind == "mixed" && k%2 == 0)
	if churn {
		o.churn = true
		o.user = userID(c, fmt.Sprintf("c%dx", d.w.index), k)
		return o
	}
	if c.ChangeKind == "mixed" {
		k /= 2
	}
	n := len(d.viewers)
	if n == 0 {
		return o // no viewer here to act: first() counts a failed change
	}
	a := k % n
	b := (d.lo + a + 1 + (k/n)%(c.Conns-1)) % c.Conns
	o.actor = d.viewers[a]
	o.user = userID(c, "v", d.lo+a)
	o.partner = userID(c, "v", b)
	return o
}

// first connects the churn user or focuses the chat, and notes the change.
func (d *driver) first(ctx context.Context, o *op) {
	defer close(o.ready)
	c := d.w.cfg
	at := time.Now().UnixNano()
	if o.churn {
		slot := len(d.viewers) + int(d.churnSeq.Add(1)%int64(max(1, churnPool(c))))
		cn, _, err := dialConn(ctx, d.w.pool.dialer(slot), d.w.endpoint, d.w.id, o.user, c.Role, c.ConnectTimeout, d.churnCnt)
		if err != nil {
			d.w.cnt.add("change_failed", 1)
			return
		}
		cn.start(nil, 0)
		o.actor = cn
		d.mu.Lock()
		d.churns = append(d.churns, cn)
		d.mu.Unlock()
		o.ok = true
		d.tr.made(note{Key: churnKey(o.user, "active"), At: at, Kind: "connect"}, d.w)
		return
	}
	if o.actor == nil || o.actor.write(focusFrame("chat:focus", o.partner)) != nil {
		d.w.cnt.add("change_failed", 1)
		return
	}
	o.ok = true
	d.tr.made(note{Key: focusKey(o.user, "online", o.partner), At: at, Kind: "focus"}, d.w)
}

// second disconnects the churn user or blurs the chat, once the first half
// is done, and notes the change.
func (d *driver) second(ctx context.Context, o *op) {
	select {
	case <-o.ready:
	case <-ctx.Done():
		return
	}
	if !o.ok {
		d.w.cnt.add("change_failed", 1)
		return
	}
	at := time.Now().UnixNano()
	if o.churn {
		o.actor.close()
		d.tr.made(note{Key: churnKey(o.user, "offline"), At: at, Kind: "disconnect"}, d.w)
		return
	}
	if o.actor.write(focusFrame("chat:blur", o.partner)) != nil {
		d.w.cnt.add("change_failed", 1)
		return
	}
	d.tr.made(note{Key: focusKey(o.user, "active", o.partner), At: at, Kind: "blur"}, d.w)
}

// closeAll waits for the changes in flight and closes the churn users
// still connected. Safe to call more than once.
func (d *driver) closeAll() {
	d.wg.Wait()
	d.mu.Lock()
	churns := d.churns
	d.churns = nil
	d.mu.Unlock()
	for _, cn := range churns {
		cn.close()
	}
}

func focusFrame(typ, partner string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "data": map[string]string{"partnerId": partner}})
	return b
}

// Change keys: a churn change is seen the same by every viewer; a focus
// change only by its partner, so the partner is part of its key.
func churnKey(user, status string) string          { return user + "|" + status }
func focusKey(user, status, partner string) string { return user + "|" + status + "|" + partner }

// tracker matches the presence updates a worker's viewers read against the
// changes made (here or, through notes, in other workers) and times them.
// Arrivals may be read before the note of their change arrives (notes from
// other workers travel through the coordinator); they wait in pending.
// Safe for concurrent use.
type tracker struct {
	cfg         *Config
	viewers     int             // viewers of this worker
	local       map[string]bool // their user ids; read-only once viewers connect
	churnPrefix string
	cnt         *counters
	recording   atomic.Bool

	mu       sync.Mutex
	changes  map[string]*trackedChange
	pending  map[string][]int64 // key → arrival times before its note
	npending int
	arrival  map[string]*Histogram // "arrival" and "arrival:<kind>"
	// firstMade and lastMade span the changes this worker made (unix ns).
	firstMade, lastMade int64
}

type trackedChange struct {
	at     int64
	kind   string
	expect int64 // viewers of this worker that should see it
	n      int64 // arrivals here
	max    int64 // delay to the latest arrival here
}

// maxPending bounds arrivals waiting for a note; beyond it they are
// counted as unmatched and dropped.
const maxPending = 1 << 20

func newTracker(c *Config, viewers int, cnt *counters) *tracker {
	return &tracker{
		cfg: c, viewers: viewers, local: map[string]bool{}, churnPrefix: userPrefix(c, "c"),
		cnt: cnt, changes: map[string]*trackedChange{}, pending: map[string][]int64{}, arrival: map[string]*Histogram{},
		firstMade: math.MaxInt64,
	}
}

// made records a change this worker made and tells the other workers.
func (t *tracker) made(n note, w *worker) {
	w.cnt.add("changes", 1)
	w.cnt.add("changes:"+n.Kind, 1)
	t.mu.Lock()
	t.firstMade = min(t.firstMade, n.At)
	t.lastMade = max(t.lastMade, n.At)
	t.mu.Unlock()
	t.note(n)
	w.emit(workerMsg{Kind: "note", Note: &n})
}

// note records a change and times the arrivals that came before it.
func (t *tracker) note(n note) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ch := &trackedChange{at: n.At, kind: n.Kind}
	switch n.Kind {
	case "connect", "disconnect":
		ch.expect = int64(t.viewers)
	default:
		if parts := strings.Split(n.Key, "|"); len(parts) == 3 && t.local[parts[2]] {
			ch.expect = 1
		}
	}
	t.changes[n.Key] = ch
	t.cnt.add("arrivals_expected", ch.expect)
	for _, at := range t.pending[n.Key] {
		t.record(ch, at)
	}
	t.npending -= len(t.pending[n.Key])
	delete(t.pending, n.Key)
}

// onViewerFrame is every viewer connection's frame handler.
func (t *tracker) onViewerFrame(c *conn, f frame) {
	if f.typ != "presence:update" || !t.recording.Load() {
		return
	}
	t.cnt.add("presence_frames", 1)
	t.cnt.add("presence_bytes", int64(len(f.raw)))
	users, err := presenceUsers(f.raw)
	if err != nil {
		t.cnt.add("bad_frames", 1)
		return
	}
	at := f.at.UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range users {
		t.arrive(c.user, p.user, p.status, at)
	}
}

// arrive handles one user's status as viewer read it. Runs under t.mu.
func (t *tracker) arrive(viewer, user, status string, at int64) {
	var key string
	switch {
	case strings.HasPrefix(user, t.churnPrefix) && (status == "active" || status == "offline"):
		key = churnKey(user, status)
	case status == "online":
		key = focusKey(user, status, viewer)
	case status == "active":
		// Only a blur turns a viewer "active" for its partner now; setup
		// stragglers (a viewer coming online) have no focus before them.
		key = focusKey(user, status, viewer)
		if t.changes[focusKey(user, "online", viewer)] == nil && t.pending[focusKey(user, "online", viewer)] == nil {
			return
		}
	default:
		return
	}
	if ch := t.changes[key]; ch != nil {
		t.record(ch, at)
		return
	}
	if t.npending >= maxPending {
		t.cnt.add("arrivals_unmatched", 1)
		return
	}
	t.pending[key] = append(t.pending[key], at)
	t.npending++
}

// record times one arrival of ch. Runs under t.mu.
func (t *tracker) record(ch *trackedChange, at int64) {
	d := at - ch.at
	if d < 0 {
		t.cnt.add("arrivals_stale", 1) // read before the change was made: not its arrival
		return
	}
	if ch.kind == "disconnect" {
		d = max(0, d-int64(t.cfg.OfflineGrace))
	}
	ch.n++
	ch.max = max(ch.max, d)
	t.hist("arrival").Record(d)
	t.hist("arrival:" + ch.kind).Record(d)
	t.cnt.add("arrivals", 1)
}

func (t *tracker) hist(name string) *Histogram {
	h := t.arrival[name]
	if h == nil {
		h = &Histogram{}
		t.arrival[name] = h
	}
	return h
}

// waitArrivals waits up to d for every expected arrival at this worker.
func (t *tracker) waitArrivals(ctx context.Context, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if t.cnt.get("arrivals").Load() >= t.cnt.get("arrivals_expected").Load() {
			return
		}
		if sleepCtx(ctx, 10*time.Millisecond) != nil {
			return
		}
	}
}

// report puts the arrival histograms and per-change statistics into p.
func (t *tracker) report(p *Partial) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for name, h := range t.arrival {
		p.hist(name).Merge(h)
	}
	for key, ch := range t.changes {
		p.Changes[key] = changeStat{N: ch.n, Max: ch.max, Expect: ch.expect}
	}
	p.Counts["arrivals_pending_unmatched"] += int64(t.npending)
	if t.lastMade > 0 {
		p.minTo("change_first", t.firstMade)
		p.maxTo("change_last", t.lastMade)
	}
}

func (presenceScenario) atBarrier(co *coordinator, name string, counts map[string]int64) {
	if name == "connected" && co.server != nil {
		co.server.RSSConnected = co.rss()
	}
	if name == "drained" && co.server != nil {
		co.server.RSSAfter = co.rss()
	}
	if name == "recording" || name == "drained" {
		co.markMetrics(name)
	}
}

func (presenceScenario) tick(co *coordinator, counts map[string]int64) string {
	switch co.phase {
	case "starting", "start":
		return connLine(counts, co.cfg.Conns)
	}
	return fmt.Sprintf("changes %d/%d  arrivals %d/%d  presence frames %d  failed changes %d", counts["changes"], co.cfg.Changes,
		counts["arrivals"], counts["arrivals_expected"], counts["presence_frames"], counts["change_failed"])
}

func (presenceScenario) finish(co *coordinator, p *Partial, r *Result) {
	c := co.cfg
	r.Primary = "arrival"
	complete := &Histogram{}
	incomplete := int64(0)
	for _, ch := range p.Changes {
		if ch.N >= ch.Expect {
			complete.Record(ch.Max)
		} else {
			incomplete++
		}
	}
	for name, h := range p.Hists {
		if strings.HasPrefix(name, "arrival") || name == "connect" {
			r.LatencyMs[name] = summarize(h)
		}
	}
	r.LatencyMs["complete"] = summarize(complete)
	changes := p.Counts["changes"]
	coalesced := 2 * coalescedPairs(p.Changes)
	missing := p.Counts["arrivals_expected"] - p.Counts["arrivals"] - coalesced
	r.Counts["changes_incomplete"] = incomplete
	r.Counts["arrivals_missing"] = max(0, missing)
	r.Counts["arrivals_coalesced_away"] = coalesced
	if changes > 0 {
		r.Values["presenceBytesPerChange"] = float64(p.Counts["presence_bytes"] / changes)
		r.Values["presenceFramesPerChange"] = round3(float64(p.Counts["presence_frames"]) / float64(changes))
		r.Values["presenceBytesPerArrival"] = round3(float64(p.Counts["presence_bytes"]) / float64(max(1, p.Counts["arrivals"])))
	}
	r.Rates["offered"] = c.ChangesPerSec
	if span := float64(p.Maxes["change_last"]-p.Mins["change_first"]) / 1e9; span > 0 && changes > 1 {
		// n changes on schedule span n-1 intervals.
		r.Rates["achieved"] = round3(float64(changes-1) / span)
	}
	r.row("viewers", "%d of %d connected, %d failed", p.Counts[cOpened], c.Conns, p.Counts[cDialFailed])
	r.row("changes", "%d made (%s, %.1f/s of %.0f/s offered), %d failed; %d of %d arrivals (%d coalesced away, %d missing); %d changes not seen by all",
		changes, c.ChangeKind, r.Rates["achieved"], c.ChangesPerSec, p.Counts["change_failed"], p.Counts["arrivals"], p.Counts["arrivals_expected"],
		coalesced, max(0, missing), incomplete)
	r.latencyRow("change→arrival", "arrival")
	for _, k := range []string{"connect", "disconnect", "focus", "blur"} {
		if s := r.LatencyMs["arrival:"+k]; s != nil && s.N > 0 {
			r.latencyRow("  "+k, "arrival:"+k)
		}
	}
	r.latencyRow("change→last viewer", "complete")
	// The server's own view of the same span, from its histograms between
	// the two barriers: the change to the frame queued for each viewer
	// told (the coalescing wait included), and a frame queued to written
	// (any frame). What the tool's figures add is the reading, on the same
	// cores.
	if before, after := co.marks["recording"], co.marks["drained"]; before != nil && after != nil {
		for _, m := range []struct{ key, metric, label string }{
			{"server:queued", "presenced_presence_delay_seconds", "server: change→queued"},
			{"server:written", "presenced_frame_wait_seconds", "server: queued→written"},
		} {
			if s := serverLatency(before, after, m.metric); s != nil {
				r.LatencyMs[m.key] = s
				r.latencyRow(m.label, m.key)
			}
		}
	}
	r.row("traffic per change", "%s in %.1f presence:update frames over all viewers",
		fmtBytes(r.Values["presenceBytesPerChange"]), r.Values["presenceFramesPerChange"])
	if n := p.Counts["arrivals_stale"]; n > 0 {
		co.warn("%d updates were read before the change they matched was made", n)
	}
	r.check(p.Counts[cOpened] < int64(c.Conns), "%d viewers failed to connect", int64(c.Conns)-p.Counts[cOpened])
	r.check(p.Counts["change_failed"] > 0, "%d changes could not be made", p.Counts["change_failed"])
	r.check(missing > 0, "%d expected arrivals never came", missing)
}

// coalescedPairs counts the viewers told neither half of a change pair (a
// churn user's connect and its disconnect, a focus and its blur). A viewer
// whose frames were held past both halves (the server behind, merging
// changes for it) is rightly told nothing: the user's status came back to
// what the viewer saw, and PROTOCOL.md sends the latest state only. Such
// arrivals are coalesced away, not lost. Counted per pair as the smaller
// of the two halves' shortfalls: a viewer told the first half and never
// the second has lost the last state, and stays missing.
func coalescedPairs(changes map[string]changeStat) int64 {
	var n int64
	for key, first := range changes {
		second, ok := changes[secondHalf(key)]
		if !ok {
			continue
		}
		n += max(0, min(first.Expect-first.N, second.Expect-second.N))
	}
	return n
}

// secondHalf is the key of the change that undoes the change of key, or
// "" when key is a second half itself.
func secondHalf(key string) string {
	switch parts := strings.Split(key, "|"); {
	case len(parts) == 2 && parts[1] == "active":
		return churnKey(parts[0], "offline")
	case len(parts) == 3 && parts[1] == "online":
		return focusKey(parts[0], "active", parts[2])
	}
	return ""
}
