package reports

import (
	"math"
	"unicode/utf8"
)

// Charts are hand-written SVG: the geometry is computed here, and
// templates/index.html.tmpl renders it through html/template, so every label
// is escaped and the page needs no script and no network.

// point is one charted partition, already post-processed for display.
type point struct {
	label     string  // as drawn
	full      string  // the partition name, for the tooltip
	v, lo, hi float64 // display value and interval, clamped at 0 where negative is impossible
	text      string  // formatted display value
	wide      bool    // interval wider than the estimate itself
	clamped   bool    // a negative noisy value shown as 0
}

type chartView struct {
	Kind    string // "share" or "histogram"
	ViewBox string
	Label   string // aria-label
	Bars    []barView
	Ticks   []tickView
	// Caption lines drawn inside the chart, under the axis (histograms: the
	// unit of the buckets and how unequal buckets are drawn).
	Caption []captionView
}

type captionView struct {
	X, Y float64
	Text string
}

type barView struct {
	X, Y, W, H             float64 // the bar
	EX1, EY1, EX2, EY2     float64 // the error bar's line
	C1, C2                 float64 // cap positions (y for share charts, x for histograms)
	Label, FullLabel, Text string
	LX, LY, TX, TY         float64 // label and value text positions
	Rotate                 bool
	Wide, Clamped          bool
}

type tickView struct {
	X1, Y1, X2, Y2, TX, TY float64
	Text                   string
}

func r1(f float64) float64 { return math.Round(f*10) / 10 }

// niceScale returns an axis maximum ≥ max and a tick step giving 2–6 ticks.
func niceScale(max float64) (top, step float64) {
	if !(max > 0) {
		return 1, 0.25
	}
	mag := math.Pow(10, math.Floor(math.Log10(max)))
	for _, m := range []float64{0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10} {
		step = m * mag
		if max/step <= 5 {
			break
		}
	}
	return math.Ceil(max/step-1e-9) * step, step
}

// truncate shortens s to at most n runes, with an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// shareChart draws horizontal bars with error bars, one row per point.
func shareChart(label string, pts []point, tickText func(float64) string) *chartView {
	const (
		width, labelX, x0, x1, valueX = 720.0, 176.0, 186.0, 616.0, 712.0
		top, rowH, barH, axisH        = 6.0, 30.0, 16.0, 26.0
	)
	height := top + rowH*float64(len(pts)) + axisH
	c := &chartView{Kind: DisplayShare, Label: label, ViewBox: "0 0 720 " + formatSig(height, 6)}
	var max float64
	for _, p := range pts {
		max = math.Max(max, math.Max(p.v, p.hi))
	}
	scaleTop, step := niceScale(max)
	x := func(v float64) float64 { return r1(x0 + (x1-x0)*math.Min(math.Max(v, 0), scaleTop)/scaleTop) }
	plotBottom := top + rowH*float64(len(pts))
	for t := 0.0; t <= scaleTop+step/2; t += step {
		c.Ticks = append(c.Ticks, tickView{X1: x(t), Y1: top - 2, X2: x(t), Y2: plotBottom, TX: x(t), TY: plotBottom + 16, Text: tickText(t)})
	}
	for i, p := range pts {
		yc := top + rowH*float64(i) + rowH/2
		b := barView{
			X: x0, Y: r1(yc - barH/2), W: x(p.v) - x0, H: barH,
			EX1: x(p.lo), EX2: x(p.hi), EY1: r1(yc), EY2: r1(yc), C1: r1(yc - 6), C2: r1(yc + 6),
			Label: truncate(p.label, 26), FullLabel: p.full, Text: p.text,
			LX: labelX, LY: r1(yc + 4.5), TX: valueX, TY: r1(yc + 4.5),
			Wide: p.wide, Clamped: p.clamped,
		}
		c.Bars = append(c.Bars, b)
	}
	return c
}

// histogram draws vertical bars in the given (bucket) order, one equal slot
// per bucket. Labels are never cut: they are rotated when one does not fit
// its slot, and the chart grows to hold them. caption lines go under the
// labels, inside the chart.
func histogram(label string, pts []point, tickText func(float64) string, caption []string) *chartView {
	const (
		width, x0, x1, top, plotH = 720.0, 64.0, 712.0, 22.0, 220.0
		charW, lineH              = 7.0, 16.0 // label character width and caption line height, in chart units
	)
	n := float64(len(pts))
	slot := x1 - x0
	if n > 0 {
		slot = (x1 - x0) / n
	}
	longest := 0
	for _, p := range pts {
		longest = max(longest, utf8.RuneCountInString(p.label))
	}
	rotate := float64(longest)*charW > slot*0.92
	bottom := 30.0
	if rotate {
		// a label rotated by 40° drops sin(40°) of its length
		bottom = 22 + float64(longest)*charW*0.643
	}
	y1 := top + plotH
	capTop := y1 + bottom
	height := capTop + lineH*float64(len(caption)) + 4
	c := &chartView{Kind: DisplayHistogram, Label: label, ViewBox: "0 0 720 " + formatSig(r1(height), 6)}
	for i, t := range caption {
		c.Caption = append(c.Caption, captionView{X: x0, Y: r1(capTop + lineH*float64(i) + 10), Text: t})
	}
	var max float64
	for _, p := range pts {
		max = math.Max(max, math.Max(p.v, p.hi))
	}
	scaleTop, step := niceScale(max)
	y := func(v float64) float64 { return r1(y1 - plotH*math.Min(math.Max(v, 0), scaleTop)/scaleTop) }
	for t := 0.0; t <= scaleTop+step/2; t += step {
		c.Ticks = append(c.Ticks, tickView{X1: x0, Y1: y(t), X2: x1, Y2: y(t), TX: x0 - 8, TY: r1(y(t) + 4), Text: tickText(t)})
	}
	if n == 0 {
		return c
	}
	barW := math.Min(slot*0.72, 90)
	for i, p := range pts {
		xc := x0 + slot*(float64(i)+0.5)
		b := barView{
			X: r1(xc - barW/2), Y: y(p.v), W: r1(barW), H: r1(y1 - y(p.v)),
			EX1: r1(xc), EX2: r1(xc), EY1: y(p.hi), EY2: y(p.lo), C1: r1(xc - 5), C2: r1(xc + 5),
			Label: p.label, FullLabel: p.full, Text: p.text,
			LX: r1(xc), LY: y1 + 18, TX: r1(xc), TY: r1(y(math.Max(p.v, p.hi)) - 6),
			Rotate: rotate, Wide: p.wide, Clamped: p.clamped,
		}
		if rotate {
			b.LX, b.LY = r1(xc+4), y1+14
		}
		c.Bars = append(c.Bars, b)
	}
	return c
}
