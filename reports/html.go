package reports

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
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
	AllTimeEps            string // ε of every release in the ledger, all time
	AllTimeDelta          string
	AllTimeUnknown        int // torn ledger records of unknown size, not in AllTimeEps
	Metrics               []metricView
	Collected             []statView
	AnyClamped, AnyNoisy  bool
	AnyNoInterval         bool
	Title                 string // the human title: the spec's, else the job name
	TidyCSV, SchemaFile   string
	AnyCapsCut            bool
	AnyQuantiles          bool
	ChartCount            int
	Level                 string // confidence level shared by all metrics, "" if they differ
	Population            []populationView
	MinUsers              string // the quality gate's threshold, "" if none
	AnyUserShares         bool   // a users metric shows shares of its category's users

	// Zero-concentrated accounting (zcdp.go): ZCDP when this report is
	// accounted in ρ, WindowZCDP when the ledger's window holds a zCDP
	// release (then the window is accounted in ρ even for a pure report).
	ZCDP, WindowZCDP              bool
	Rho, RhoDelta                 string
	LedgerRho, RhoCap, AllTimeRho string
}

type metricView struct {
	M                    *Metric
	Anchor               string
	KindLabel            string
	Eps, Delta, Level    string
	Influence            string
	Chart                *chartView
	Head                 []cellView
	Rows                 [][]cellView
	Notes                []string
	HasClamped, HasNoisy bool
	NoInterval           bool   // some number of the metric has no interval
	CSV                  string // the metric's CSV file, relative to index.html
	OtherNote            string // what "other" means here; "" without an "other" partition
	CapsCut              string // what the per-user caps cut, when the report estimates it
	HasShare             bool
	Rho, RhoDelta        string // under zCDP: the metric's ρ and selection δ
}

type cellView struct {
	Text  string
	Sub   string // a second, smaller line: an interval, "no interval", a readable bucket label
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
		return fmt.Errorf("index.html: %w", err)
	}
	t, err := parseTemplate()
	if err != nil {
		return fmt.Errorf("index.html: %w", err)
	}
	css, err := templateFS.ReadFile("templates/style.css")
	if err != nil {
		return fmt.Errorf("index.html: %w", err)
	}
	v := buildPage(sanitized(r))
	v.CSS = template.CSS(css) // static, from the binary
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "index.html.tmpl", v); err != nil {
		return fmt.Errorf("index.html: render: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("index.html: write: %w", err)
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

		AllTimeEps:     fmtEps(r.Ledger.EpsilonAllTime),
		AllTimeDelta:   fmtDelta(r.Ledger.DeltaAllTime),
		AllTimeUnknown: r.Ledger.UnknownAllTime,
		Title:          r.Title,
		TidyCSV:        TidyCSVName,
		SchemaFile:     SchemaFile,
	}
	if v.Title == "" {
		v.Title = r.Job
	}
	buildPopulation(v, r)
	buildZCDP(v, r)
	for i := range r.Metrics {
		mv := buildMetric(&r.Metrics[i])
		if i == 0 {
			v.Level = mv.Level
		} else if v.Level != mv.Level {
			v.Level = ""
		}
		v.AnyClamped = v.AnyClamped || mv.HasClamped
		v.AnyNoisy = v.AnyNoisy || mv.HasNoisy
		v.AnyNoInterval = v.AnyNoInterval || mv.NoInterval
		v.AnyUserShares = v.AnyUserShares || (mv.M.Kind == KindUsers && mv.HasShare)
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
		CSV:       m.Name + ".csv",
		OtherNote: otherNote(m),
		CapsCut:   capsCutText(m),
	}
	if m.ZCDP != nil {
		mv.Rho, mv.RhoDelta = fmtRho(m.ZCDP.Rho), fmtDelta(m.ZCDP.Delta)
	}
	value := valueFormatter(m)
	span := func(lo, hi float64, f func(float64) string) string { return f(lo) + " – " + f(hi) }
	noteSet := map[string]bool{}
	var noIntervalNotes []string
	noInterval := func(note string) {
		mv.NoInterval = true
		if !noteSet[note] {
			noteSet[note] = true
			noIntervalNotes = append(noIntervalNotes, note)
		}
	}

	hasShare := false
	for _, p := range m.Partitions {
		hasShare = hasShare || p.Share != nil
	}
	parts := m.Partitions
	if displayOf(m) == DisplayShare {
		parts = valueOrder(parts)
	}

	// Table: one row per partition; a last "reading" column says why a row
	// is grey or why a number has no interval.
	ranks := quantileRanks(m)
	head := func(t string) cellView { return cellView{Text: t, Class: "num"} }
	mv.Head = []cellView{{Text: m.Dimension}}
	if m.Kind == KindQuantiles {
		for _, rk := range ranks {
			mv.Head = append(mv.Head, head(rankTitle(rk)))
		}
	} else {
		mv.Head = append(mv.Head, head("estimate"), head(mv.Level+thinSpace+"% interval"))
		switch {
		case hasShare && m.Kind == KindUsers:
			mv.Head[1] = head("users")
			mv.Head = append(mv.Head, head("share of users"), head("share interval"))
		case hasShare:
			mv.Head = append(mv.Head, head("share"), head("share interval"))
		}
	}
	var pts []point
	anyReading := false
	for _, p := range parts {
		reason := noiseReason(m, p)
		noisy := reason != ""
		name := cellView{Text: p.Name, Class: "name"}
		if bl, ok := bucketLabel(p, m.BucketUnit); ok {
			if _, dur := secondsPer(m.BucketUnit); dur {
				name.Sub = bl
			}
		}
		if noisy {
			name.Class += " noisy"
			mv.HasNoisy = true
		}
		row := []cellView{name}
		var reading []string
		if noisy {
			reading = append(reading, "mostly noise: "+reason)
		}
		if m.Kind == KindQuantiles {
			for _, rk := range ranks {
				q, ok := quantileAt(p, rk)
				if !ok {
					row = append(row, cellView{Text: "–", Class: "num"})
					continue
				}
				x := quantileInterval(p, q)
				c := cellView{Text: value(q.Value), Class: "num"}
				if x.ok {
					c.Sub = span(x.lo, x.hi, value)
				} else {
					c.Sub = "no interval"
					c.Class += " no-ci"
					noInterval(p.Name + ": " + x.note)
				}
				if quantileNoiseReason(m, p, q) != "" {
					c.Class += " noisy"
				}
				row = append(row, c)
			}
		} else {
			x := shownInterval(m, p)
			clamped := p.Clamped || x.v != p.Value
			est := cellView{Text: value(x.v), Class: "num"}
			if clamped {
				est.Text += " *"
				est.Class += " clamped"
				mv.HasClamped = true
			}
			iv := cellView{Text: span(x.lo, x.hi, value), Class: "num ci"}
			if !x.ok {
				iv = cellView{Text: "no interval", Class: "num ci no-ci"}
				noInterval(x.note)
				reading = append(reading, "no interval: "+x.note)
			}
			row = append(row, est, iv)
			pt := point{label: p.Name, full: p.Name, v: math.Max(x.v, 0), lo: math.Max(x.lo, 0), hi: math.Max(x.hi, 0), text: value(x.v), clamped: clamped}
			if !x.ok {
				pt.lo, pt.hi = pt.v, pt.v
			}
			if hasShare {
				if s, ok := shareInterval(p); ok {
					row = append(row, cellView{Text: fmtPct(s.v), Class: "num share"}, cellView{Text: span(s.lo, s.hi, fmtPct), Class: "num ci"})
					if m.Kind != KindUsers {
						// A users metric charts its counts (users per partition):
						// its shares are of its category's users and overlap.
						pt.v, pt.lo, pt.hi, pt.text = s.v, s.lo, s.hi, fmtPct(s.v)
					}
				} else {
					row = append(row, cellView{Text: "–", Class: "num"}, cellView{Text: "–", Class: "num"})
				}
			}
			if bl, ok := bucketLabel(p, m.BucketUnit); ok {
				pt.label = bl
			}
			pt.wide = noisy
			pts = append(pts, pt)
		}
		if len(reading) > 0 {
			anyReading = true
		}
		row = append(row, cellView{Text: strings.Join(reading, "; "), Class: "note"})
		mv.Rows = append(mv.Rows, row)
	}
	if anyReading {
		mv.Head = append(mv.Head, cellView{Text: "note"})
	} else {
		for i := range mv.Rows {
			mv.Rows[i] = mv.Rows[i][:len(mv.Rows[i])-1]
		}
	}

	// Chart.
	if m.Kind != KindQuantiles && len(pts) > 0 {
		tick := func(f float64) string { return fmtNum(f) }
		if hasShare && m.Kind != KindUsers {
			tick = func(f float64) string {
				return strings.TrimSuffix(strings.TrimSuffix(fmtPctTick(f), "%"), thinSpace) + thinSpace + "%"
			}
		}
		label := m.Title + ": chart of " + m.Dimension + " with " + mv.Level + " % intervals"
		switch displayOf(m) {
		case DisplayShare:
			mv.Chart = shareChart(label, pts, tick)
		case DisplayHistogram:
			mv.Chart = histogram(label, pts, tick, histogramCaption(m, hasShare))
		}
	}

	mv.HasShare = hasShare
	if hasShare && m.Kind == KindUsers {
		mv.Notes = append(mv.Notes, fmt.Sprintf("Users per %s: one user counts once in each of up to %d %s, so the counts add up to more than the users, "+
			"and the shares do not add up to 100"+thinSpace+"%%. Each share is of the users counted for consent category %s (see “Users counted”).",
			m.Dimension, m.MaxPartitions, map[bool]string{true: "partition", false: "partitions"}[m.MaxPartitions == 1], m.ConsentCategory))
	}
	if mv.HasClamped {
		mv.Notes = append(mv.Notes, "* Noise pushed this estimate below zero, which a true "+
			map[bool]string{true: "count", false: "value"}[m.Kind == KindCount || m.Kind == KindUsers]+" cannot be; it is shown as 0 (report.json keeps the released value).")
	}
	if mv.HasNoisy {
		mv.Notes = append(mv.Notes, "Grey names and lighter bars: mostly noise, by the rule under “Reading the numbers”; the note says why. Read these as “small” or “unknown”, not as precise figures.")
	}
	for _, n := range noIntervalNotes {
		mv.Notes = append(mv.Notes, "No interval: "+n+".")
	}
	return mv
}

// valueOrder returns the partitions by decreasing share (or value), with
// "other" last: the order a bar chart of categories is read in.
func valueOrder(ps []Partition) []Partition {
	out := append([]Partition(nil), ps...)
	key := func(p Partition) float64 {
		if p.Share != nil {
			return *p.Share
		}
		return p.Value
	}
	sort.SliceStable(out, func(i, j int) bool {
		oi, oj := out[i].Name == OtherPartition, out[j].Name == OtherPartition
		if oi != oj {
			return oj
		}
		return key(out[i]) > key(out[j])
	})
	return out
}

// OtherPartition is the partition of values outside a metric's public list.
const OtherPartition = "other"

// otherNote says what "other" means in m, when m has such a partition.
func otherNote(m *Metric) string {
	has, buckets := false, false
	for _, p := range m.Partitions {
		has = has || p.Name == OtherPartition
		buckets = buckets || p.BucketLower != nil
	}
	if !has {
		return ""
	}
	absent := " Events without a " + m.Dimension + " value are not part of this statistic at all: they are neither in “other” nor in any share."
	if buckets {
		return "“other” holds " + m.Dimension + " values that fall in no bucket: every number falls in one (values below the first edge count in the first), so only values that are not numbers are left." + absent
	}
	return "“other” means a " + m.Dimension + " value that is not in the public list of partitions." + absent
}

// histogramCaption is the text under a histogram: the unit of its buckets
// and, when the buckets differ in width, how they are drawn.
func histogramCaption(m *Metric, share bool) []string {
	var widths []float64
	open := false
	for _, p := range m.Partitions {
		switch {
		case p.BucketLower == nil:
		case p.BucketUpper == nil:
			open = true
		default:
			widths = append(widths, *p.BucketUpper-*p.BucketLower)
		}
	}
	if len(widths) == 0 && !open {
		return nil
	}
	var lines []string
	unit := m.BucketUnit
	if _, dur := secondsPer(unit); !dur && unit != "" {
		lines = append(lines, m.Dimension+" in "+unit+".")
	}
	unequal := open
	for _, w := range widths {
		unequal = unequal || w != widths[0]
	}
	if unequal {
		what := "number of events"
		if share {
			what = "share"
		}
		if m.Kind == KindUsers {
			what = strings.Replace(what, "events", "users", 1)
		}
		lines = append(lines, "Buckets differ in width but are drawn equally wide: a bar’s height is the "+what+" in its bucket, not a density.")
	}
	return lines
}

// rankTitle names a quantile rank for a table header.
func rankTitle(rank float64) string {
	if rank == 0.5 {
		return "median (p50)"
	}
	return rankLabel(rank)
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
	bound := func(v float64) string { return fmtBound(v, unit) }
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
			return fmt.Sprintf("≤ %d %s per user, ≤ %d %s each, values in [%s, %s]", b.MaxPartitions, per, b.MaxPerPartition, values, bound(b.Lower), bound(b.Upper))
		}
		return fmt.Sprintf("One user contributes to at most %d %s, at most %d %s to each, every value clamped to [%s, %s].",
			b.MaxPartitions, per, b.MaxPerPartition, values, bound(b.Lower), bound(b.Upper))
	}
	return fmt.Sprintf("≤ %d %s per user, ≤ %d each", b.MaxPartitions, per, b.MaxPerPartition)
}
