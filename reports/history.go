package reports

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"slices"
	"sort"
	"strings"
	"time"
)

// History is a job's releases across periods, read back from the published
// report.json files only: the input of the job index (OUT/<job>/index.html)
// and of OUT/<job>/history.csv. Building it reads no data and spends no
// budget: every number in it is a released value or post-processing of
// released values (see history_math.go).
type History struct {
	Job string
	// Periods is the timeline, oldest first. For a daily job, days between
	// the first and the last release that have no report are in it as gaps
	// (Report nil): withheld, failed or not run. Gaps are never zeros.
	Periods []HistoryPeriod
	// Problems lists what could not be read (a damaged report.json, say);
	// the index shows them, and the rest of the history is still built.
	Problems []string

	metrics []*historyMetric
}

// HistoryPeriod is one period of the timeline.
type HistoryPeriod struct {
	Name       string
	Start, End time.Time
	// Report is the published report, or nil for a gap.
	Report *Report
	// Files are the period directory's files an analyst downloads
	// (report.json, CSVs, index.html), by name.
	Files []string
	// Problem says why a period directory that exists gives no report.
	Problem string
}

// Measures charted and compared.
const (
	measureShare = "share" // count and users metrics whose reports carry shares
	measureValue = "value" // everything else
)

type historyMetric struct {
	def     Metric // the newest definition; its Partitions are not used
	measure string
	floor   float64 // the range the measured quantity can take
	ceil    float64
	series  []*historySeries
	notes   []string
}

type historySeries struct {
	partition string
	rank      float64
	quantile  bool
	days      []seriesDay // aligned with History.Periods
}

// seriesDay is one period of one series.
type seriesDay struct {
	released bool
	value    estimate  // the released value, or the quantile at the rank
	share    *estimate // nil without a share
	clamped  bool
	epsilon  float64 // ε of the metric in that period

	rollDays  int // released days in the trailing 7-day window
	rolling   estimate
	rollShare *estimate

	prev, week     int // index of the period one before and 7 days before; -1 if none
	prevCh, weekCh change
	prevOK, weekOK bool // both ends released
}

// rollingWindow is the length of the rolling average's trailing window.
const rollingWindow = 7 * 24 * time.Hour

// measure returns the estimate the series is charted and compared by.
func (m *historyMetric) measureOf(d *seriesDay) (estimate, bool) {
	if !d.released {
		return estimate{}, false
	}
	if m.measure == measureShare {
		if d.share == nil {
			return estimate{}, false
		}
		return *d.share, true
	}
	return d.value, true
}

func (m *historyMetric) rollingOf(d *seriesDay) (estimate, bool) {
	if !d.released || d.rollDays == 0 {
		return estimate{}, false
	}
	if m.measure == measureShare {
		if d.rollShare == nil {
			return estimate{}, false
		}
		return *d.rollShare, true
	}
	return d.rolling, true
}

// LoadHistory reads every published report of job from fsys, which is the
// job's directory OUT/<job>: each period directory's report.json, and the
// names of the files beside it. It opens no other file. A report.json that
// cannot be read is listed in History.Problems, not fatal. It fails only if
// the directory cannot be listed, or holds no readable report (ErrNoReports).
func LoadHistory(fsys fs.FS, job string) (*History, error) {
	if err := checkName("job", job); err != nil {
		return nil, fmt.Errorf("LoadHistory: %w", err)
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("LoadHistory: list job directory: %w", err)
	}
	h := &History{Job: job}
	var found []HistoryPeriod
	problems := map[string]string{} // period name → problem
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || strings.HasPrefix(name, ".") {
			continue // latest.json, index.html, temporary directories
		}
		p, err := loadPeriod(fsys, job, name)
		if err != nil {
			problems[name] = err.Error()
			h.Problems = append(h.Problems, fmt.Sprintf("period %s: %v", name, err))
			continue
		}
		found = append(found, p)
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("LoadHistory: %w for job %s", ErrNoReports, job)
	}
	h.Periods = timeline(found, problems)
	h.build()
	return h, nil
}

// ErrNoReports means a job directory holds no readable published report.
var ErrNoReports = errors.New("no published report")

func loadPeriod(fsys fs.FS, job, name string) (HistoryPeriod, error) {
	f, err := fsys.Open(path.Join(name, "report.json"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return HistoryPeriod{}, errors.New("no report.json in the directory")
		}
		return HistoryPeriod{}, err
	}
	r, err := ReadJSON(f)
	f.Close()
	if err != nil {
		return HistoryPeriod{}, fmt.Errorf("report.json: %w", err)
	}
	if r.Job != job || r.Period != name {
		return HistoryPeriod{}, fmt.Errorf("report.json is for job %s, period %s: not this directory's", clean(r.Job), clean(r.Period))
	}
	p := HistoryPeriod{Name: name, Start: r.PeriodStart, End: r.PeriodEnd, Report: r}
	if files, err := fs.ReadDir(fsys, name); err == nil {
		for _, fe := range files {
			n := fe.Name()
			if fe.Type().IsRegular() && !strings.HasPrefix(n, ".") && downloadable(n) {
				p.Files = append(p.Files, n)
			}
		}
	}
	return p, nil
}

func downloadable(name string) bool {
	for _, ext := range []string{".json", ".csv", ".html"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// isDaily reports whether every period is one whole UTC day.
func isDaily(ps []HistoryPeriod) bool {
	for _, p := range ps {
		if !p.Start.Equal(p.Start.Truncate(24*time.Hour)) || p.End.Sub(p.Start) != 24*time.Hour {
			return false
		}
	}
	return true
}

// timeline sorts the released periods and, for a daily job, fills the days
// between them that have no report as gaps.
func timeline(found []HistoryPeriod, problems map[string]string) []HistoryPeriod {
	slices.SortFunc(found, func(a, b HistoryPeriod) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		if c := a.End.Compare(b.End); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	if !isDaily(found) {
		return found
	}
	var out []HistoryPeriod
	for i, p := range found {
		if i > 0 {
			for d := out[len(out)-1].End; d.Before(p.Start); d = d.AddDate(0, 0, 1) {
				name := d.Format(time.DateOnly)
				out = append(out, HistoryPeriod{Name: name, Start: d, End: d.AddDate(0, 0, 1), Problem: problems[name]})
			}
			if p.Start.Before(out[len(out)-1].End) {
				continue // two reports of one day under different names: keep the first
			}
		}
		out = append(out, p)
	}
	return out
}

// defKey is what must stay the same for a metric's values of two periods to
// be comparable.
func defKey(m *Metric) string {
	return strings.Join([]string{m.Kind, m.Dimension, m.Unit, formatSig(m.ConfidenceLevel, 6), formatSig(m.Lower, 6), formatSig(m.Upper, 6)}, "\x00")
}

func hasShares(m *Metric) bool {
	for _, p := range m.Partitions {
		if p.Share != nil {
			return true
		}
	}
	return false
}

// build assembles the series of every metric and computes the rolling
// averages and the changes.
func (h *History) build() {
	// Metrics in the order of the newest report, then older ones' extras.
	byName := map[string]*historyMetric{}
	for i := len(h.Periods) - 1; i >= 0; i-- {
		r := h.Periods[i].Report
		if r == nil {
			continue
		}
		for j := range r.Metrics {
			m := &r.Metrics[j]
			if byName[m.Name] != nil {
				continue
			}
			hm := &historyMetric{def: *m, measure: measureValue, floor: math.Inf(-1), ceil: math.Inf(1)}
			hm.def.Partitions = nil
			if hasShares(m) {
				hm.measure = measureShare
			}
			switch {
			case hm.measure == measureShare:
				hm.floor, hm.ceil = 0, 1
			case m.Kind == KindCount || m.Kind == KindUsers:
				hm.floor = 0
			case m.Kind == KindMean || m.Kind == KindQuantiles:
				hm.floor, hm.ceil = m.Lower, m.Upper
			case m.Kind == KindSum && m.Lower >= 0:
				hm.floor = 0
			}
			byName[m.Name] = hm
			h.metrics = append(h.metrics, hm)
			h.fill(hm, i)
		}
	}
	for _, hm := range h.metrics {
		for _, s := range hm.series {
			h.derive(hm, s)
		}
	}
}

// fill collects the metric's series over every period; newest is the index
// of the period whose definition the metric follows.
func (h *History) fill(hm *historyMetric, newest int) {
	key := defKey(&hm.def)
	type sKey struct {
		part string
		rank float64
	}
	index := map[sKey]*historySeries{}
	var changed []string
	get := func(k sKey, quantile bool) *historySeries {
		if s := index[k]; s != nil {
			return s
		}
		s := &historySeries{partition: k.part, rank: k.rank, quantile: quantile, days: make([]seriesDay, len(h.Periods))}
		index[k] = s
		hm.series = append(hm.series, s)
		return s
	}
	// Newest first, so that series come in the newest report's order.
	for i := newest; i >= 0; i-- {
		r := h.Periods[i].Report
		if r == nil {
			continue
		}
		var m *Metric
		for j := range r.Metrics {
			if r.Metrics[j].Name == hm.def.Name {
				m = &r.Metrics[j]
			}
		}
		if m == nil {
			continue
		}
		if defKey(m) != key {
			changed = append(changed, h.Periods[i].Name)
			continue
		}
		for _, p := range m.Partitions {
			if hm.def.Kind == KindQuantiles {
				for _, q := range p.Quantiles {
					d := &get(sKey{p.Name, q.Rank}, true).days[i]
					d.released, d.epsilon = true, m.Epsilon
					d.value = estimate{V: q.Value}
					if q.Lower != nil && q.Upper != nil {
						d.value.Lo, d.value.Hi, d.value.CI = *q.Lower, *q.Upper, true
					}
				}
				continue
			}
			d := &get(sKey{p.Name, 0}, false).days[i]
			d.released, d.epsilon, d.clamped = true, m.Epsilon, p.Clamped
			d.value = estimate{V: p.Value, Lo: p.Lower, Hi: p.Upper, CI: true}
			if p.Share != nil {
				s := estimate{V: *p.Share, Lo: *p.Share, Hi: *p.Share}
				if p.ShareLower != nil && p.ShareUpper != nil {
					s.Lo, s.Hi, s.CI = *p.ShareLower, *p.ShareUpper, true
				}
				d.share = &s
			}
		}
	}
	if hm.def.Kind == KindQuantiles {
		// Partitions in report order, ranks ascending within each.
		order := map[string]int{}
		for _, s := range hm.series {
			if _, ok := order[s.partition]; !ok {
				order[s.partition] = len(order)
			}
		}
		sort.SliceStable(hm.series, func(a, b int) bool {
			sa, sb := hm.series[a], hm.series[b]
			if order[sa.partition] != order[sb.partition] {
				return order[sa.partition] < order[sb.partition]
			}
			return sa.rank < sb.rank
		})
	} else if displayOf(&hm.def) == DisplayShare {
		// Categorical partitions by their newest value, largest first.
		latest := func(s *historySeries) float64 {
			for i := len(s.days) - 1; i >= 0; i-- {
				if e, ok := hm.measureOf(&s.days[i]); ok {
					return e.V
				}
			}
			return math.Inf(-1)
		}
		sort.SliceStable(hm.series, func(a, b int) bool { return latest(hm.series[a]) > latest(hm.series[b]) })
	}
	if len(changed) > 0 {
		slices.Reverse(changed)
		hm.notes = append(hm.notes, fmt.Sprintf("This statistic was defined differently (kind, dimension, unit, bounds or confidence level) in %s; "+
			"those periods are not compared with the others here: read their own reports.", strings.Join(changed, ", ")))
	}
}

// derive computes the rolling averages and the changes of one series.
func (h *History) derive(hm *historyMetric, s *historySeries) {
	for i := range s.days {
		d := &s.days[i]
		d.prev, d.week = -1, -1
		p := h.Periods[i]
		for j := i - 1; j >= 0; j-- {
			q := h.Periods[j]
			if d.prev < 0 && q.End.Equal(p.Start) {
				d.prev = j
			}
			if d.week < 0 && q.Start.Equal(p.Start.Add(-rollingWindow)) {
				d.week = j
			}
		}
		if !d.released {
			continue
		}
		var vals, shares []estimate
		for j := i; j >= 0 && h.Periods[j].Start.After(p.Start.Add(-rollingWindow)); j-- {
			e := &s.days[j]
			if !e.released {
				continue
			}
			vals = append(vals, e.value)
			if e.share != nil {
				shares = append(shares, *e.share)
			}
		}
		d.rollDays = len(vals)
		valFloor, valCeil := hm.floor, hm.ceil
		if hm.measure == measureShare {
			valFloor, valCeil = 0, math.Inf(1) // the counts behind the shares
		}
		d.rolling, _ = average(vals, valFloor, valCeil)
		if len(shares) == len(vals) && len(shares) > 0 {
			rs, _ := average(shares, 0, 1)
			d.rollShare = &rs
		}
		cur, ok := hm.measureOf(d)
		if !ok {
			continue
		}
		if d.prev >= 0 {
			if before, ok := hm.measureOf(&s.days[d.prev]); ok {
				d.prevCh, d.prevOK = compare(before, cur), true
			}
		}
		if d.week >= 0 {
			if before, ok := hm.measureOf(&s.days[d.week]); ok {
				d.weekCh, d.weekOK = compare(before, cur), true
			}
		}
	}
}

// latestReport is the index of the newest period with a report.
func (h *History) latestReport() int {
	for i := len(h.Periods) - 1; i >= 0; i-- {
		if h.Periods[i].Report != nil {
			return i
		}
	}
	return -1
}

// Released is the number of periods with a published report.
func (h *History) Released() int {
	n := 0
	for _, p := range h.Periods {
		if p.Report != nil {
			n++
		}
	}
	return n
}
