package reports

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

//go:embed templates/index.html.tmpl templates/style.css
var templateFS embed.FS

// pageView is everything index.html.tmpl shows, formatted for people.
type pageView struct {
	R                     *Report
	CSS                   template.CSS
	Period                string
	Generated             string
	Eps, Delta            string
	LedgerEps, LedgerCap  string
	LedgerDelta, DeltaCap string
	LedgerPct             float64 // ε spent / cap, for the meter
	LedgerOver            bool
	Metrics               []metricView
	Collected             []statView
	AnyClamped, AnyWide   bool
	AnyCapsCut            bool
	AnyQuantiles          bool
	ChartCount            int
	Level                 string // confidence level shared by all metrics, "" if they differ
}

type metricView struct {
	M                   *Metric
	Anchor              string
	KindLabel           string
	Eps, Delta, Level   string
	Influence           string
	Chart               *chartView
	Head                []string
	Rows                [][]cellView
	Notes               []string
	HasClamped, HasWide bool
	CapsCut             string // what the per-user caps cut, in words; "" if not released
}

type cellView struct {
	Text  string
	Class string
}

type statView struct {
	S                  *Statistic
	Columns, Bounds    string
	EpsShare, KindText string
}

var kindLabels = map[string]string{
	KindCount:     "count of events",
	KindUsers:     "count of users",
	KindSum:       "sum",
	KindMean:      "mean",
	KindQuantiles: "quantiles",
}

// WriteHTML writes index.html: one self-contained page (inline CSS and SVG,
// no script, no network) with a privacy summary, a chart and a table per
// metric, a plain-language "How private is this" section and the full "What
// we collect" list. Every string from the report goes through html/template
// escaping. It validates r first and writes nothing if r is invalid.
func WriteHTML(w io.Writer, r *Report) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("WriteHTML: %w", err)
	}
	t, err := parseTemplate()
	if err != nil {
		return fmt.Errorf("WriteHTML: %w", err)
	}
	css, err := templateFS.ReadFile("templates/style.css")
	if err != nil {
		return fmt.Errorf("WriteHTML: %w", err)
	}
	v := buildPage(sanitized(r))
	v.CSS = template.CSS(css) // static, from the binary
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "index.html.tmpl", v); err != nil {
		return fmt.Errorf("WriteHTML: render: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("WriteHTML: write: %w", err)
	}
	return nil
}

func parseTemplate() (*template.Template, error) {
	return template.New("index.html.tmpl").Funcs(template.FuncMap{
		"join": strings.Join,
	}).ParseFS(templateFS, "templates/index.html.tmpl")
}

func buildPage(r *Report) *pageView {
	v := &pageView{
		R:           r,
		Period:      fmtPeriod(r.PeriodStart, r.PeriodEnd),
		Generated:   r.GeneratedAt.UTC().Format("2 Jan 2006 15:04 UTC"),
		Eps:         fmtEps(r.Epsilon),
		Delta:       fmtDelta(r.Delta),
		LedgerEps:   fmtEps(r.Ledger.EpsilonSpent),
		LedgerCap:   fmtEps(r.Ledger.EpsilonCap),
		LedgerDelta: fmtDelta(r.Ledger.DeltaSpent),
		DeltaCap:    fmtDelta(r.Ledger.DeltaCap),
		LedgerPct:   math.Min(r.Ledger.EpsilonSpent/r.Ledger.EpsilonCap, 1),
		LedgerOver:  r.Ledger.EpsilonSpent > r.Ledger.EpsilonCap,
	}
	for i := range r.Metrics {
		mv := buildMetric(&r.Metrics[i])
		if i == 0 {
			v.Level = mv.Level
		} else if v.Level != mv.Level {
			v.Level = ""
		}
		v.AnyClamped = v.AnyClamped || mv.HasClamped
		v.AnyWide = v.AnyWide || mv.HasWide
		v.AnyCapsCut = v.AnyCapsCut || mv.CapsCut != ""
		v.AnyQuantiles = v.AnyQuantiles || r.Metrics[i].Kind == KindQuantiles
		if mv.Chart != nil {
			v.ChartCount++
		}
		v.Metrics = append(v.Metrics, mv)
	}
	for i := range r.Collected {
		s := &r.Collected[i]
		v.Collected = append(v.Collected, statView{
			S:        s,
			Columns:  strings.Join(s.Columns, ", "),
			Bounds:   influence(s.Kind, "", s.Bounds, true),
			EpsShare: fmtPct(s.EpsilonShare),
			KindText: kindLabels[s.Kind],
		})
	}
	return v
}

// nonNegative reports whether the metric's true values cannot be negative,
// so a negative noisy value is shown as 0.
func nonNegative(m *Metric) bool {
	switch m.Kind {
	case KindCount, KindUsers:
		return true
	}
	return m.Lower >= 0
}

func buildMetric(m *Metric) metricView {
	mv := metricView{
		M:         m,
		Anchor:    "m-" + m.Name,
		KindLabel: kindLabels[m.Kind],
		Eps:       fmtEps(m.Epsilon),
		Delta:     fmtDelta(m.Delta),
		Level:     formatSig(m.ConfidenceLevel*100, 3),
		Influence: influence(m.Kind, m.Unit, Bounds{m.MaxPartitions, m.MaxPerPartition, m.Lower, m.Upper}, false),
	}
	if c := m.CapsCut; c != nil {
		mv.CapsCut = fmt.Sprintf("%s (%s – %s) of the about %s users who contributed gave more than the per-user caps let through (about %s users, %s – %s); the rest of their contributions is not counted.",
			fmtPct(c.Share), fmtPct(c.ShareLower), fmtPct(c.ShareUpper), fmtInt(c.Contributing), fmtInt(c.Users), fmtInt(math.Max(0, c.UsersLower)), fmtInt(c.UsersUpper))
	}
	unit := ""
	if m.Unit != "" {
		unit = thinSpace + m.Unit
	}
	isCount := m.Kind == KindCount || m.Kind == KindUsers
	value := func(f float64) string {
		if isCount {
			return fmtInt(f)
		}
		return fmtNum(f) + unit
	}
	floor := math.Inf(-1)
	if nonNegative(m) {
		floor = 0
	}

	// Table.
	hasShare := false
	for _, p := range m.Partitions {
		hasShare = hasShare || p.Share != nil
	}
	ranks := quantileRanks(m)
	mv.Head = []string{m.Dimension}
	if m.Kind == KindQuantiles {
		for _, rk := range ranks {
			mv.Head = append(mv.Head, rankLabel(rk))
		}
	} else {
		mv.Head = append(mv.Head, "estimate", mv.Level+thinSpace+"% interval")
		if hasShare {
			mv.Head = append(mv.Head, "share", "share interval")
		}
	}
	var pts []point
	// Quantiles without an interval, by partition, for one note each.
	type missing struct{ name, ranks, reason string }
	var noInterval []missing
	for _, p := range m.Partitions {
		clamped := p.Clamped || p.Value < floor
		shown := math.Max(p.Value, floor)
		lo, hi := math.Max(p.Lower, floor), math.Max(p.Upper, floor)
		wide := (hi-lo)/2 > math.Abs(shown)/2 || shown == 0
		row := []cellView{{Text: p.Name, Class: "name"}}
		if m.Kind == KindQuantiles {
			for _, rk := range ranks {
				q, ok := quantileAt(p, rk)
				if !ok {
					row = append(row, cellView{Text: "–", Class: "num"})
					continue
				}
				t := value(q.Value)
				if q.Lower != nil && q.Upper != nil {
					t += " (" + value(*q.Lower) + " – " + value(*q.Upper) + ")"
				} else if q.NoIntervalReason != "" {
					t += " (no interval)"
					if n := len(noInterval); n > 0 && noInterval[n-1].name == p.Name && noInterval[n-1].reason == q.NoIntervalReason {
						noInterval[n-1].ranks += ", " + rankLabel(rk)
					} else {
						noInterval = append(noInterval, missing{p.Name, rankLabel(rk), q.NoIntervalReason})
					}
				}
				row = append(row, cellView{Text: t, Class: "num"})
			}
			mv.Rows = append(mv.Rows, row)
			continue
		}
		est := cellView{Text: value(shown), Class: "num"}
		if clamped {
			est.Text += " *"
			est.Class += " clamped"
			mv.HasClamped = true
		}
		iv := cellView{Text: value(lo) + " – " + value(hi), Class: "num ci"}
		row = append(row, est, iv)
		pt := point{label: p.Name, v: math.Max(shown, 0), lo: math.Max(lo, 0), hi: math.Max(hi, 0), text: value(shown), clamped: clamped}
		if hasShare {
			if p.Share != nil {
				s := *p.Share
				sl, su := s, s
				if p.ShareLower != nil {
					sl = *p.ShareLower
				}
				if p.ShareUpper != nil {
					su = *p.ShareUpper
				}
				row = append(row, cellView{Text: fmtPct(s), Class: "num share"}, cellView{Text: fmtPct(sl) + " – " + fmtPct(su), Class: "num ci"})
				pt = point{label: p.Name, v: s, lo: sl, hi: su, text: fmtPct(s), clamped: clamped}
				wide = (su-sl)/2 > s/2 || s == 0
			} else {
				row = append(row, cellView{Text: "–", Class: "num"}, cellView{Text: "–", Class: "num"})
			}
		}
		if wide {
			row[0].Class += " wide"
			mv.HasWide = true
		}
		pt.wide = wide
		mv.Rows = append(mv.Rows, row)
		pts = append(pts, pt)
	}

	// Chart.
	if m.Kind != KindQuantiles && len(pts) > 0 {
		tick := func(f float64) string { return fmtNum(f) }
		if hasShare {
			tick = func(f float64) string {
				return strings.TrimSuffix(strings.TrimSuffix(fmtPctTick(f), "%"), thinSpace) + thinSpace + "%"
			}
		}
		label := m.Title + ": chart of " + m.Dimension + " with " + mv.Level + " % intervals"
		switch displayOf(m) {
		case DisplayShare:
			mv.Chart = shareChart(label, pts, tick)
		case DisplayHistogram:
			mv.Chart = histogram(label, pts, tick)
		}
	}

	if mv.HasClamped {
		mv.Notes = append(mv.Notes, "* Noise pushed this estimate below zero, which a true "+
			map[bool]string{true: "count", false: "value"}[isCount]+" cannot be; it is shown as 0 (report.json keeps the released value).")
	}
	if mv.HasWide {
		mv.Notes = append(mv.Notes, "Lighter bars and grey names: the interval is wider than the estimate itself. Read these as “small”, not as precise figures.")
	}
	for _, n := range noInterval {
		mv.Notes = append(mv.Notes, fmt.Sprintf("No interval for %s (%s): %s.", n.name, n.ranks, n.reason))
	}
	return mv
}

// fmtPctTick formats an axis tick share without needless decimals.
func fmtPctTick(f float64) string { return formatSig(f*100, 3) + "%" }

// influence says in plain words what one user can change in a statistic.
func influence(kind, unit string, b Bounds, short bool) string {
	per, values, events := "partition", "values", "events"
	if b.MaxPartitions != 1 {
		per = "partitions"
	}
	if b.MaxPerPartition == 1 {
		values, events = "value", "event"
	}
	u := ""
	if unit != "" {
		u = " " + unit
	}
	switch kind {
	case KindCount:
		if short {
			return fmt.Sprintf("≤ %d %s per user, ≤ %d %s each", b.MaxPartitions, per, b.MaxPerPartition, events)
		}
		return fmt.Sprintf("One user adds at most %d to each of at most %d %s: at most %d in total.",
			b.MaxPerPartition, b.MaxPartitions, per, b.MaxPartitions*b.MaxPerPartition)
	case KindUsers:
		if short {
			return fmt.Sprintf("≤ %d %s per user, counted once each", b.MaxPartitions, per)
		}
		return fmt.Sprintf("One user is counted at most once in each of at most %d %s.", b.MaxPartitions, per)
	case KindSum, KindMean, KindQuantiles:
		if short {
			return fmt.Sprintf("≤ %d %s per user, ≤ %d %s each, values in [%s, %s]%s", b.MaxPartitions, per, b.MaxPerPartition, values, fmtNum(b.Lower), fmtNum(b.Upper), u)
		}
		return fmt.Sprintf("One user contributes to at most %d %s, at most %d %s to each, every value clamped to [%s, %s]%s.",
			b.MaxPartitions, per, b.MaxPerPartition, values, fmtNum(b.Lower), fmtNum(b.Upper), u)
	}
	return fmt.Sprintf("≤ %d %s per user, ≤ %d each", b.MaxPartitions, per, b.MaxPerPartition)
}
