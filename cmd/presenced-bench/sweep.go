package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

// runSweep runs the scenario once per --sweep value, each run on fresh user
// ids and fresh source addresses, and returns every result; with --chart it
// draws the primary latency's p50, p90 and p99 against the value.
func runSweep(ctx context.Context, c *Config, exe string, stderr io.Writer) (*SweepResult, error) {
	sw, err := parseSweep(c.Sweep, c.Scenario)
	if err != nil {
		return nil, err
	}
	out := &SweepResult{Tool: "presenced-bench", Sweep: sw, OK: true}
	offset := c.SourceOffset
	for i, v := range sw.Values {
		run := *c
		sw.apply(&run, v)
		run.Run = i
		run.SourceOffset = offset
		if err := run.validate(); err != nil {
			return nil, fmt.Errorf("sweep value %g: %w", v, err)
		}
		fmt.Fprintf(stderr, "--- sweep %s=%g (%d of %d)\n", sw.Param, v, i+1, len(sw.Values))
		r, err := runOnce(ctx, &run, exe, stderr)
		if err != nil {
			return nil, fmt.Errorf("sweep value %g: %w", v, err)
		}
		r.writeTable(stderr)
		out.Runs = append(out.Runs, r)
		out.OK = out.OK && r.OK
		// The next run starts on addresses this one never used, away from
		// its ports in TIME_WAIT.
		offset += run.procs() * (run.ipsPerWorker(run.procs()) + 1)
	}
	if c.Chart != "" {
		if err := writeChart(c.Chart, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sweepChart is the chart of a sweep: percentiles of each run's primary
// latency against the swept value.
func sweepChart(s *SweepResult) *chart {
	first := s.Runs[0]
	xlabel := map[string]string{"rates": "offered rate (per second)", "conns": "connections"}[s.Sweep.Param]
	if first.Scenario == "messages" && s.Sweep.Param == "rates" {
		xlabel = "offered messages per second"
	}
	if first.Scenario == "presence" && s.Sweep.Param == "rates" {
		xlabel = "presence changes per second"
	}
	ch := &chart{
		Title:  fmt.Sprintf("presenced-bench %s: %s latency", first.Scenario, first.Primary),
		XLabel: xlabel,
		YLabel: "latency (ms)",
	}
	pick := []struct {
		name, color string
		get         func(*Summary) float64
	}{
		{"p50", "#1f77b4", func(s *Summary) float64 { return s.P50 }},
		{"p90", "#2ca02c", func(s *Summary) float64 { return s.P90 }},
		{"p99", "#d62728", func(s *Summary) float64 { return s.P99 }},
	}
	for _, p := range pick {
		se := series{Name: p.name, Color: p.color}
		for i, r := range s.Runs {
			if l := r.LatencyMs[r.Primary]; l != nil && l.N > 0 {
				se.Points = append(se.Points, [2]float64{s.Sweep.Values[i], p.get(l)})
			}
		}
		ch.Series = append(ch.Series, se)
	}
	return ch
}

func writeChart(path string, s *SweepResult) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing the chart: %w", err)
	}
	if err := sweepChart(s).writeSVG(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the chart: %w", err)
	}
	return nil
}
