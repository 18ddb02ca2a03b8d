package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPartialsMergeLosslessly(t *testing.T) {
	a, b := newPartial(), newPartial()
	a.Counts["sent"], b.Counts["sent"] = 3, 4
	b.Counts["lost"] = 1
	a.minTo("send_first", 100)
	b.minTo("send_first", 90)
	a.maxTo("send_last", 500)
	b.maxTo("send_last", 400)
	a.hist("ack").Record(1e6)
	b.hist("ack").Record(3e6)
	b.hist("deliver").Record(2e6)
	a.Changes["u|active"] = changeStat{Expect: 10, N: 10, Max: 7}
	b.Changes["u|active"] = changeStat{Expect: 5, N: 4, Max: 9}
	b.Changes["v|online|w"] = changeStat{Expect: 1, N: 1, Max: 2}

	// Through JSON, as from worker processes.
	var parts []*Partial
	for _, p := range []*Partial{a, b, nil} {
		if p == nil {
			parts = append(parts, nil)
			continue
		}
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back Partial
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, &back)
	}
	m := mergePartials(parts)
	if m.Counts["sent"] != 7 || m.Counts["lost"] != 1 {
		t.Errorf("counts %v", m.Counts)
	}
	if m.Mins["send_first"] != 90 || m.Maxes["send_last"] != 500 {
		t.Errorf("span %v..%v", m.Mins, m.Maxes)
	}
	if h := m.Hists["ack"]; h.Count() != 2 || h.Min() != 1e6 || h.Max() != 3e6 {
		t.Errorf("ack histogram n=%d %d..%d", h.Count(), h.Min(), h.Max())
	}
	if m.Hists["deliver"].Count() != 1 {
		t.Error("a histogram only one worker had is missing")
	}
	if got := m.Changes["u|active"]; got != (changeStat{Expect: 15, N: 14, Max: 9}) {
		t.Errorf("change stat %+v", got)
	}
	if len(m.Changes) != 2 {
		t.Errorf("changes %v", m.Changes)
	}
}

func TestSummarizeInMilliseconds(t *testing.T) {
	var h Histogram
	for i := 1; i <= 100; i++ {
		h.Record(int64(i) * int64(time.Millisecond))
	}
	s := summarize(&h)
	if s.N != 100 || s.Max != 100 || s.Mean != 50.5 {
		t.Fatalf("summary %+v", s)
	}
	for name, pair := range map[string][2]float64{"p50": {s.P50, 50}, "p90": {s.P90, 90}, "p99": {s.P99, 99}} {
		if d := pair[0] - pair[1]; d < -0.5 || d > 0.5 {
			t.Errorf("%s = %v, want about %v", name, pair[0], pair[1])
		}
	}
	if z := summarize(nil); z.N != 0 || z.P99 != 0 {
		t.Errorf("empty summary %+v", z)
	}
}

func TestResultIsOneJSONLineWithTheDocumentedFields(t *testing.T) {
	c := &Config{Scenario: "messages", URL: "http://127.0.0.1:1", JWTSecret: "***"}
	var h Histogram
	h.Record(2e6)
	r := &Result{
		Tool: "presenced-bench", Scenario: "messages", Started: time.Unix(1764355200, 0).UTC(), ElapsedS: 1.5,
		Procs: 2, OK: false, Failures: []string{"2 lost"}, Primary: "deliver",
		Counts: map[string]int64{"sent": 10, "lost": 2, "error:rate_limited": 1}, Rates: map[string]float64{"achieved": 9.5},
		LatencyMs: map[string]*Summary{"deliver": summarize(&h)}, Server: &ServerStats{PID: 7, RSSBefore: 1 << 20, RSSAfter: 2 << 20},
		Config: c,
	}
	r.row("sent", "%d", 10)
	r.latencyRow("deliver", "deliver")
	var out bytes.Buffer
	if err := writeJSON(&out, r); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 1 || !strings.HasSuffix(out.String(), "\n") {
		t.Fatalf("want one line, got %d newlines: %q", n, out.String())
	}
	var back map[string]any
	if err := json.Unmarshal(out.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"tool", "scenario", "started", "elapsedS", "procs", "ok", "failures", "primary", "counts", "rates", "latencyMs", "server", "config"} {
		if _, ok := back[k]; !ok {
			t.Errorf("no %q in %s", k, out.String())
		}
	}
	lat := back["latencyMs"].(map[string]any)["deliver"].(map[string]any)
	for _, k := range []string{"n", "p50", "p90", "p99", "p999", "max", "mean"} {
		if _, ok := lat[k]; !ok {
			t.Errorf("latency summary has no %q", k)
		}
	}
	if strings.Contains(out.String(), "table") {
		t.Error("the human table leaked into the JSON")
	}

	var table bytes.Buffer
	r.writeTable(&table)
	for _, want := range []string{"messages: 2 workers", "p50 2.00", "FAIL: 2 lost", "error:rate_limited=1"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table has no %q:\n%s", want, table.String())
		}
	}
}

func TestParseVmRSSAndMetrics(t *testing.T) {
	rss, err := parseVmRSS([]byte("Name:\tpresenced\nVmPeak:\t  900 kB\nVmRSS:\t   1234 kB\nThreads:\t9\n"))
	if err != nil || rss != 1234*1024 {
		t.Fatalf("rss %d, %v", rss, err)
	}
	if _, err := parseVmRSS([]byte("Name: x\n")); err == nil {
		t.Error("no VmRSS parsed without an error")
	}
	m, err := parseMetrics(strings.NewReader(`# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 42
presenced_connections 7
presenced_errors_total{code="rate_limited"} 3
presenced_presence_fanout_batch_users_bucket{le="1"} 5
presenced_presence_fanout_batch_users_sum 12.5
http_requests_total 99
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"go_goroutines": 42, "presenced_connections": 7,
		`presenced_errors_total{code="rate_limited"}`: 3, "presenced_presence_fanout_batch_users_sum": 12.5}
	if len(m) != len(want) {
		t.Errorf("kept %v", m)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
}

func TestFlagsAndSweeps(t *testing.T) {
	var out bytes.Buffer
	c, err := parseFlags([]string{"--scenario", "storm", "--conns", "10"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if c.Concurrency != 500 || c.URL != "http://127.0.0.1:8080" || c.IDPrefix == "" || c.procs() != 1 {
		t.Errorf("defaults %+v", c)
	}
	c.Conns = 40000
	if c.procs() != 3 {
		t.Errorf("40,000 connections in %d processes", c.procs())
	}
	for _, bad := range [][]string{
		{"--scenario", "nope"},
		{"--scenario", "idle", "--conns", "0"},
		{"--scenario", "idle", "--url", "ftp://x"},
		{"--scenario", "idle", "--source-ip", "10.0.0.1"},
		{"--scenario", "messages", "--chart", "x.svg"},
		{"--scenario", "idle", "stray"},
	} {
		if _, err := parseFlags(bad, &out); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	sw, err := parseSweep("rates=1000, 2000,5000", "messages")
	if err != nil || len(sw.Values) != 3 || sw.Values[1] != 2000 {
		t.Fatalf("sweep %+v, %v", sw, err)
	}
	c.Scenario = "messages"
	sw.apply(c, 2000)
	if c.Rate != 2000 {
		t.Errorf("rate %v", c.Rate)
	}
	if _, err := parseSweep("rates=1000", "storm"); err == nil {
		t.Error("a rate sweep of storm accepted")
	}
	if _, err := parseSweep("conns=x", "idle"); err == nil {
		t.Error("a bad value accepted")
	}
	out.Reset()
	if _, err := parseFlags([]string{"--help"}, &out); err == nil || !strings.Contains(out.String(), "--scenario") {
		t.Errorf("help: %v\n%s", err, out.String())
	}
}

// A viewer told neither half of a pair was rightly told nothing (its
// frames were merged past both); one told the first half only lost the
// last state, and stays missing.
func TestPairsToldNeitherHalfAreCoalescedNotMissing(t *testing.T) {
	changes := map[string]changeStat{
		churnKey("c1", "active"):       {Expect: 10, N: 7},
		churnKey("c1", "offline"):      {Expect: 10, N: 7}, // 3 viewers saw neither
		churnKey("c2", "active"):       {Expect: 10, N: 10},
		churnKey("c2", "offline"):      {Expect: 10, N: 8}, // 2 never saw it go
		focusKey("v1", "online", "v2"): {Expect: 1},
		focusKey("v1", "active", "v2"): {Expect: 1}, // neither
		focusKey("v3", "online", "v4"): {Expect: 1, N: 1},
		focusKey("v3", "active", "v4"): {Expect: 1}, // the blur lost
		churnKey("c3", "active"):       {Expect: 10, N: 9},
		churnKey("c3", "offline"):      {Expect: 10, N: 10},
		focusKey("v5", "online", "v6"): {Expect: 1, N: 1},
		focusKey("v5", "active", "v6"): {Expect: 1, N: 1},
	}
	if got := coalescedPairs(changes); got != 4 {
		t.Fatalf("coalesced pairs %d, want 4 (3 of c1, 1 of v1→v2)", got)
	}
}

// The server's side of a latency is read off its histogram's buckets
// between two scrapes: what was observed before the first does not count.
func TestServerLatencyBetweenTwoScrapes(t *testing.T) {
	scrape := func(counts [4]int, sum float64) map[string]float64 {
		text := fmt.Sprintf(`# TYPE presenced_frame_wait_seconds histogram
presenced_frame_wait_seconds_bucket{le="0.001"} %d
presenced_frame_wait_seconds_bucket{le="0.002"} %d
presenced_frame_wait_seconds_bucket{le="0.004"} %d
presenced_frame_wait_seconds_bucket{le="+Inf"} %d
presenced_frame_wait_seconds_sum %g
presenced_frame_wait_seconds_count %d
presenced_other_seconds_bucket{le="0.001"} 5
`, counts[0], counts[1], counts[2], counts[3], sum, counts[3])
		m, err := parseMetrics(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	before := scrape([4]int{10, 10, 10, 10}, 1)
	after := scrape([4]int{60, 100, 110, 110}, 1.2)
	if _, ok := after[`presenced_other_seconds_bucket{le="0.001"}`]; ok {
		t.Fatal("kept the buckets of a histogram the tool does not read")
	}
	got := serverLatency(before, after, "presenced_frame_wait_seconds")
	want := Summary{N: 100, P50: 1, P90: 2, P99: 3.8, P999: 3.98, Max: 4, Mean: 2}
	if got == nil || *got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if s := serverLatency(after, after, "presenced_frame_wait_seconds"); s != nil {
		t.Fatalf("nothing observed between two equal scrapes, got %+v", s)
	}
}
