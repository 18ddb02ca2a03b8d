package main

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
)

// chart is a line chart of one or more series over a shared x axis, drawn
// as a self-contained SVG: axes with round ticks, one polyline and marker
// per point for each series, a legend on the right. The x axis starts at 0;
// the y axis too, unless the values span more than logSpan, when it is
// logarithmic (latencies under load do), by powers of ten.
type chart struct {
	Title  string
	XLabel string
	YLabel string
	Series []series
}

// series is one line: its points as (x, y).
type series struct {
	Name   string
	Color  string
	Points [][2]float64
}

// The drawing area inside the picture, in SVG user units.
const (
	chartW      = 760
	chartH      = 440
	chartLeft   = 80
	chartRight  = 170
	chartTop    = 50
	chartBottom = 60
)

// writeSVG draws c onto w.
func (c *chart) writeSVG(w io.Writer) error {
	bw := bufio.NewWriter(w)
	xmax, ymax, ymin := 0.0, 0.0, math.Inf(1)
	for _, s := range c.Series {
		for _, p := range s.Points {
			xmax, ymax = math.Max(xmax, p[0]), math.Max(ymax, p[1])
			if p[1] > 0 {
				ymin = math.Min(ymin, p[1])
			}
		}
	}
	xticks := niceTicks(xmax)
	xtop := xticks[len(xticks)-1]
	plotW := float64(chartW - chartLeft - chartRight)
	plotH := float64(chartH - chartTop - chartBottom)
	px := func(x float64) float64 { return chartLeft + x/xtop*plotW }
	ytick, py := linearY(ymax, plotH)
	ylabel := c.YLabel
	if ymax/ymin > logSpan {
		ytick, py = logY(ymin, ymax, plotH)
		ylabel += ", log scale"
	}

	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartW, chartH, chartW, chartH)
	fmt.Fprintf(bw, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, chartH)
	fmt.Fprintf(bw, `<text x="%d" y="28" font-size="16" font-weight="bold">%s</text>`+"\n", chartLeft, esc(c.Title))
	for _, t := range ytick {
		y := py(t)
		fmt.Fprintf(bw, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", chartLeft, y, px(xtop), y)
		fmt.Fprintf(bw, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", chartLeft-8, y+4, fmtTick(t))
	}
	for _, t := range xticks {
		x := px(t)
		fmt.Fprintf(bw, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999"/>`+"\n", x, py(0), x, py(0)+5)
		fmt.Fprintf(bw, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, py(0)+20, fmtTick(t))
	}
	fmt.Fprintf(bw, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", chartLeft, py(0), px(xtop), py(0))
	fmt.Fprintf(bw, `<line x1="%d" y1="%d" x2="%d" y2="%.1f" stroke="black"/>`+"\n", chartLeft, chartTop, chartLeft, py(0))
	fmt.Fprintf(bw, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", chartLeft+plotW/2, chartH-15, esc(c.XLabel))
	fmt.Fprintf(bw, `<text transform="translate(20 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", chartTop+plotH/2, esc(ylabel))

	for i, s := range c.Series {
		pts := make([]string, len(s.Points))
		for j, p := range s.Points {
			pts[j] = fmt.Sprintf("%.1f,%.1f", px(p[0]), py(p[1]))
		}
		fmt.Fprintf(bw, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", esc(s.Color), strings.Join(pts, " "))
		for _, p := range s.Points {
			fmt.Fprintf(bw, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s: %s at %s</title></circle>`+"\n",
				px(p[0]), py(p[1]), esc(s.Color), esc(s.Name), fmtTick(p[1]), fmtTick(p[0]))
		}
		ly := chartTop + 10 + 22*i
		lx := chartW - chartRight + 20
		fmt.Fprintf(bw, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", lx, ly, lx+24, ly, esc(s.Color))
		fmt.Fprintf(bw, `<text x="%d" y="%d">%s</text>`+"\n", lx+32, ly+4, esc(s.Name))
	}
	fmt.Fprintln(bw, `</svg>`)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing the chart: %w", err)
	}
	return nil
}

// logSpan is the ratio of the largest to the smallest positive y value
// above which the y axis is logarithmic.
const logSpan = 50

// linearY is a y axis from 0 to a round value at or above top: its ticks
// and the position of a value, in a plot plotH high.
func linearY(top, plotH float64) ([]float64, func(float64) float64) {
	ticks := niceTicks(top)
	ytop := ticks[len(ticks)-1]
	return ticks, func(y float64) float64 { return chartTop + plotH - y/ytop*plotH }
}

// logY is a logarithmic y axis over the powers of ten around lo..hi; values
// at or below the lowest power sit on the x axis.
func logY(lo, hi, plotH float64) ([]float64, func(float64) float64) {
	from, to := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	var ticks []float64
	for e := from; e <= to; e++ {
		ticks = append(ticks, math.Pow(10, e))
	}
	return ticks, func(y float64) float64 {
		f := (math.Log10(math.Max(y, ticks[0])) - from) / (to - from)
		return chartTop + plotH - f*plotH
	}
}

// niceTicks returns ticks from 0 to at least top, 4 to 10 of them, at a
// round step (1, 2 or 5 times a power of ten).
func niceTicks(top float64) []float64 {
	if top <= 0 || math.IsNaN(top) || math.IsInf(top, 0) {
		return []float64{0, 1}
	}
	raw := top / 5
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	step := pow * 10
	for _, m := range []float64{1, 2, 5} {
		if m*pow >= raw {
			step = m * pow
			break
		}
	}
	var ticks []float64
	for i := 0.0; ; i++ {
		t := i * step
		ticks = append(ticks, t)
		if t >= top*(1-1e-9) {
			return ticks
		}
	}
}

// fmtTick writes a tick value without needless decimals.
func fmtTick(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// esc escapes text for SVG content and attributes.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
