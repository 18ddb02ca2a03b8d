package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// serverProbe reads the server's resources: its resident memory and CPU
// time from /proc (--server-pid, same machine) and its Prometheus metrics
// (--metrics-url). Either may be unset.
type serverProbe struct {
	pid        int
	metricsURL string
	client     *http.Client
}

func newServerProbe(c *Config) *serverProbe {
	return &serverProbe{pid: c.ServerPID, metricsURL: c.MetricsURL, client: &http.Client{Timeout: 10 * time.Second}}
}

// rss returns the server's VmRSS in bytes.
func (p *serverProbe) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return 0, fmt.Errorf("reading the server's memory: %w", err)
	}
	return parseVmRSS(b)
}

// parseVmRSS finds "VmRSS:  1234 kB" in a /proc/PID/status.
func parseVmRSS(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected VmRSS line %q: %w", sc.Text(), err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no VmRSS in the process status")
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; 100 on every
// Linux this runs on.
const clockTicks = 100

// cpuSeconds returns the server's user plus system CPU time so far.
func (p *serverProbe) cpuSeconds() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return 0, fmt.Errorf("reading the server's CPU time: %w", err)
	}
	// The command name (field 2) may hold spaces; fields after its ")" are
	// plain, utime and stime being the 12th and 13th of them.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", p.pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", p.pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat times %q %q", p.pid, f[11], f[12])
	}
	return float64(ut+st) / clockTicks, nil
}

// scrape fetches the metrics and keeps the ones that tell about load:
// presenced's own, goroutines, heap and process memory, open files.
func (p *serverProbe) scrape(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.metricsURL, nil)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", p.metricsURL, err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", p.metricsURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s: HTTP %d", p.metricsURL, resp.StatusCode)
	}
	return parseMetrics(io.LimitReader(resp.Body, 32<<20))
}

// keptMetrics are the name prefixes scrape keeps.
var keptMetrics = []string{
	"presenced_", "go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_heap_alloc_bytes",
	"go_memstats_sys_bytes", "go_memstats_stack_inuse_bytes", "process_resident_memory_bytes", "process_open_fds",
}

// bucketsKept are the histograms whose buckets parseMetrics keeps: those
// the tool reads the server's side of a latency from (serverLatency).
var bucketsKept = []string{"presenced_presence_delay_seconds_bucket", "presenced_frame_wait_seconds_bucket"}

// parseMetrics reads Prometheus text format: one "name{labels} value" per
// line, comments skipped. Histogram buckets are left out but those of
// bucketsKept; their _sum and _count stay.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := make(map[string]float64)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		// The value follows the last space outside the labels; labels may
		// hold spaces, so split after the closing brace when there is one.
		nameEnd := strings.IndexAny(line, "{ ")
		if nameEnd < 0 {
			continue
		}
		name := line[:nameEnd]
		if strings.HasSuffix(name, "_bucket") && !slices.Contains(bucketsKept, name) || !keep(name) {
			continue
		}
		series, rest := name, line[nameEnd:]
		if rest[0] == '{' {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			series, rest = name+rest[:end+1], rest[end+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		out[series] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading metrics: %w", err)
	}
	return out, nil
}

func keep(name string) bool {
	for _, p := range keptMetrics {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// serverLatency summarizes, in milliseconds, what a server histogram (name
// without _bucket) observed between two scrapes: quantiles interpolated
// within buckets as Prometheus's histogram_quantile does, max as the upper
// bound of the highest bucket reached. nil when it observed nothing.
func serverLatency(before, after map[string]float64, name string) *Summary {
	type bucket struct{ le, n float64 }
	var bs []bucket
	prefix := name + `_bucket{le="`
	for series, v := range after {
		bound, ok := strings.CutPrefix(series, prefix)
		if !ok {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(bound, `"}`), 64)
		if err != nil {
			continue
		}
		bs = append(bs, bucket{le, v - before[series]})
	}
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	if len(bs) == 0 || bs[len(bs)-1].n <= 0 {
		return nil
	}
	total := bs[len(bs)-1].n
	quantile := func(q float64) float64 {
		rank := q * total
		lower, below := 0.0, 0.0
		for _, b := range bs {
			if b.n >= rank {
				if math.IsInf(b.le, 1) {
					return lower // past the last finite bound: that bound
				}
				return lower + (b.le-lower)*(rank-below)/max(b.n-below, 1)
			}
			lower, below = b.le, b.n
		}
		return lower
	}
	top := 0.0
	for i, b := range bs {
		if !math.IsInf(b.le, 1) && (i == 0 && b.n > 0 || i > 0 && b.n > bs[i-1].n) {
			top = b.le
		}
	}
	ms := func(s float64) float64 { return round3(s * 1000) }
	mean := (after[name+"_sum"] - before[name+"_sum"]) / max(after[name+"_count"]-before[name+"_count"], 1)
	return &Summary{
		N: uint64(total), P50: ms(quantile(0.50)), P90: ms(quantile(0.90)), P99: ms(quantile(0.99)),
		P999: ms(quantile(0.999)), Max: ms(top), Mean: ms(mean),
	}
}
