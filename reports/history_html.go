package reports

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// The job index: OUT/<job>/index.html, drawn from a History.

//go:embed templates/history.html.tmpl
var historyTemplate string

// historyPage is everything history.html.tmpl shows, formatted for people.
type historyPage struct {
	Job, Title      string
	CSS             template.CSS
	Range           string
	Released, Slots int
	Gaps            int
	Latest          *HistoryPeriod
	LatestHref      string // the newest period's index.html, if it has one
	LatestDate      string
	LatestEps       string
	LedgerLine      string
	Level           string
	Periods         []periodRow
	Metrics         []historyMetricView
	Problems        []string
	ToolVersion     string
	ChartNote       string // set when the charts show only the newest periods
}

type periodRow struct {
	Name, Date, Weekday string
	Released            bool
	Report              string // href of the day's index.html, if present
	JSON                []linkView
	CSV                 []linkView
	Eps                 string
	Note                string
}

type linkView struct{ Href, Text string }

type historyMetricView struct {
	Anchor, Title, Description string
	KindLabel, Measure         string
	Level                      string
	Panels                     []panelView
	LatestDate                 string
	PrevDate, WeekDate         string
	Rows                       []compareRow
	Summary                    string
	Notes                      []string
	NoCI                       bool // some point has no interval (drawn hollow)
}

type compareRow struct {
	Name             string
	Wide             bool
	Latest, LatestCI string
	Roll, RollCI     string
	RollNote         string
	Prev, Week       changeView
}

type changeView struct {
	Text, Verdict string
	Class         string // "sig" (larger than the noise), "flat" (within it), "na"
}

type panelView struct {
	Title, Latest string
	Wide          bool
	ViewBox       string
	Label         string
	YTicks        []tickView
	XTicks        []tickView
	Gaps          []rectView
	Bands         []string // polygon points of the rolling interval
	Lines         []string // polyline points of the rolling average
	Points        []pointView
}

type rectView struct{ X, Y, W, H float64 }

type pointView struct {
	X, Y, Y1, Y2 float64
	CI           bool
	Title        string
}

// WriteHistoryHTML writes the job index: one self-contained page (inline CSS
// and SVG, no script, no network) with every period and its downloads, a
// time series per statistic with the daily intervals and a 7-day rolling
// average, and the latest changes marked against the noise.
func WriteHistoryHTML(w io.Writer, h *History) error {
	t, err := template.New("history.html.tmpl").Parse(historyTemplate)
	if err != nil {
		return fmt.Errorf("WriteHistoryHTML: %w", err)
	}
	css, err := templateFS.ReadFile("templates/style.css")
	if err != nil {
		return fmt.Errorf("WriteHistoryHTML: %w", err)
	}
	v := buildHistoryPage(h)
	v.CSS = template.CSS(css) // static, from the binary
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		return fmt.Errorf("WriteHistoryHTML: render: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("WriteHistoryHTML: write: %w", err)
	}
	return nil
}

const dayFmt = "2 Jan 2006"

func periodDate(p *HistoryPeriod) string {
	if p.Start.IsZero() {
		return p.Name
	}
	return fmtPeriod(p.Start, p.End)
}

func shortDate(p *HistoryPeriod) string {
	if p.End.Sub(p.Start) == 24*time.Hour {
		return p.Start.UTC().Format("2 Jan")
	}
	return p.Name
}

func buildHistoryPage(h *History) *historyPage {
	v := &historyPage{Job: clean(h.Job), Title: clean(h.Job), Released: h.Released(), Slots: len(h.Periods)}
	v.Gaps = v.Slots - v.Released
	first, last := &h.Periods[0], &h.Periods[len(h.Periods)-1]
	v.Range = fmtPeriod(first.Start, last.End)
	if li := h.latestReport(); li >= 0 {
		v.Latest = &h.Periods[li]
		r := v.Latest.Report
		v.LatestDate = periodDate(v.Latest)
		for _, f := range v.Latest.Files {
			if f == "index.html" {
				v.LatestHref = v.Latest.Name + "/index.html"
			}
		}
		v.LatestEps = fmtEps(r.Epsilon)
		v.ToolVersion = clean(r.ToolVersion)
		if r.Title != "" {
			v.Title = clean(r.Title)
		}
		v.LedgerLine = fmt.Sprintf("As of the newest report: all releases in the last %d days spent ε = %s of a cap of %s; all releases the ledger records, all time, ε = %s.",
			r.Ledger.WindowDays, fmtEps(r.Ledger.EpsilonSpent), fmtEps(r.Ledger.EpsilonCap), fmtEps(r.Ledger.EpsilonAllTime))
	}
	for _, p := range h.Problems {
		v.Problems = append(v.Problems, clean(p))
	}
	if f := chartFirst(h); f > 0 {
		v.ChartNote = fmt.Sprintf("The charts show the newest %d periods, from %s; the table of periods and history.csv have all %d.",
			chartPeriods, periodDate(&h.Periods[f]), len(h.Periods))
	}
	// Periods, newest first.
	for i := len(h.Periods) - 1; i >= 0; i-- {
		p := &h.Periods[i]
		row := periodRow{Name: clean(p.Name), Date: periodDate(p), Released: p.Report != nil}
		if !p.Start.IsZero() && p.End.Sub(p.Start) == 24*time.Hour {
			row.Weekday = p.Start.UTC().Format("Mon")
		}
		if p.Report == nil {
			row.Note = "no report: withheld, failed or not run"
			if p.Problem != "" {
				row.Note = "report unreadable: " + clean(p.Problem)
			}
		} else {
			row.Eps = fmtEps(p.Report.Epsilon)
			for _, l := range downloads(p) {
				if strings.HasSuffix(l.Text, ".csv") {
					row.CSV = append(row.CSV, l)
				} else {
					row.JSON = append(row.JSON, l)
				}
			}
			for _, f := range p.Files {
				if f == "index.html" {
					row.Report = p.Name + "/index.html"
				}
			}
		}
		v.Periods = append(v.Periods, row)
	}
	levels := map[string]bool{}
	for _, hm := range h.metrics {
		mv := buildHistoryMetric(h, hm)
		levels[mv.Level] = true
		v.Metrics = append(v.Metrics, mv)
	}
	if len(levels) == 1 {
		for l := range levels {
			v.Level = l
		}
	}
	return v
}

// downloads lists report.json first, then the CSVs in metric order, then
// any other CSV or JSON file.
func downloads(p *HistoryPeriod) []linkView {
	has := map[string]bool{}
	for _, f := range p.Files {
		has[f] = true
	}
	var out []linkView
	add := func(f string) {
		if has[f] {
			out = append(out, linkView{Href: p.Name + "/" + f, Text: f})
			delete(has, f)
		}
	}
	add("report.json")
	for _, m := range p.Report.Metrics {
		add(m.Name + ".csv")
	}
	for _, f := range p.Files {
		if f != "index.html" {
			add(f)
		}
	}
	return out
}

var measureLabels = map[string]string{
	KindCount: "share of events",
	KindUsers: "share of users",
}

func buildHistoryMetric(h *History, hm *historyMetric) historyMetricView {
	m := &hm.def
	mv := historyMetricView{
		Anchor: "m-" + clean(m.Name), Title: clean(m.Title), Description: clean(m.Description),
		KindLabel: kindLabels[m.Kind] + " by " + clean(m.Dimension),
		Level:     formatSig(m.ConfidenceLevel*100, 3),
		Notes:     hm.notes,
	}
	mv.Measure = "the released value"
	if hm.measure == measureShare {
		mv.Measure = measureLabels[m.Kind]
		if mv.Measure == "" {
			mv.Measure = "share"
		}
	} else if m.Kind == KindQuantiles {
		mv.Measure = "each released quantile"
	}
	unit := ""
	if m.Unit != "" {
		unit = thinSpace + clean(m.Unit)
	}
	format := func(f float64) string {
		if hm.measure == measureShare {
			return fmtPct(f)
		}
		if m.Kind == KindCount || m.Kind == KindUsers {
			return fmtInt(f)
		}
		return fmtNum(f) + unit
	}
	formatDiff := func(f float64) string {
		sign := "+"
		if f < 0 {
			sign = minus
		}
		if hm.measure == measureShare {
			return sign + strconv.FormatFloat(math.Abs(f)*100, 'f', 1, 64) + thinSpace + "pp"
		}
		if m.Kind == KindCount || m.Kind == KindUsers {
			return sign + fmtInt(math.Abs(f))
		}
		return sign + fmtNum(math.Abs(f)) + unit
	}
	suffix := unit
	if hm.measure == measureShare {
		suffix = thinSpace + "%"
	}
	// formatCI returns the value and its interval, "5 130 – 5 670 s".
	formatCI := func(e estimate) (string, string) {
		if !e.CI {
			return format(e.V), "no interval"
		}
		return format(e.V), strings.TrimSuffix(format(e.Lo), suffix) + " – " + format(e.Hi)
	}

	// The period compared: the newest one with this metric.
	latest := -1
	for _, s := range hm.series {
		for i := len(s.days) - 1; i > latest; i-- {
			if s.days[i].released {
				latest = i
				break
			}
		}
	}
	if latest >= 0 {
		mv.LatestDate = periodDate(&h.Periods[latest])
	}
	var prevIdx, weekIdx = -1, -1
	if latest >= 0 && len(hm.series) > 0 {
		prevIdx, weekIdx = hm.series[0].days[latest].prev, hm.series[0].days[latest].week
		if prevIdx < 0 {
			for _, s := range hm.series {
				if s.days[latest].prev >= 0 {
					prevIdx = s.days[latest].prev
				}
			}
		}
	}
	if prevIdx >= 0 {
		mv.PrevDate = shortDate(&h.Periods[prevIdx])
	}
	if weekIdx >= 0 {
		mv.WeekDate = shortDate(&h.Periods[weekIdx])
	}
	// Comparisons made (with and without a verdict) and marked changes.
	var nPrev, nWeek, sigPrev, sigWeek, rawPrev, rawWeek int
	for _, s := range hm.series {
		name := clean(s.partition)
		if s.quantile {
			name += " · " + rankLabel(s.rank)
		}
		panel := buildPanel(h, hm, s, name, format)
		mv.Panels = append(mv.Panels, panel)
		for _, p := range panel.Points {
			mv.NoCI = mv.NoCI || !p.CI
		}
		if latest < 0 {
			continue
		}
		d := &s.days[latest]
		row := compareRow{Name: name, Wide: panel.Wide}
		cur, ok := hm.measureOf(d)
		if !ok {
			row.Latest = "not released"
			row.Prev = changeView{Text: "–", Class: "na"}
			row.Week = row.Prev
			mv.Rows = append(mv.Rows, row)
			continue
		}
		row.Latest, row.LatestCI = formatCI(cur)
		if roll, ok := hm.rollingOf(d); ok {
			row.Roll, row.RollCI = formatCI(roll)
			if d.rollDays < 7 {
				row.RollNote = fmt.Sprintf("only %d of 7 days", d.rollDays)
			} else {
				row.RollNote = "7 days"
			}
		}
		cv := func(ok bool, idx int, ch change, n, sig, raw *int) changeView {
			switch {
			case idx < 0:
				return changeView{Text: "–", Verdict: "no earlier period", Class: "na"}
			case !ok && h.Periods[idx].Report == nil:
				return changeView{Text: "–", Verdict: "no report for " + shortDate(&h.Periods[idx]), Class: "na"}
			case !ok:
				return changeView{Text: "–", Verdict: "not in the report of " + shortDate(&h.Periods[idx]), Class: "na"}
			case !ch.CI:
				*raw++
				return changeView{Text: formatDiff(ch.Diff), Verdict: "no interval: no verdict", Class: "na"}
			}
			*n++
			if ch.Exceeds {
				*sig++
				arrow := "▲ "
				if ch.Diff < 0 {
					arrow = "▼ "
				}
				return changeView{Text: arrow + formatDiff(ch.Diff), Verdict: "larger than the noise (±" + strings.TrimPrefix(formatDiff(ch.Noise), "+") + ")", Class: "sig"}
			}
			return changeView{Text: formatDiff(ch.Diff), Verdict: "within the noise (±" + strings.TrimPrefix(formatDiff(ch.Noise), "+") + ")", Class: "flat"}
		}
		row.Prev = cv(d.prevOK, d.prev, d.prevCh, &nPrev, &sigPrev, &rawPrev)
		row.Week = cv(d.weekOK, d.week, d.weekCh, &nWeek, &sigWeek, &rawWeek)
		mv.Rows = append(mv.Rows, row)
	}
	if latest >= 0 {
		what := "partitions"
		if m.Kind == KindQuantiles {
			what = "quantiles"
		}
		var parts []string
		switch {
		case nPrev > 0:
			parts = append(parts, fmt.Sprintf("against the day before (%s), %s of %d %s moved by more than the noise", mv.PrevDate, countWord(sigPrev), nPrev, what))
		case rawPrev > 0:
			parts = append(parts, fmt.Sprintf("against the day before (%s), no change can be judged: the %s were released without an interval", mv.PrevDate, what))
		default:
			parts = append(parts, "there is no released day before it to compare with")
		}
		switch {
		case nWeek > 0:
			parts = append(parts, fmt.Sprintf("against the same weekday a week earlier (%s), %s of %d did", mv.WeekDate, countWord(sigWeek), nWeek))
		case rawWeek > 0:
			parts = append(parts, fmt.Sprintf("against the same weekday a week earlier (%s), no change can be judged either way (no interval)", mv.WeekDate))
		default:
			parts = append(parts, "there is no release from a week earlier to compare with")
		}
		mv.Summary = "On " + mv.LatestDate + ", " + strings.Join(parts, "; ") + "."
	}
	return mv
}

func countWord(n int) string {
	if n == 0 {
		return "none"
	}
	return strconv.Itoa(n)
}

// chartPeriods is how many of the newest periods the charts show; the
// periods table and history.csv have them all. 8 weeks of days: more would
// not be readable in a small chart, and the page would grow with every day.
const chartPeriods = 56

// chartFirst is the index of the first period the charts show.
func chartFirst(h *History) int { return max(0, len(h.Periods)-chartPeriods) }

// Panel geometry: one small chart per series, on a viewBox of 300 × 150.
const (
	panelW, panelH        = 300.0, 150.0
	panelX0, panelX1      = 46.0, 284.0
	panelTop, panelBottom = 8.0, 124.0
)

// niceRange returns axis limits covering [lo, hi] and a tick step giving
// 2–6 ticks.
func niceRange(lo, hi float64) (bottom, top, step float64) {
	// A flat series (equal values, or equal but for rounding, as an
	// average of equal days is) gets a range around its value.
	if mag := math.Max(math.Abs(lo), math.Abs(hi)); !(hi-lo > mag*1e-6) {
		pad := math.Max(mag*0.1, 1e-9)
		lo, hi = lo-pad, hi+pad
	}
	span := hi - lo
	mag := math.Pow(10, math.Floor(math.Log10(span)))
	for _, m := range []float64{0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10} {
		step = m * mag
		if span/step <= 4 {
			break
		}
	}
	bottom = math.Floor(lo/step+1e-9) * step
	top = math.Ceil(hi/step-1e-9) * step
	if top == bottom {
		top = bottom + step
	}
	return bottom, top, step
}

func buildPanel(h *History, hm *historyMetric, s *historySeries, name string, format func(float64) string) panelView {
	first := chartFirst(h)
	n := len(h.Periods) - first
	pv := panelView{Title: name, ViewBox: "0 0 300 150"}
	pv.Label = name + ": daily " + map[bool]string{true: "share", false: "value"}[hm.measure == measureShare] +
		" with intervals, and the 7-day rolling average with its interval"

	lo, hi := math.Inf(1), math.Inf(-1)
	grow := func(e estimate) {
		lo, hi = math.Min(lo, e.V), math.Max(hi, e.V)
		if e.CI {
			lo, hi = math.Min(lo, e.Lo), math.Max(hi, e.Hi)
		}
	}
	for i := first; i < len(s.days); i++ {
		if e, ok := hm.measureOf(&s.days[i]); ok {
			grow(e)
		}
		if e, ok := hm.rollingOf(&s.days[i]); ok {
			grow(e)
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0, 1
	}
	lo, hi = math.Max(lo, hm.floor), math.Min(hi, hm.ceil)
	bottom, top, step := niceRange(lo, hi)
	y := func(v float64) float64 {
		v = math.Min(math.Max(v, bottom), top)
		return r1(panelBottom - (panelBottom-panelTop)*(v-bottom)/(top-bottom))
	}
	slot := (panelX1 - panelX0) / float64(n)
	x := func(i int) float64 { return r1(panelX0 + slot*(float64(i-first)+0.5)) }

	tick := format
	if hm.measure == measureShare {
		tick = func(f float64) string { return formatSig(f*100, 3) + thinSpace + "%" }
	} else if hm.def.Kind != KindCount && hm.def.Kind != KindUsers {
		tick = fmtNum
	}
	for k := 0; k <= int(math.Round((top-bottom)/step)) && k <= 10; k++ {
		t := bottom + float64(k)*step
		pv.YTicks = append(pv.YTicks, tickView{X1: panelX0, Y1: y(t), X2: panelX1, Y2: y(t), TX: panelX0 - 4, TY: r1(y(t) + 3.5), Text: tick(t)})
	}
	every := int(math.Ceil(float64(n) / 5))
	for i := len(h.Periods) - 1; i >= first; i -= every {
		pv.XTicks = append(pv.XTicks, tickView{X1: x(i), Y1: panelTop, X2: x(i), Y2: panelBottom, TX: x(i), TY: panelBottom + 16, Text: shortDate(&h.Periods[i])})
	}

	var upper, lower, line []string
	flushBand := func() {
		if len(upper) > 0 {
			for j := len(lower) - 1; j >= 0; j-- {
				upper = append(upper, lower[j])
			}
			pv.Bands = append(pv.Bands, strings.Join(upper, " "))
		}
		upper, lower = nil, nil
	}
	flush := func() {
		if len(line) > 0 {
			pv.Lines = append(pv.Lines, strings.Join(line, " "))
		}
		line = nil
		flushBand()
	}
	pt := func(xv, yv float64) string { return formatSig(xv, 6) + "," + formatSig(yv, 6) }
	for i := first; i < len(s.days); i++ {
		d := &s.days[i]
		e, ok := hm.measureOf(d)
		if !ok {
			flush()
			if h.Periods[i].Report == nil {
				pv.Gaps = append(pv.Gaps, rectView{X: r1(x(i) - slot/2), Y: panelTop, W: r1(slot), H: panelBottom - panelTop})
			}
			continue
		}
		p := pointView{X: x(i), Y: y(e.V), CI: e.CI}
		p.Title = shortDate(&h.Periods[i]) + ": " + format(e.V)
		if e.CI {
			p.Y1, p.Y2 = y(e.Hi), y(e.Lo)
			p.Title += " (" + format(e.Lo) + " – " + format(e.Hi) + ")"
		}
		if roll, ok := hm.rollingOf(d); ok {
			line = append(line, pt(x(i), y(roll.V)))
			if roll.CI {
				upper = append(upper, pt(x(i), y(roll.Hi)))
				lower = append(lower, pt(x(i), y(roll.Lo)))
			} else {
				flushBand()
			}
			p.Title += "; 7-day average " + format(roll.V)
		} else {
			flush()
		}
		pv.Points = append(pv.Points, p)
	}
	flush()
	// The newest released value, and whether it is dominated by noise.
	for i := len(s.days) - 1; i >= 0; i-- {
		if e, ok := hm.measureOf(&s.days[i]); ok {
			pv.Latest = format(e.V)
			pv.Wide = e.CI && (e.halfWidth() > math.Abs(e.V)/2 || e.V == 0)
			break
		}
	}
	return pv
}
