package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
)

func TestChartIsValidSVGWithOneLinePerSeries(t *testing.T) {
	ch := &chart{
		Title: `messages <&> "quotes"`, XLabel: "offered messages per second", YLabel: "latency (ms)",
		Series: []series{
			{Name: "p50", Color: "#1f77b4", Points: [][2]float64{{1000, 1.2}, {2000, 1.9}, {5000, 4.4}}},
			{Name: "p99", Color: "#d62728", Points: [][2]float64{{1000, 3.1}, {2000, 6.8}, {5000, 17.5}}},
		},
	}
	var buf bytes.Buffer
	if err := ch.writeSVG(&buf); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&buf)
	var polylines, circles int
	var texts []string
	var root string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = el.Name.Local
				if el.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("root namespace %q", el.Name.Space)
				}
			}
			switch el.Name.Local {
			case "polyline":
				polylines++
				for _, a := range el.Attr {
					if a.Name.Local == "points" && len(strings.Fields(a.Value)) != 3 {
						t.Errorf("polyline with points %q, want 3", a.Value)
					}
				}
			case "circle":
				circles++
			}
		case xml.CharData:
			if s := strings.TrimSpace(string(el)); s != "" {
				texts = append(texts, s)
			}
		}
	}
	if root != "svg" || polylines != 2 || circles != 6 {
		t.Errorf("root %s, %d polylines, %d circles", root, polylines, circles)
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{`messages <&> "quotes"`, "offered messages per second", "latency (ms)", "p50", "p99", "5000", "20"} {
		if !strings.Contains(all, want) {
			t.Errorf("no text %q in %s", want, all)
		}
	}
}

func TestNiceTicks(t *testing.T) {
	for top, want := range map[float64][]float64{
		17.5: {0, 5, 10, 15, 20},
		5000: {0, 1000, 2000, 3000, 4000, 5000},
		0.42: {0, 0.1, 0.2, 0.30000000000000004, 0.4, 0.5},
		0:    {0, 1},
	} {
		got := niceTicks(top)
		if len(got) != len(want) {
			t.Errorf("niceTicks(%v) = %v, want %v", top, got, want)
			continue
		}
		for i := range got {
			if d := got[i] - want[i]; d > 1e-9 || d < -1e-9 {
				t.Errorf("niceTicks(%v) = %v, want %v", top, got, want)
				break
			}
		}
	}
}

func TestSweepChartPlotsThePrimaryLatency(t *testing.T) {
	mk := func(p50, p99 float64) *Result {
		return &Result{Scenario: "messages", Primary: "deliver", LatencyMs: map[string]*Summary{"deliver": {N: 10, P50: p50, P90: p50, P99: p99}}}
	}
	s := &SweepResult{Sweep: &sweep{Param: "rates", Values: []float64{1000, 2000}}, Runs: []*Result{mk(1, 3), mk(2, 9)}}
	ch := sweepChart(s)
	if len(ch.Series) != 3 || ch.Series[2].Name != "p99" || ch.Series[2].Points[1] != [2]float64{2000, 9} {
		t.Fatalf("series %+v", ch.Series)
	}
	if ch.XLabel != "offered messages per second" {
		t.Errorf("x label %q", ch.XLabel)
	}
}

func TestChartGoesLogarithmicOverDecades(t *testing.T) {
	ch := &chart{Title: "t", XLabel: "x", YLabel: "latency (ms)", Series: []series{
		{Name: "p50", Color: "#000", Points: [][2]float64{{1, 0.8}, {2, 1.5}}},
		{Name: "p99", Color: "#f00", Points: [][2]float64{{1, 12}, {2, 1180}}},
	}}
	var buf bytes.Buffer
	if err := ch.writeSVG(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"log scale", ">0.1<", ">1<", ">10<", ">100<", ">1000<", ">10000<"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the log-scale chart", want)
		}
	}
	_, py := logY(0.8, 1180, 100)
	if a, b, c := py(0.1), py(1), py(10); math.Abs((a-b)-(b-c)) > 1e-9 || a <= b {
		t.Errorf("decades are not evenly spaced: %v %v %v", a, b, c)
	}
}
