package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// messagesScenario runs --pairs sender/receiver pairs, each a direct
// conversation created with POST /v1/conversations, sending --rate messages
// per second in total for --duration. Sending is open-loop: each sender
// sends on its own schedule (rate/pairs per second, phases spread), never
// waiting for answers, so a slow server shows as latency, not as a lower
// offered rate. Every message has a unique clientMsgId (also its ref).
//
// Measured: send→message:sent at the sender ("ack") and send→new_message
// at the receiver ("deliver"), both from the moment before the frame is
// written; lost messages (acknowledged but never delivered), unacked ones
// (never acknowledged, or answered with an error), duplicates (delivered
// twice), and with --verify, through the history API, that every
// acknowledged message is stored exactly once.
//
// Barriers: "connected" (every pair is set up), then everyone sends.
type messagesScenario struct{}

// pair is one sender, one receiver and their conversation.
type pair struct {
	sender, receiver string
	conv             string
	from, to         *conn

	mu     sync.Mutex
	sent   map[string]int64 // clientMsgId → unix ns before the write
	acked  map[string]bool
	failed map[string]string // clientMsgId → error code
	got    map[string]int    // clientMsgId → deliveries
}

// msgStats are one worker's message measurements.
type msgStats struct {
	ack, deliver *syncHistogram
	cnt          *counters
}

func (messagesScenario) work(ctx context.Context, w *worker) (*Partial, error) {
	c := w.cfg
	lo, hi := w.share(c.Pairs)
	pairs := make([]*pair, hi-lo)
	st := &msgStats{ack: &syncHistogram{}, deliver: &syncHistogram{}, cnt: w.cnt}
	connect := &syncHistogram{}
	var setupErr error
	var errOnce sync.Once
	defer func() {
		forEach(context.Background(), len(pairs), w.parShare(), func(i int) {
			if p := pairs[i]; p != nil {
				for _, cn := range []*conn{p.from, p.to} {
					if cn != nil {
						cn.close()
					}
				}
			}
		})
	}()
	forEach(ctx, len(pairs), w.parShare(), func(i int) {
		p, err := setupPair(ctx, w, lo+i, i, st, connect)
		if err != nil {
			errOnce.Do(func() { setupErr = err })
			return
		}
		pairs[i] = p
	})
	if setupErr != nil {
		return nil, fmt.Errorf("setting up pairs: %w", setupErr)
	}
	if err := w.barrier(ctx, "connected"); err != nil {
		return nil, err
	}

	p := newPartial()
	start := time.Now()
	end := start.Add(c.Duration)
	interval := time.Duration(float64(time.Second) * float64(len(pairs)) / w.shareF(c.Rate))
	content := strings.Repeat("x", c.MsgBytes)
	var wg sync.WaitGroup
	for i, pr := range pairs {
		wg.Go(func() {
			phase := time.Duration(int64(interval) * int64(i) / int64(len(pairs)))
			pr.sendLoop(ctx, userID(c, "m", lo+i), content, start.Add(phase), end, interval, w.cnt)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sending: %w", err)
	}
	p.minTo("send_first", start.UnixNano())
	// Rates are over the whole --duration, though the last send may come
	// up to an interval before its end.
	p.maxTo("send_last", max(time.Now().UnixNano(), end.UnixNano()))
	drain(ctx, pairs, c.Drain)
	p.maxTo("drained", time.Now().UnixNano())
	tally(pairs, p)
	if c.Verify {
		verifyHistory(ctx, w, pairs, p)
	}
	p.hist("ack").Merge(st.ack.Snapshot())
	p.hist("deliver").Merge(st.deliver.Snapshot())
	p.hist("connect").Merge(connect.Snapshot())
	return p, nil
}

// setupPair creates the conversation of pair n and connects both ends;
// slot is its place in this worker, which picks the source addresses.
func setupPair(ctx context.Context, w *worker, n, slot int, st *msgStats, connect *syncHistogram) (*pair, error) {
	c := w.cfg
	p := &pair{
		sender: userID(c, "ps", n), receiver: userID(c, "pr", n),
		sent: map[string]int64{}, acked: map[string]bool{}, failed: map[string]string{}, got: map[string]int{},
	}
	conv, err := w.api.conversation(ctx, p.sender, p.receiver)
	if err != nil {
		return nil, err
	}
	p.conv = conv
	for k, user := range []string{p.sender, p.receiver} {
		t0 := time.Now()
		cn, hi, err := dialConn(ctx, w.pool.dialer(2*slot+k), w.endpoint, w.id, user, c.Role, c.ConnectTimeout, w.cnt)
		if err != nil {
			if p.from != nil {
				p.from.close()
			}
			return nil, err
		}
		connect.Record(int64(time.Since(t0)))
		every := time.Duration(hi.HeartbeatIntervalMs) * time.Millisecond
		if k == 0 {
			p.from = cn
			cn.start(func(_ *conn, f frame) { p.onSenderFrame(f, st) }, every)
		} else {
			p.to = cn
			cn.start(func(_ *conn, f frame) { p.onReceiverFrame(f, st) }, every)
		}
	}
	return p, nil
}

// sendLoop sends one message every interval from first until end.
func (p *pair) sendLoop(ctx context.Context, idBase, content string, first, end time.Time, interval time.Duration, cnt *counters) {
	type sendData struct {
		ConversationID string `json:"conversationId"`
		Content        string `json:"content"`
		ClientMsgID    string `json:"clientMsgId"`
	}
	type sendFrame struct {
		Type string   `json:"type"`
		Ref  string   `json:"ref"`
		Data sendData `json:"data"`
	}
	next := first
	for k := 0; next.Before(end); k++ {
		if sleepCtx(ctx, time.Until(next)) != nil {
			return
		}
		id := fmt.Sprintf("%s-%d", idBase, k)
		b, _ := json.Marshal(sendFrame{Type: "send_message", Ref: id, Data: sendData{p.conv, content, id}})
		p.mu.Lock()
		p.sent[id] = time.Now().UnixNano()
		p.mu.Unlock()
		if err := p.from.write(b); err != nil {
			cnt.add("send_write_failed", 1)
			p.mu.Lock()
			p.failed[id] = "write_failed"
			p.mu.Unlock()
		}
		next = next.Add(interval)
	}
}

// msgFrame is the part of message:sent, new_message and error frames the
// scenario reads.
type msgFrame struct {
	Ref  string `json:"ref"`
	Data struct {
		Code    string `json:"code"`
		Message struct {
			ClientMsgID string `json:"clientMsgId"`
		} `json:"message"`
	} `json:"data"`
}

func (p *pair) onSenderFrame(f frame, st *msgStats) {
	if f.typ != "message:sent" && f.typ != "error" {
		return
	}
	var m msgFrame
	if err := json.Unmarshal(f.raw, &m); err != nil {
		st.cnt.add("bad_frames", 1)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if f.typ == "error" {
		if _, ok := p.sent[m.Ref]; ok {
			p.failed[m.Ref] = m.Data.Code
		}
		return
	}
	id := m.Data.Message.ClientMsgID
	t0, ok := p.sent[id]
	switch {
	case !ok:
		st.cnt.add("unexpected_acks", 1)
	case p.acked[id]:
		st.cnt.add("duplicate_acks", 1)
	default:
		p.acked[id] = true
		st.ack.Record(f.at.UnixNano() - t0)
	}
}

func (p *pair) onReceiverFrame(f frame, st *msgStats) {
	if f.typ != "new_message" {
		return
	}
	var m msgFrame
	if err := json.Unmarshal(f.raw, &m); err != nil {
		st.cnt.add("bad_frames", 1)
		return
	}
	id := m.Data.Message.ClientMsgID
	p.mu.Lock()
	defer p.mu.Unlock()
	t0, ok := p.sent[id]
	if !ok {
		st.cnt.add("unexpected_deliveries", 1)
		return
	}
	p.got[id]++
	if p.got[id] == 1 {
		st.deliver.Record(f.at.UnixNano() - t0)
	}
}

// settled reports whether every message sent has its answer and every
// acknowledged one was delivered.
func (p *pair) settled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.acked)+len(p.failed) < len(p.sent) {
		return false
	}
	for id := range p.acked {
		if p.got[id] == 0 {
			return false
		}
	}
	return true
}

// drain waits up to d for the answers still in flight.
func drain(ctx context.Context, pairs []*pair, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		all := true
		for _, p := range pairs {
			if !p.settled() {
				all = false
				break
			}
		}
		if all || sleepCtx(ctx, 20*time.Millisecond) != nil {
			return
		}
	}
}

// tally counts what happened to every message.
func tally(pairs []*pair, out *Partial) {
	for _, p := range pairs {
		p.mu.Lock()
		out.Counts["sent"] += int64(len(p.sent))
		out.Counts["acked"] += int64(len(p.acked))
		for id, code := range p.failed {
			if !p.acked[id] {
				out.Counts["answered_error"]++
				out.Counts["send_error:"+code]++
			}
		}
		for id := range p.sent {
			if !p.acked[id] {
				out.Counts["unacked"]++
			}
		}
		for id, n := range p.got {
			out.Counts["delivered"]++
			if n > 1 {
				out.Counts["duplicated"] += int64(n - 1)
			}
			if !p.acked[id] {
				out.Counts["delivered_unacked"]++
			}
		}
		for id := range p.acked {
			if p.got[id] == 0 {
				out.Counts["lost"]++
			}
		}
		p.mu.Unlock()
	}
}

// verifyHistory reads every pair's conversation back and checks that each
// acknowledged message is stored exactly once.
func verifyHistory(ctx context.Context, w *worker, pairs []*pair, out *Partial) {
	var mu sync.Mutex
	forEach(ctx, len(pairs), min(8, w.parShare()), func(i int) {
		p := pairs[i]
		msgs, err := w.api.history(ctx, p.receiver, p.conv)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			out.Counts["history_failed"]++
			return
		}
		stored := map[string]int{}
		for _, m := range msgs {
			stored[m.ClientMsgID]++
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		out.Counts["history_checked"] += int64(len(p.acked))
		for id := range p.acked {
			switch n := stored[id]; {
			case n == 0:
				out.Counts["history_missing"]++
			case n > 1:
				out.Counts["history_duplicated"] += int64(n - 1)
			}
		}
		for id := range stored {
			if _, ok := p.sent[id]; ok && !p.acked[id] {
				out.Counts["stored_unacked"]++
			}
		}
	})
}

func (messagesScenario) atBarrier(*coordinator, string, map[string]int64) {}

func (messagesScenario) tick(co *coordinator, counts map[string]int64) string {
	if co.phase != "connected" {
		return connLine(counts, 2*co.cfg.Pairs)
	}
	return fmt.Sprintf("sent %d  errors %d  closed %d", counts[cFramesOut]-counts[cHeartbeats], counts[cErrors], counts[cClosed])
}

func (messagesScenario) finish(co *coordinator, p *Partial, r *Result) {
	c := co.cfg
	r.Primary = "deliver"
	r.LatencyMs["ack"] = summarize(p.Hists["ack"])
	r.LatencyMs["deliver"] = summarize(p.Hists["deliver"])
	r.LatencyMs["connect"] = summarize(p.Hists["connect"])
	span := float64(p.Maxes["send_last"]-p.Mins["send_first"]) / 1e9
	if span > 0 {
		r.Rates["offered"] = c.Rate
		r.Rates["achieved"] = round3(float64(p.Counts["sent"]) / span)
		r.Rates["acked"] = round3(float64(p.Counts["acked"]) / span)
		r.Rates["delivered"] = round3(float64(p.Counts["delivered"]) / span)
	}
	r.row("pairs", "%d pairs (%d connections), %d failed to connect", c.Pairs, p.Counts[cOpened], p.Counts[cDialFailed])
	r.row("sent", "%d in %s: %.0f/s (offered %.0f/s); %.0f/s acked, %.0f/s delivered",
		p.Counts["sent"], c.Duration, r.Rates["achieved"], c.Rate, r.Rates["acked"], r.Rates["delivered"])
	r.latencyRow("send→message:sent", "ack")
	r.latencyRow("send→new_message", "deliver")
	r.row("lost / duplicated", "%d lost (acked, never delivered), %d unacked (%d answered with an error), %d duplicated",
		p.Counts["lost"], p.Counts["unacked"], p.Counts["answered_error"], p.Counts["duplicated"])
	if c.Verify {
		r.row("history", "%d acked checked: %d missing, %d stored twice; %d stored but never acked",
			p.Counts["history_checked"], p.Counts["history_missing"], p.Counts["history_duplicated"], p.Counts["stored_unacked"])
	}
	r.check(p.Counts[cOpened] < int64(2*c.Pairs), "%d connections failed", int64(2*c.Pairs)-p.Counts[cOpened])
	r.check(p.Counts["lost"] > 0, "%d acknowledged messages were never delivered", p.Counts["lost"])
	r.check(p.Counts["unacked"] > 0, "%d messages were never acknowledged", p.Counts["unacked"])
	r.check(p.Counts["duplicated"] > 0, "%d duplicate deliveries", p.Counts["duplicated"])
	r.check(p.Counts["history_missing"] > 0, "%d acknowledged messages are not in history", p.Counts["history_missing"])
	r.check(p.Counts["history_duplicated"] > 0, "%d messages stored twice", p.Counts["history_duplicated"])
	r.check(p.Counts["history_failed"] > 0, "history could not be read for %d conversations", p.Counts["history_failed"])
}
