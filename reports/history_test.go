package reports

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

func loadFixtureHistory(t *testing.T) *History {
	t.Helper()
	h, err := LoadHistory(os.DirFS(historyFixtureDir()), historyJob)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestHistoryGolden renders history.csv and the job index from the fixture
// report.json files in testdata/history.
func TestHistoryGolden(t *testing.T) {
	h := loadFixtureHistory(t)
	for _, tt := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"history.csv", func(b *bytes.Buffer) error { return WriteHistoryCSV(b, h) }},
		{"history-index.html", func(b *bytes.Buffer) error { return WriteHistoryHTML(b, h) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.write(&buf); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, buf.Bytes())
		})
	}
}

// readHistoryCSV parses history.csv into maps keyed by column name.
func readHistoryCSV(t *testing.T, h *History) []map[string]string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteHistoryCSV(&buf, h); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(recs[0], ","), strings.Join(HistoryCSVColumns, ","); got != want {
		t.Fatalf("header %s, want %s", got, want)
	}
	var rows []map[string]string
	for _, rec := range recs[1:] {
		if len(rec) != len(HistoryCSVColumns) {
			t.Fatalf("row has %d fields, want %d: %v", len(rec), len(HistoryCSVColumns), rec)
		}
		m := map[string]string{}
		for i, c := range HistoryCSVColumns {
			m[c] = rec[i]
		}
		rows = append(rows, m)
	}
	return rows
}

func findRow(t *testing.T, rows []map[string]string, period, metric, partition, rank string) map[string]string {
	t.Helper()
	for _, r := range rows {
		if r["period"] == period && r["metric"] == metric && r["partition"] == partition && r["rank"] == rank {
			return r
		}
	}
	t.Fatalf("no row for %s %s %s %s", period, metric, partition, rank)
	return nil
}

func parseF(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return f
}

// TestHistoryTimeline checks the periods, gaps and problems read from the
// fixture.
func TestHistoryTimeline(t *testing.T) {
	h := loadFixtureHistory(t)
	var names []string
	var gaps []string
	for _, p := range h.Periods {
		names = append(names, p.Name)
		if p.Report == nil {
			gaps = append(gaps, p.Name)
		}
	}
	if got, want := strings.Join(names, " "), "2026-01-01 2026-01-02 2026-01-03 2026-01-04 2026-01-05 2026-01-06 2026-01-07 2026-01-08 2026-01-09 2026-01-10"; got != want {
		t.Errorf("timeline %s, want %s", got, want)
	}
	if got, want := strings.Join(gaps, " "), "2026-01-04 2026-01-07"; got != want {
		t.Errorf("gaps %s, want %s", got, want)
	}
	if got := h.Released(); got != 8 {
		t.Errorf("Released() = %d, want 8", got)
	}
	if len(h.Problems) != 2 || !strings.Contains(h.Problems[0], "2026-01-07") || !strings.Contains(h.Problems[1], "notes") {
		t.Errorf("problems %q, want the damaged 2026-01-07 report.json and notes/", h.Problems)
	}
	if p := h.Periods[6]; !strings.Contains(p.Problem, "report.json") {
		t.Errorf("gap 2026-01-07 has problem %q, want the reason its report.json was not read", p.Problem)
	}
}

// TestHistoryCSVValues checks rows of history.csv against values computed
// by hand from the fixture reports.
func TestHistoryCSVValues(t *testing.T) {
	h := loadFixtureHistory(t)
	rows := readHistoryCSV(t, h)
	const eps = 1e-4

	// Every period × series has one row: gaps included, with empty numbers.
	gap := findRow(t, rows, "2026-01-04", "device_share", "tv", "")
	if gap["released"] != "false" || gap["value"] != "" || gap["share"] != "" || gap["rolling7_value"] != "" {
		t.Errorf("gap row %v: want released=false and empty numbers", gap)
	}
	// "console" exists from 2026-01-08: earlier rows are gaps, not zeros.
	if r := findRow(t, rows, "2026-01-05", "device_share", "console", ""); r["released"] != "false" || r["value"] != "" {
		t.Errorf("console before it existed: %v, want a gap", r)
	}

	// tv on 2026-01-10: the rolling window 01-04 … 01-10 holds 5 released
	// days (01-04 and 01-07 are gaps).
	r := findRow(t, rows, "2026-01-10", "device_share", "tv", "")
	if r["rolling7_days"] != "5" {
		t.Errorf("rolling7_days = %s, want 5", r["rolling7_days"])
	}
	var shares, halves []float64
	for _, d := range []int{4, 5, 7, 8, 9} {
		rep := historyFixtureReport(d)
		p := rep.Metrics[0].Partitions[0]
		shares = append(shares, *p.Share)
		halves = append(halves, math.Max(*p.Share-*p.ShareLower, *p.ShareUpper-*p.Share))
	}
	var mean, sq float64
	for i := range shares {
		mean += shares[i] / 5
		sq += halves[i] * halves[i]
	}
	if got := parseF(t, r["rolling7_share"]); math.Abs(got-mean) > eps*mean {
		t.Errorf("rolling7_share = %v, want %v", got, mean)
	}
	if got, want := parseF(t, r["rolling7_share_upper"])-parseF(t, r["rolling7_share"]), math.Sqrt(sq)/5; math.Abs(got-want) > eps {
		t.Errorf("rolling7 share half-width = %v, want sqrt(Σh²)/n = %v", got, want)
	}

	// Changes: 01-10 (Sat) against 01-09 (Fri) and 01-03 (Sat).
	if r["change_of"] != "share" || r["prev_period"] != "2026-01-09" || r["week_period"] != "2026-01-03" {
		t.Errorf("change columns %v", r)
	}
	sat := *historyFixtureReport(9).Metrics[0].Partitions[0].Share
	fri := *historyFixtureReport(8).Metrics[0].Partitions[0].Share
	if got := parseF(t, r["change_prev"]); math.Abs(got-(sat-fri)) > eps {
		t.Errorf("change_prev = %v, want %v", got, sat-fri)
	}
	if r["change_prev_exceeds_noise"] != "true" {
		t.Errorf("tv weekend jump: change_prev_exceeds_noise = %s, want true", r["change_prev_exceeds_noise"])
	}
	if r["change_week"] == "" || r["change_week_exceeds_noise"] == "" {
		t.Errorf("tv against the Saturday before: %v, want a change and a verdict", r)
	}
	// hd's mean bitrate: 8000 on weekdays, 8900 at weekends, ±200: the jump
	// from Friday is larger than the noise √(200² + 200²); Saturday against
	// Saturday is no change.
	r = findRow(t, rows, "2026-01-10", "mean_bitrate", "hd", "")
	if r["change_of"] != "value" || parseF(t, r["change_prev"]) != 900 || math.Abs(parseF(t, r["change_prev_noise"])-200*math.Sqrt2) > 0.01 || r["change_prev_exceeds_noise"] != "true" {
		t.Errorf("hd against Friday: %v", r)
	}
	if parseF(t, r["change_week"]) != 0 || r["change_week_exceeds_noise"] != "false" {
		t.Errorf("hd against the Saturday before: %v, want 0, within the noise", r)
	}
	// 2026-01-08's day before is the damaged 2026-01-07: named, not compared.
	r = findRow(t, rows, "2026-01-08", "device_share", "tv", "")
	if r["prev_period"] != "2026-01-07" || r["change_prev"] != "" || r["change_prev_exceeds_noise"] != "" {
		t.Errorf("change against a gap: %v, want the period named and no change", r)
	}

	// Quantiles: one row per rank; no interval before 2026-01-03, and then
	// no interval for the rolling average nor a verdict for the change.
	q := findRow(t, rows, "2026-01-02", "session_length", "movie", "0.5")
	if q["value"] == "" || q["lower"] != "" || q["rolling7_lower"] != "" || q["change_prev"] == "" || q["change_prev_noise"] != "" {
		t.Errorf("quantile without interval: %v", q)
	}
	q = findRow(t, rows, "2026-01-10", "session_length", "movie", "0.9")
	if q["lower"] == "" || q["rolling7_days"] != "5" || q["rolling7_lower"] == "" || q["change_prev_exceeds_noise"] == "" {
		t.Errorf("quantile with intervals: %v", q)
	}

	// The definition change: resolution_mix was "users" before 2026-01-06.
	if r := findRow(t, rows, "2026-01-05", "resolution_mix", "sd", ""); r["released"] != "false" {
		t.Errorf("resolution_mix under its old definition: %v, want a gap", r)
	}
	if r := findRow(t, rows, "2026-01-06", "resolution_mix", "sd", ""); r["released"] != "true" || r["prev_period"] != "2026-01-05" || r["change_prev"] != "" {
		t.Errorf("first day of the new definition: %v, want no comparison with the old one", r)
	}
	notes := strings.Join(h.metrics[3].notes, " ")
	if h.metrics[3].def.Name != "resolution_mix" || !strings.Contains(notes, "2026-01-01, 2026-01-02, 2026-01-03, 2026-01-05") {
		t.Errorf("resolution_mix notes %q, want the periods of the old definition", notes)
	}
}

// recordingFS records every name opened.
type recordingFS struct {
	fsys   fs.FS
	opened []string
}

func (r *recordingFS) Open(name string) (fs.File, error) {
	r.opened = append(r.opened, name)
	return r.fsys.Open(name)
}

// TestLoadHistoryReadsOnlyReports builds a history from a job directory
// that also holds data files and other files, and checks that only
// report.json files were opened (besides listing directories).
func TestLoadHistoryReadsOnlyReports(t *testing.T) {
	m := fstest.MapFS{
		"events.parquet":              {Data: []byte("PAR1 private rows PAR1")},
		"consent.parquet":             {Data: []byte("PAR1 private rows PAR1")},
		"latest.json":                 {Data: []byte(`{"period": "2026-01-02"}`)},
		"index.html":                  {Data: []byte("<!DOCTYPE html>old")},
		".tmp-2026-01-03-1234/x.json": {Data: []byte("{}")},
		"inputs/events.arrow":         {Data: []byte("ARROW1 private")},
	}
	for _, d := range []int{0, 1} {
		r := historyFixtureReport(d)
		var buf bytes.Buffer
		if err := WriteJSON(&buf, r); err != nil {
			t.Fatal(err)
		}
		m[r.Period+"/report.json"] = &fstest.MapFile{Data: buf.Bytes()}
		m[r.Period+"/device_share.csv"] = &fstest.MapFile{Data: []byte("partition,value\n")}
		m[r.Period+"/events.parquet"] = &fstest.MapFile{Data: []byte("PAR1 a data file left by mistake PAR1")}
	}
	rec := &recordingFS{fsys: m}
	h, err := LoadHistory(rec, historyJob)
	if err != nil {
		t.Fatal(err)
	}
	if h.Released() != 2 {
		t.Fatalf("released %d, want 2", h.Released())
	}
	for _, name := range rec.opened {
		st, err := fs.Stat(m, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // an attempt that found nothing, like inputs/report.json
		}
		if err != nil {
			t.Fatal(err)
		}
		if !st.IsDir() && !strings.HasSuffix(name, "/report.json") {
			t.Errorf("LoadHistory opened %s: it may open report.json files and list directories only", name)
		}
	}
	if !strings.Contains(strings.Join(rec.opened, " "), "2026-01-01/report.json") {
		t.Errorf("opened %v: the recording FS saw no report.json", rec.opened)
	}
	// The stray directory "inputs" is listed as a problem, not read.
	if len(h.Problems) != 1 || !strings.Contains(h.Problems[0], "inputs") {
		t.Errorf("problems %q, want inputs/ listed", h.Problems)
	}
}

func TestLoadHistoryErrors(t *testing.T) {
	if _, err := LoadHistory(fstest.MapFS{"a/b.txt": {}}, historyJob); !errors.Is(err, ErrNoReports) {
		t.Errorf("no reports: %v, want ErrNoReports", err)
	}
	if _, err := LoadHistory(fstest.MapFS{}, "../etc"); err == nil {
		t.Error("job ../etc accepted")
	}
	// A report.json of another job or period is not taken for this one.
	var buf bytes.Buffer
	if err := WriteJSON(&buf, historyFixtureReport(0)); err != nil {
		t.Fatal(err)
	}
	_, err := LoadHistory(fstest.MapFS{"2026-02-01/report.json": {Data: buf.Bytes()}}, historyJob)
	if !errors.Is(err, ErrNoReports) {
		t.Errorf("report.json in the wrong directory: %v, want it refused (ErrNoReports)", err)
	}
}

func TestReadJSONRoundTrip(t *testing.T) {
	r := fixture()
	var a, b bytes.Buffer
	if err := WriteJSON(&a, r); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(bytes.NewReader(a.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&b, back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("WriteJSON(ReadJSON(x)) != x:\n%s", firstDiff(b.Bytes(), a.Bytes()))
	}
	for _, bad := range []string{"", "{", `{"schema_version": "2.0.0"}`, `{"schema_version": "1.0.0", "job": "x"}`, strings.Replace(a.String(), `"period_start": "2026-01-05T00:00:00Z"`, `"period_start": "yesterday"`, 1)} {
		if _, err := ReadJSON(strings.NewReader(bad)); !errors.Is(err, ErrUnreadableReport) {
			t.Errorf("ReadJSON(%.40q) = %v, want ErrUnreadableReport", bad, err)
		}
	}
}

// TestHistoryChartWindow: with more periods than the charts show, the
// charts hold the newest chartPeriods ones, while history.csv and the
// periods table keep them all.
func TestHistoryChartWindow(t *testing.T) {
	const days = chartPeriods + 14
	m := fstest.MapFS{}
	for d := 0; d < days; d++ {
		r := historyFixtureReport(d)
		r.Metrics = r.Metrics[:1] // device_share only
		var buf bytes.Buffer
		if err := WriteJSON(&buf, r); err != nil {
			t.Fatal(err)
		}
		m[r.Period+"/report.json"] = &fstest.MapFile{Data: buf.Bytes()}
	}
	h, err := LoadHistory(m, historyJob)
	if err != nil {
		t.Fatal(err)
	}
	v := buildHistoryPage(h)
	if len(v.Periods) != days {
		t.Errorf("periods table has %d rows, want %d", len(v.Periods), days)
	}
	var tv panelView
	for _, p := range v.Metrics[0].Panels {
		if p.Title == "tv" {
			tv = p
		}
	}
	if tv.Title != "tv" || len(tv.Points) != chartPeriods {
		t.Errorf("panel %s has %d points, want %d", tv.Title, len(tv.Points), chartPeriods)
	}
	if first := tv.Points[0].X; first < panelX0 || first > panelX0+(panelX1-panelX0)/chartPeriods {
		t.Errorf("first point at x = %v, want the first slot of the plot", first)
	}
	if !strings.Contains(v.ChartNote, "newest 56 periods") {
		t.Errorf("chart note %q", v.ChartNote)
	}
	rows := readHistoryCSV(t, h)
	n := 0
	for _, r := range rows {
		if r["metric"] == "device_share" && r["partition"] == "tv" {
			n++
		}
	}
	if n != days {
		t.Errorf("history.csv has %d rows of tv, want %d", n, days)
	}
}
