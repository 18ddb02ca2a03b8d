package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Partial is what one worker measured. Partials merge without loss: counts
// add up, mins and maxes keep the extreme, histograms merge bucket by
// bucket, and per-change statistics add their arrivals and keep the latest.
type Partial struct {
	Counts  map[string]int64      `json:"counts,omitempty"`
	Mins    map[string]int64      `json:"mins,omitempty"`
	Maxes   map[string]int64      `json:"maxes,omitempty"`
	Hists   map[string]*Histogram `json:"hists,omitempty"`
	Changes map[string]changeStat `json:"changes,omitempty"`
}

// changeStat is how many viewers should see a presence change, how many
// did, and the delay to the last of them, in nanoseconds.
type changeStat struct {
	Expect int64 `json:"expect"`
	N      int64 `json:"n"`
	Max    int64 `json:"max"`
}

func newPartial() *Partial {
	return &Partial{
		Counts: map[string]int64{}, Mins: map[string]int64{}, Maxes: map[string]int64{},
		Hists: map[string]*Histogram{}, Changes: map[string]changeStat{},
	}
}

// hist returns the histogram called name, creating it.
func (p *Partial) hist(name string) *Histogram {
	h, ok := p.Hists[name]
	if !ok {
		h = &Histogram{}
		p.Hists[name] = h
	}
	return h
}

// minTo and maxTo keep the smaller or larger of the stored value and v.
func (p *Partial) minTo(name string, v int64) {
	if old, ok := p.Mins[name]; !ok || v < old {
		p.Mins[name] = v
	}
}

func (p *Partial) maxTo(name string, v int64) {
	if old, ok := p.Maxes[name]; !ok || v > old {
		p.Maxes[name] = v
	}
}

// merge adds o into p.
func (p *Partial) merge(o *Partial) {
	for k, v := range o.Counts {
		p.Counts[k] += v
	}
	for k, v := range o.Mins {
		p.minTo(k, v)
	}
	for k, v := range o.Maxes {
		p.maxTo(k, v)
	}
	for k, h := range o.Hists {
		p.hist(k).Merge(h)
	}
	for k, s := range o.Changes {
		cur := p.Changes[k]
		cur.Expect += s.Expect
		cur.N += s.N
		cur.Max = max(cur.Max, s.Max)
		p.Changes[k] = cur
	}
}

// mergePartials merges every worker's partial into a new one.
func mergePartials(ps []*Partial) *Partial {
	out := newPartial()
	for _, p := range ps {
		if p != nil {
			out.merge(p)
		}
	}
	return out
}

// Summary is a latency distribution in milliseconds.
type Summary struct {
	N    uint64  `json:"n"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// summarize reads a histogram of nanoseconds as milliseconds.
func summarize(h *Histogram) *Summary {
	if h == nil {
		h = &Histogram{}
	}
	ms := func(ns int64) float64 { return round3(float64(ns) / 1e6) }
	return &Summary{
		N: h.Count(), P50: ms(h.Quantile(0.50)), P90: ms(h.Quantile(0.90)), P99: ms(h.Quantile(0.99)),
		P999: ms(h.Quantile(0.999)), Max: ms(h.Max()), Mean: round3(h.Mean() / 1e6),
	}
}

func round3(x float64) float64 {
	return float64(int64(x*1000+0.5)) / 1000
}

// ServerStats is the server's resource use, from --server-pid.
type ServerStats struct {
	PID int `json:"pid"`
	// RSS is VmRSS in bytes: before the first connection, once every
	// connection was open, and at the end (before closing them).
	RSSBefore    int64 `json:"rssBefore"`
	RSSConnected int64 `json:"rssConnected,omitempty"`
	RSSAfter     int64 `json:"rssAfter"`
	RSSPeak      int64 `json:"rssPeak"`
	// BytesPerConn is (RSSAfter - RSSBefore) / connections open then.
	BytesPerConn float64 `json:"bytesPerConn,omitempty"`
	// Checkpoints are readings while connections were being opened.
	Checkpoints []Checkpoint `json:"checkpoints,omitempty"`
	// CPUSeconds is the server's user+system CPU time during the run.
	CPUSeconds float64 `json:"cpuSeconds"`
}

// Checkpoint is the server's memory at a number of open connections.
type Checkpoint struct {
	Conns        int64   `json:"conns"`
	RSS          int64   `json:"rss"`
	BytesPerConn float64 `json:"bytesPerConn"`
}

// Result is one run's outcome, printed as one JSON line.
type Result struct {
	Tool     string    `json:"tool"`
	Scenario string    `json:"scenario"`
	Started  time.Time `json:"started"`
	ElapsedS float64   `json:"elapsedS"`
	Procs    int       `json:"procs"`
	// OK is false when a check failed; Failures says which.
	OK       bool     `json:"ok"`
	Failures []string `json:"failures,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// Primary names the latency in LatencyMs that a sweep's chart plots.
	Primary   string              `json:"primary,omitempty"`
	Counts    map[string]int64    `json:"counts"`
	Rates     map[string]float64  `json:"rates,omitempty"`
	Values    map[string]float64  `json:"values,omitempty"`
	LatencyMs map[string]*Summary `json:"latencyMs,omitempty"`
	Server    *ServerStats        `json:"server,omitempty"`
	// Metrics are the kept server metrics before and after the run.
	MetricsBefore map[string]float64 `json:"metricsBefore,omitempty"`
	MetricsAfter  map[string]float64 `json:"metricsAfter,omitempty"`
	Config        *Config            `json:"config"`

	// table is the human summary: label, value.
	table [][2]string
}

// row adds a line to the human table.
func (r *Result) row(label, format string, args ...any) {
	r.table = append(r.table, [2]string{label, fmt.Sprintf(format, args...)})
}

// check records a failed check when bad.
func (r *Result) check(bad bool, format string, args ...any) {
	if bad {
		r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
	}
}

// latencyRow adds a latency summary to the table.
func (r *Result) latencyRow(label, name string) {
	s := r.LatencyMs[name]
	if s == nil || s.N == 0 {
		r.row(label, "no samples")
		return
	}
	r.row(label, "p50 %s  p90 %s  p99 %s  max %s ms  (n=%d)", fmtMs(s.P50), fmtMs(s.P90), fmtMs(s.P99), fmtMs(s.Max), s.N)
}

func fmtMs(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// fmtBytes writes a byte count with a binary unit.
func fmtBytes(b float64) string {
	switch {
	case b >= 1<<30 || b <= -(1<<30):
		return fmt.Sprintf("%.2f GiB", b/(1<<30))
	case b >= 1<<20 || b <= -(1<<20):
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10 || b <= -(1<<10):
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	default:
		return fmt.Sprintf("%.0f B", b)
	}
}

// writeJSON prints v as one line.
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding the result: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("writing the result: %w", err)
	}
	return nil
}

// writeTable prints the human summary of r.
func (r *Result) writeTable(w io.Writer) {
	fmt.Fprintf(w, "\n%s: %d workers, %.1fs\n", r.Scenario, r.Procs, r.ElapsedS)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, row := range r.table {
		fmt.Fprintf(tw, "  %s\t%s\n", row[0], row[1])
	}
	errs := errorCounts(r.Counts)
	if len(errs) > 0 {
		fmt.Fprintf(tw, "  errors and closes\t%s\n", strings.Join(errs, ", "))
	}
	_ = tw.Flush()
	for _, wmsg := range r.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", wmsg)
	}
	if r.OK {
		fmt.Fprintln(w, "  checks: ok")
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  FAIL: %s\n", f)
	}
}

// errorCounts lists the non-zero per-code counters: error frames, closes
// and dial failures by kind.
func errorCounts(counts map[string]int64) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		if counts[k] == 0 {
			continue
		}
		if strings.HasPrefix(k, pError) || strings.HasPrefix(k, pClose) || strings.HasPrefix(k, pDialFail) {
			out = append(out, fmt.Sprintf("%s=%d", k, counts[k]))
		}
	}
	return out
}

// SweepResult is a sweep's outcome: one run per value, as one JSON line.
type SweepResult struct {
	Tool  string    `json:"tool"`
	Sweep *sweep    `json:"sweep"`
	OK    bool      `json:"ok"`
	Runs  []*Result `json:"runs"`
}

// writeTable prints one line per run.
func (s *SweepResult) writeTable(w io.Writer) {
	fmt.Fprintf(w, "\nsweep of %s over %s\n", s.Runs[0].Scenario, s.Sweep.Param)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\tlatency\tp50 ms\tp99 ms\tmax ms\tachieved/s\tok\t\n", s.Sweep.Param)
	for i, r := range s.Runs {
		l := r.LatencyMs[r.Primary]
		if l == nil {
			l = &Summary{}
		}
		fmt.Fprintf(tw, "%g\t%s\t%s\t%s\t%s\t%.0f\t%v\t\n", s.Sweep.Values[i], r.Primary,
			fmtMs(l.P50), fmtMs(l.P99), fmtMs(l.Max), r.Rates["achieved"], r.OK)
	}
	_ = tw.Flush()
}
