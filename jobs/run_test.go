package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/jobs/ledger"
)

// The runner's tests use a small job over hand-made exports. Most run at the
// spec's ordinary ε; the ones that compare aggregates across inputs run at a
// huge ε (see exactSpec) where the library's noise, still drawn by the
// shipped code, is far below the tolerance they assert.

var (
	day      = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	period   = "2026-11-01"
	afterDay = day.Add(36 * time.Hour) // the run's clock: the period is over
)

const runSpecYAML = `version: 1
name: run-test
description: The runner's test job.
privacy: {epsilon: EPS, delta: 1e-9, max_epsilon: EPS, max_delta: 1e-9, noise: laplace}
ledger: {cap_epsilon: CAP, cap_delta: 1e-6, window_days: 30}
# The runner's tests use small populations: the quality gate never withholds
# here (gate_test.go tests it).
quality_gate: {min_users: 0}
metrics:
  - name: device_share
    description: Events by device.
    kind: count
    consent: product_usage
    dimension: device_type
    partitions: [tv, phone]
    max_partitions: 1
    max_per_partition: 3
  - name: device_users
    description: Users by device.
    kind: users
    consent: product_usage
    dimension: device_type
    partitions: [tv, phone]
    max_partitions: 2
  - name: bitrate
    description: Events by bitrate.
    kind: count
    consent: playback_stats
    dimension: bitrate_kbps
    buckets: {edges: [0, 1000, 2000], unit: kbps}
    max_partitions: 1
    max_per_partition: 2
  - name: mean_duration
    description: Mean duration.
    kind: mean
    consent: playback_stats
    value: duration_s
    generalize: {step: 60, unit: s}
    lower: 0
    upper: 3600
    max_per_partition: 2
  - name: codecs
    description: Codecs found in the data.
    kind: count
    consent: playback_stats
    dimension: video_codec
    select_partitions: true
    max_partitions: 1
    max_per_partition: 1
`

func specWith(t testing.TB, eps, capEps float64) *Spec {
	t.Helper()
	text := strings.NewReplacer("CAP", fmt.Sprint(capEps), "EPS", fmt.Sprint(eps)).Replace(runSpecYAML)
	s, err := ParseSpec("run-test.yaml", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// exactSpec has ε = 10⁶ (per metric ≈ 2·10⁵): the Laplace noise of a count
// with sensitivity ≤ 3 has scale ≤ 1.5·10⁻⁵, so |noise| > 0.01 has
// probability below e⁻⁶⁰⁰ per value.
func exactSpec(t testing.TB) *Spec { return specWith(t, 1e6, 1e7) }

type event struct {
	user            string
	at              time.Time
	device, codec   string // "" is null
	bitrate, durSec int64  // < 0 is null
}

type grant struct {
	user, category string
	granted        bool
	at             time.Time
}

func writeParquet(t testing.TB, fields []arrow.Field, build func(bs []array.Builder)) []byte {
	t.Helper()
	schema := arrow.NewSchema(fields, nil)
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer rb.Release()
	build(rb.Fields())
	rec := rb.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(schema, &buf, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func appendStr(b array.Builder, s string) {
	if s == emptyString {
		b.(*array.StringBuilder).Append("")
		return
	}
	if s == "" {
		b.AppendNull()
	} else {
		b.(*array.StringBuilder).Append(s)
	}
}

func appendInt(b array.Builder, v int64) {
	if v < 0 {
		b.AppendNull()
	} else {
		b.(*array.Int64Builder).Append(v)
	}
}

func eventsFile(t testing.TB, evs []event) datasets.Input {
	t.Helper()
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	data := writeParquet(t, []arrow.Field{
		{Name: "user_id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "event_time", Type: ts, Nullable: true},
		{Name: "device_type", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "video_codec", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "bitrate_kbps", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "duration_s", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "title", Type: arrow.BinaryTypes.String, Nullable: true},
	}, func(bs []array.Builder) {
		for _, e := range evs {
			appendStr(bs[0], e.user)
			bs[1].(*array.TimestampBuilder).Append(arrow.Timestamp(e.at.UnixMicro()))
			appendStr(bs[2], e.device)
			appendStr(bs[3], e.codec)
			appendInt(bs[4], e.bitrate)
			appendInt(bs[5], e.durSec)
			appendStr(bs[6], "Secret Title of "+e.user)
		}
	})
	return datasets.BytesInput("events.parquet", data)
}

func consentFile(t testing.TB, gs []grant) datasets.Input {
	t.Helper()
	data := writeParquet(t, []arrow.Field{
		{Name: "user_id", Type: arrow.BinaryTypes.String},
		{Name: "category", Type: arrow.BinaryTypes.String},
		{Name: "granted", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "updated_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	}, func(bs []array.Builder) {
		for _, g := range gs {
			bs[0].(*array.StringBuilder).Append(g.user)
			bs[1].(*array.StringBuilder).Append(g.category)
			bs[2].(*array.BooleanBuilder).Append(g.granted)
			bs[3].(*array.TimestampBuilder).Append(arrow.Timestamp(g.at.UnixMicro()))
		}
	})
	return datasets.BytesInput("consent.parquet", data)
}

// population is n users with a few events each in the period, all granted
// both categories a week before.
func population(n int) ([]event, []grant) {
	var evs []event
	var gs []grant
	devices := []string{"tv", "phone"}
	for u := 0; u < n; u++ {
		id := fmt.Sprintf("u%04d", u)
		for k := 0; k <= u%3; k++ {
			evs = append(evs, event{user: id, at: day.Add(time.Duration(u*7+k) * time.Minute),
				device: devices[(u+k)%2], codec: "h264", bitrate: int64(500 * (u % 5)), durSec: int64(60 * (u % 50))})
		}
		for _, c := range []string{"product_usage", "playback_stats"} {
			gs = append(gs, grant{id, c, true, day.Add(-7 * 24 * time.Hour)})
		}
	}
	return evs, gs
}

// failingInput is an input whose every read fails: a run that must not read
// its data proves it did not by not failing.
type failingInput struct{}

func (failingInput) ReadAt([]byte, int64) (int, error) {
	return 0, errors.New("this input must not be read")
}

func unreadable() []datasets.Input {
	return []datasets.Input{{Name: "must-not-read.parquet", Data: failingInput{}, Size: 1 << 20}}
}

type harness struct {
	t      *testing.T
	out    string
	ledger *ledger.File
	logs   bytes.Buffer
}

func newHarness(t *testing.T) *harness {
	dir := t.TempDir()
	l, _, err := ledger.Init(filepath.Join(dir, "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, out: filepath.Join(dir, "out"), ledger: l}
}

func (h *harness) config(spec *Spec, events, consent []datasets.Input) Config {
	return Config{
		Spec: spec, Events: events, Consent: consent, Period: period, OutDir: h.out, Ledger: h.ledger,
		Now:    func() time.Time { return afterDay },
		Logger: slog.New(slog.NewJSONHandler(&h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// with is config over events and grants written as Parquet exports.
func (h *harness) with(spec *Spec, evs []event, gs []grant) Config {
	return h.config(spec, []datasets.Input{eventsFile(h.t, evs)}, []datasets.Input{consentFile(h.t, gs)})
}

// release runs spec once over evs and gs, which must succeed, and returns
// the result and the published report.json.
func (h *harness) release(spec *Spec, evs []event, gs []grant) (*Result, []byte) {
	h.t.Helper()
	res, err := Run(context.Background(), h.with(spec, evs, gs))
	if err != nil {
		h.t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(res.Dir, "report.json"))
	if err != nil {
		h.t.Fatal(err)
	}
	return res, data
}

func (h *harness) entries() []ledger.Entry {
	h.t.Helper()
	es, err := h.ledger.Entries()
	if err != nil {
		h.t.Fatal(err)
	}
	return es
}

// reportJSON is the part of report.json the tests read.
type reportJSON struct {
	RunID   string `json:"run_id"`
	Metrics []struct {
		Name       string `json:"name"`
		Partitions []struct {
			Name  string  `json:"name"`
			Value float64 `json:"value"`
		} `json:"partitions"`
	} `json:"metrics"`
}

func readReport(t *testing.T, dir string) (reportJSON, map[string]map[string]float64) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r reportJSON
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	values := map[string]map[string]float64{}
	for _, m := range r.Metrics {
		values[m.Name] = map[string]float64{}
		for _, p := range m.Partitions {
			values[m.Name][p.Name] = p.Value
		}
	}
	return r, values
}

func TestRunReleases(t *testing.T) {
	for _, a := range accountings {
		t.Run(a, func(t *testing.T) { testRunReleases(t, a) })
	}
}

func testRunReleases(t *testing.T, a string) {
	h := newHarness(t)
	evs, gs := population(300)
	spec := specIn(t, a, 1, 10)
	res, err := Run(context.Background(), h.with(spec, evs, gs))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Status, StatusReleased; got != want {
		t.Fatalf("Status = %q, want %q", got, want)
	}
	if got, want := res.Dir, filepath.Join(h.out, "run-test", period); got != want {
		t.Errorf("Dir = %q, want %q", got, want)
	}
	es := h.entries()
	if len(es) != 1 {
		t.Fatalf("ledger has %d entries, want 1", len(es))
	}
	e := es[0]
	if e.Job != "run-test" || e.Period != period || chargedOf(e) != runCharge(spec) || e.ZCDP() != spec.ZCDP() || e.Delta != 1e-9 || e.RunID != res.RunID || e.Rerun {
		t.Errorf("ledger entry = %+v, want run-test %s %s charge %v δ=1e-9 run %s", e, period, a, runCharge(spec), res.RunID)
	}
	if !e.Time.Equal(afterDay) {
		t.Errorf("ledger time = %v, want the run's clock %v", e.Time, afterDay)
	}
	if got, want := windowSpent(res.Window), runCharge(spec); got != want {
		t.Errorf("window spend = %v, want %v", got, want)
	}
	r, values := readReport(t, res.Dir)
	if r.RunID != res.RunID {
		t.Errorf("report run_id %q, ledger %q", r.RunID, res.RunID)
	}
	// Every public partition is published, "other" too (but buckets cover
	// every value: no "other"); discovered partitions only if selected.
	want := map[string][]string{
		"device_share":  {"tv", "phone", "other"},
		"device_users":  {"tv", "phone", "other"},
		"bitrate":       {"0–999 kbps", "1000–1999 kbps", "≥ 2000 kbps"},
		"mean_duration": {"total"},
	}
	for m, parts := range want {
		var got []string
		for p := range values[m] {
			got = append(got, p)
		}
		slices.Sort(got)
		slices.Sort(parts)
		if !slices.Equal(got, parts) {
			t.Errorf("%s partitions = %q, want %q", m, got, parts)
		}
	}
	for _, f := range []string{"report.json", "index.html", "device_share.csv", "codecs.csv", "mean_duration.csv"} {
		if _, err := os.Stat(filepath.Join(res.Dir, f)); err != nil {
			t.Errorf("report file: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(h.out, "run-test", "latest.json")); err != nil {
		t.Errorf("latest.json: %v", err)
	}
}

// TestRunConsentAndBounding runs the whole pipeline at a huge ε, where the
// released values equal the bounded aggregates to within 0.01, and checks
// them against hand-computed values: consent, the period, contribution
// bounds, "other", nulls and generalization.
func TestRunConsentAndBounding(t *testing.T) {
	h := newHarness(t)
	week := -7 * 24 * time.Hour
	gs := []grant{
		{"alice", "product_usage", true, day.Add(week)}, {"alice", "playback_stats", true, day.Add(week)},
		{"bob", "product_usage", true, day.Add(week)},
		{"carol", "product_usage", true, day.Add(week)}, {"carol", "product_usage", false, day.Add(30 * time.Hour)}, // withdrew after the period, before the run
		{"dave", "product_usage", true, day.Add(26 * time.Hour)}, // granted after the period: does not reach back
	}
	at := func(h int) time.Time { return day.Add(time.Duration(h) * time.Hour) }
	evs := []event{
		// alice: 5 tv events, counted at most 3 (max_per_partition); bitrates
		// 1500 → bucket 1000–1999 (2 max); durations 89 s → 60 and 150 s → 120 (rounded to the minute).
		{"alice", at(1), "tv", "h264", 1500, 89}, {"alice", at(2), "tv", "h264", 1500, 150},
		{"alice", at(3), "tv", "h264", 1500, -1}, {"alice", at(4), "tv", "h264", 1500, -1},
		{"alice", at(5), "tv", "h264", 1500, -1},
		// bob: phone, no playback grant; an unlisted device goes to "other".
		{"bob", at(6), "phone", "vp9", 900, 600}, {"bob", at(7), "vr-headset", "vp9", 900, 600},
		// carol and dave: never counted.
		{"carol", at(8), "tv", "av1", 100, 60}, {"dave", at(9), "phone", "av1", 100, 60},
		// outside the period, and a null user: never counted.
		{"alice", day.Add(-time.Second), "phone", "h264", 100, 60}, {"alice", day.Add(24 * time.Hour), "phone", "h264", 100, 60},
		{"", at(10), "tv", "h264", 100, 60},
	}
	res, err := Run(context.Background(), h.with(exactSpec(t), evs, gs))
	if err != nil {
		t.Fatal(err)
	}
	_, values := readReport(t, res.Dir)
	want := map[string]map[string]float64{
		// bob has max_partitions 1 for device_share: one of phone / other, chosen at random.
		"device_share": {"tv": 3},
		"device_users": {"tv": 1, "phone": 1, "other": 1},
		"bitrate":      {"0–999 kbps": 0, "1000–1999 kbps": 2, "≥ 2000 kbps": 0, "other": 0},
		// alice's 2 non-null durations (max_per_partition 2), rounded to the
		// minute, halves up: 89 s → 60, 150 s → 180.
		"mean_duration": {"total": 120},
	}
	for m, parts := range want {
		// The mean's noise is the normalized sum's (sensitivity 2 × 1800 at
		// ε ≈ 10⁵, scale 0.036) over a count of 2: |error| > 2 has
		// probability below e⁻¹⁰⁰. Counts: see exactSpec.
		tol := 0.01
		if m == "mean_duration" {
			tol = 2
		}
		for p, w := range parts {
			if got := values[m][p]; math.Abs(got-w) > tol {
				t.Errorf("%s[%s] = %v, want %v ± %v", m, p, got, w, tol)
			}
		}
	}
	if got := values["device_share"]["phone"] + values["device_share"]["other"]; math.Abs(got-1) > 0.01 {
		t.Errorf("device_share phone + other = %v, want 1 (bob's one kept partition, one event)", got)
	}
	for p := range values["codecs"] {
		if p == "av1" {
			t.Errorf("codecs: av1 is used only by users without a valid grant, yet it was published")
		}
	}
}

// TestRunWithdrawnHeavyUserChangesNothing adds a user with 100,000 events
// whose consent was withdrawn, and a unique device string: the released
// aggregates stay the same (to within the noise at a huge ε), and the
// device string appears nowhere in the report.
func TestRunWithdrawnHeavyUserChangesNothing(t *testing.T) {
	evs, gs := population(200)
	run := func(evs []event, gs []grant) map[string]map[string]float64 {
		h := newHarness(t)
		cfg := h.with(exactSpec(t), evs, gs)
		// The same random choice of partitions for the other users in every
		// run (the heavy user is interned last, so it shifts no one's index).
		seed := int64(1)
		cfg.Seed = &seed
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, v := readReport(t, res.Dir)
		for _, f := range []string{"report.json", "index.html", "device_share.csv", "codecs.csv"} {
			data, err := os.ReadFile(filepath.Join(res.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(data, []byte("canary-device")) || bytes.Contains(data, []byte("canary-codec")) || bytes.Contains(data, []byte("Secret Title")) {
				t.Errorf("%s names the canary user's device or codec, or a forbidden column's value", f)
			}
		}
		return v
	}
	base := run(evs, gs)
	heavy := slices.Clone(evs)
	for k := 0; k < 100_000; k++ {
		heavy = append(heavy, event{user: "heavy", at: day.Add(time.Duration(k) * 800 * time.Millisecond),
			device: []string{"tv", "phone", "canary-device"}[k%3], codec: "canary-codec", bitrate: int64(k % 5000), durSec: 3600})
	}
	withdrawn := append(slices.Clone(gs),
		grant{"heavy", "product_usage", true, day.Add(-48 * time.Hour)}, grant{"heavy", "playback_stats", true, day.Add(-48 * time.Hour)},
		grant{"heavy", "product_usage", false, day.Add(-time.Hour)}, grant{"heavy", "playback_stats", false, day.Add(-time.Hour)})
	got := run(heavy, withdrawn)
	for m, parts := range base {
		tol := 0.02 // two counts' noise, see exactSpec
		if m == "mean_duration" {
			tol = 0.5 // a mean over ~400 values: the normalized sum's noise / 400, twice
		}
		for p, w := range parts {
			if g := got[m][p]; math.Abs(g-w) > tol {
				t.Errorf("withdrawn user changed %s[%s]: %v → %v", m, p, w, g)
			}
		}
	}
	// The same user, granted: each metric moves by at most its bounds.
	granted := append(slices.Clone(gs),
		grant{"heavy", "product_usage", true, day.Add(-48 * time.Hour)}, grant{"heavy", "playback_stats", true, day.Add(-48 * time.Hour)})
	moved := run(heavy, granted)
	limits := map[string]float64{"device_share": 1 * 3, "device_users": 2 * 1, "bitrate": 1 * 2}
	for m, limit := range limits {
		total := 0.0
		for p, w := range base[m] {
			total += math.Abs(moved[m][p] - w)
		}
		if total > limit+0.05 {
			t.Errorf("a granted user with 100,000 events moved %s by %v in total, more than max_partitions × max_per_partition = %v", m, total, limit)
		}
		if total < 0.5 {
			t.Errorf("a granted user moved %s by only %v: was the user counted at all?", m, total)
		}
	}
}

func TestRunAlreadyReleasedReadsNothing(t *testing.T) {
	for _, a := range accountings {
		t.Run(a, func(t *testing.T) { testRunAlreadyReleasedReadsNothing(t, a) })
	}
}

func testRunAlreadyReleasedReadsNothing(t *testing.T, a string) {
	h := newHarness(t)
	evs, gs := population(50)
	spec := specIn(t, a, 1, 10)
	first, before := h.release(spec, evs, gs)
	res, err := Run(context.Background(), h.config(spec, unreadable(), unreadable()))
	if err != nil {
		t.Fatalf("second run: %v (it must not read its inputs)", err)
	}
	if got, want := res.Status, StatusAlreadyReleased; got != want {
		t.Errorf("Status = %q, want %q", got, want)
	}
	if res.Epsilon != 0 || res.Rho != 0 || len(h.entries()) != 1 {
		t.Errorf("second run charged ε = %v, ρ = %v, ledger has %d entries; want nothing charged", res.Epsilon, res.Rho, len(h.entries()))
	}
	after, err := os.ReadFile(filepath.Join(first.Dir, "report.json"))
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the published report changed (err %v): no fresh noise may be drawn for a released period", err)
	}
}

func TestRunRerunChargesAgain(t *testing.T) {
	for _, a := range accountings {
		t.Run(a, func(t *testing.T) { testRunRerunChargesAgain(t, a) })
	}
}

func testRunRerunChargesAgain(t *testing.T, a string) {
	h := newHarness(t)
	evs, gs := population(50)
	spec := specIn(t, a, 1, 10)
	cfg := h.with(spec, evs, gs)
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Rerun = true
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	es := h.entries()
	if len(es) != 2 || !es[1].Rerun || es[1].RunID != res.RunID {
		t.Fatalf("ledger after rerun = %+v, want a second entry marked rerun with run id %s", es, res.RunID)
	}
	if got, want := windowSpent(res.Window), 2*runCharge(spec); got != want {
		t.Errorf("window spend after rerun = %v, want %v", got, want)
	}
	r, _ := readReport(t, res.Dir)
	if r.RunID != res.RunID {
		t.Errorf("report run_id = %q, want the rerun's %q", r.RunID, res.RunID)
	}
	data, _ := os.ReadFile(filepath.Join(res.Dir, "report.json"))
	if !bytes.Contains(data, []byte("re-run")) {
		t.Error("a rerun's report must say it is a re-run")
	}
}

func TestRunRefusals(t *testing.T) {
	evs, gs := population(20)
	good := func(t *testing.T) []datasets.Input { return []datasets.Input{eventsFile(t, evs)} }
	goodConsent := func(t *testing.T) []datasets.Input { return []datasets.Input{consentFile(t, gs)} }
	tests := []struct {
		name  string
		setup func(t *testing.T, h *harness, cfg *Config)
		check func(err error) bool
		want  string
	}{
		{"budget: the window is full", func(t *testing.T, h *harness, cfg *Config) {
			tx, err := h.ledger.Lock(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.Append(ledger.Entry{Job: "other-job", Period: "2026-10-31", Epsilon: 9.5, Time: afterDay.Add(-time.Hour)}); err != nil {
				t.Fatal(err)
			}
			tx.Unlock()
			cfg.Events, cfg.Consent = unreadable(), unreadable()
		}, func(err error) bool { var b *ledger.BudgetError; return errors.As(err, &b) }, "*ledger.BudgetError"},
		{"period not over", func(t *testing.T, h *harness, cfg *Config) {
			cfg.Now = func() time.Time { return day.Add(23 * time.Hour) }
			cfg.Events, cfg.Consent = unreadable(), unreadable()
		}, func(err error) bool { return errors.Is(err, ErrPeriodNotOver) }, "ErrPeriodNotOver"},
		{"bad period", func(t *testing.T, h *harness, cfg *Config) { cfg.Period = "2026-13-01" },
			func(err error) bool { return errors.Is(err, ErrConfig) }, "ErrConfig"},
		{"missing ledger", func(t *testing.T, h *harness, cfg *Config) { cfg.Ledger = nil },
			func(err error) bool { return errors.Is(err, ErrConfig) }, "ErrConfig"},
		{"report exists without a ledger record", func(t *testing.T, h *harness, cfg *Config) {
			if err := os.MkdirAll(filepath.Join(h.out, "run-test", period), 0o755); err != nil {
				t.Fatal(err)
			}
			cfg.Events, cfg.Consent = unreadable(), unreadable()
		}, func(err error) bool { var o *OutputError; return errors.As(err, &o) }, "*OutputError"},
		{"the ledger was deleted", func(t *testing.T, h *harness, cfg *Config) {
			if err := os.Remove(h.ledger.Path()); err != nil {
				t.Fatal(err)
			}
			cfg.Events, cfg.Consent = unreadable(), unreadable()
		}, func(err error) bool { return errors.Is(err, ledger.ErrNoLedger) }, "ledger.ErrNoLedger"},
		{"run id that cannot name a directory", func(t *testing.T, h *harness, cfg *Config) {
			cfg.RunID = "../x"
			cfg.Events, cfg.Consent = unreadable(), unreadable()
		}, func(err error) bool { return errors.Is(err, ErrConfig) }, "ErrConfig"},
		{"output not writable", func(t *testing.T, h *harness, cfg *Config) {
			if err := os.WriteFile(filepath.Join(t.TempDir(), "file"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(f, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			cfg.OutDir = filepath.Join(f, "out") // under a regular file: even root cannot
			cfg.Events, cfg.Consent = unreadable(), unreadable()
		}, func(err error) bool { var o *OutputError; return errors.As(err, &o) }, "*OutputError"},
		{"garbage events", func(t *testing.T, h *harness, cfg *Config) {
			cfg.Events = []datasets.Input{datasets.BytesInput("garbage.parquet", []byte("PAR1 this is not parquet PAR1"))}
		}, func(err error) bool { var in *datasets.InputError; return errors.As(err, &in) }, "*datasets.InputError"},
		{"events lack a column", func(t *testing.T, h *harness, cfg *Config) {
			cfg.Events = cfg.Consent // the consent export has no event_time
		}, func(err error) bool { var in *datasets.InputError; return errors.As(err, &in) }, "*datasets.InputError"},
	}
	for _, a := range accountings {
		for _, tt := range tests {
			t.Run(a+"/"+tt.name, func(t *testing.T) {
				h := newHarness(t)
				cfg := h.config(specIn(t, a, 1, 10), good(t), goodConsent(t))
				tt.setup(t, h, &cfg)
				before, _ := h.ledger.Entries()
				res, err := Run(context.Background(), cfg)
				if err == nil || !tt.check(err) {
					t.Fatalf("Run = %+v, %v; want %s", res, err, tt.want)
				}
				if got, _ := h.ledger.Entries(); len(got) != len(before) {
					t.Errorf("a refused run changed the ledger: %d → %d entries", len(before), len(got))
				}
				if entries, _ := os.ReadDir(filepath.Join(h.out, "run-test")); len(entries) > 0 && tt.name != "report exists without a ledger record" {
					t.Errorf("a refused run left %d entries in the output", len(entries))
				}
			})
		}
	}
}

// TestRunLogsNothingPrivate checks every log line's keys against the list
// of what may be logged (no counts, no ids, no values).
func TestRunLogsNothingPrivate(t *testing.T) {
	h := newHarness(t)
	evs, gs := population(100)
	cfg := h.with(specWith(t, 1, 10), evs, gs)
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"time": true, "level": true, "msg": true, "job": true, "period": true, "run_id": true,
		"epsilon": true, "delta": true, "noise": true, "rerun": true, "dir": true, "window_epsilon": true,
		"cap_epsilon": true, "released_at": true, "previous_run_id": true}
	lines := strings.Split(strings.TrimSpace(h.logs.String()), "\n")
	if len(lines) < 3 {
		t.Fatalf("expected log lines for two runs, got %q", h.logs.String())
	}
	userID := regexp.MustCompile(`u\d{4}`)
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		for k := range rec {
			if !allowed[k] {
				t.Errorf("log line has key %q, not on the list of what may be logged: %s", k, line)
			}
		}
		if userID.MatchString(line) {
			t.Errorf("log line names a user: %s", line)
		}
	}
}

// TestRunNoiseIsFresh checks that the test-only seed fixes the bounding
// only: noise stays fresh, so two runs with the same seed differ.
func TestRunNoiseIsFresh(t *testing.T) {
	evs, gs := population(100)
	var runs []map[string]map[string]float64
	for i := 0; i < 2; i++ {
		h := newHarness(t)
		cfg := h.with(specWith(t, 1, 10), evs, gs)
		seed := int64(7)
		cfg.Seed = &seed
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, v := readReport(t, res.Dir)
		runs = append(runs, v)
	}
	// With ε = 1 split over 5 metrics, two releases of a value agree exactly
	// with probability ≈ 0 (continuous noise at granularity ≪ 1).
	if fmt.Sprint(runs[0]["device_share"]) == fmt.Sprint(runs[1]["device_share"]) {
		t.Errorf("two runs released identical noisy values %v: is noise drawn?", runs[0]["device_share"])
	}
}

// TestPlanAgreesWithRelease checks that `dpstats plan`'s expected 95%
// half-width of a count or users value is the half-width of the interval
// the release actually publishes (both come from the library's noise for
// the same ε and bounds, so they agree to rounding).
func TestPlanAgreesWithRelease(t *testing.T) {
	for _, a := range accountings {
		t.Run(a, func(t *testing.T) { testPlanAgreesWithRelease(t, a) })
	}
}

func testPlanAgreesWithRelease(t *testing.T, a string) {
	h := newHarness(t)
	evs, gs := population(300)
	spec := specIn(t, a, 1, 10)
	_, data := h.release(spec, evs, gs)
	var r struct {
		Metrics []struct {
			Name       string
			Partitions []struct {
				Value, Lower, Upper float64
				Clamped             bool
			}
		}
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	rows, err := Plan(spec, 1000)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for i, row := range rows {
		if row.Kind != KindCount && row.Kind != KindUsers || spec.Metrics[i].SelectPartitions {
			continue
		}
		for _, p := range r.Metrics[i].Partitions {
			if p.Clamped {
				continue
			}
			half := p.Upper - p.Value // the lower end may be clamped at 0
			// Within 1%, or 0.5: the library rounds the interval of an integer
			// count to whole numbers (Gaussian noise, small σ, under zcdp).
			if diff := math.Abs(half - row.Error.HalfWidth95); diff/row.Error.HalfWidth95 > 0.01 && diff > 0.5 {
				t.Errorf("%s: released interval half-width %v, plan says %v", row.Metric, half, row.Error.HalfWidth95)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no unclamped count partition to compare")
	}
	var out bytes.Buffer
	if err := WritePlan(&out, spec, 1000); err != nil {
		t.Fatal(err)
	}
	for _, m := range spec.Metrics {
		if !strings.Contains(out.String(), m.Name) {
			t.Errorf("plan output does not list metric %s:\n%s", m.Name, out.String())
		}
	}
}

var _ io.ReaderAt = failingInput{}

// TestRunWorkersSameRelease checks that aggregating on several goroutines
// is the same procedure as on one: with the test-only bounding seed and a
// huge ε, the released values agree to within the noise. Several small
// batches make the pipeline hand batches over many times.
func TestRunWorkersSameRelease(t *testing.T) {
	evs, gs := population(2000)
	var got []map[string]map[string]float64
	for _, workers := range []int{1, 2, 5} {
		h := newHarness(t)
		cfg := h.with(exactSpec(t), evs, gs)
		seed := int64(3)
		cfg.Seed, cfg.Workers, cfg.batchSize = &seed, workers, 97
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatalf("workers %d: %v", workers, err)
		}
		_, v := readReport(t, res.Dir)
		got = append(got, v)
	}
	for i := 1; i < len(got); i++ {
		for m, parts := range got[0] {
			tol := 0.02
			if m == "mean_duration" {
				tol = 0.5
			}
			for p, w := range parts {
				if g := got[i][m][p]; math.Abs(g-w) > tol {
					t.Errorf("run %d: %s[%s] = %v, single-threaded %v", i, m, p, g, w)
				}
			}
		}
	}
}
