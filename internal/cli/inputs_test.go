package cli

// Process-level tests of what a run reads (issue 11): every input file once,
// however it is named, and user-id types that must agree between events and
// consent.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dpstats/dpstats/datasets"
)

// exactSpecYAML is a job at ε = 10⁶ whose contribution bounding keeps every
// partition of every user (max_partitions above the number of partitions),
// so that the release is the bounded aggregate plus noise alone, with no
// random choice. Each metric gets ε/3 ≈ 3.3·10⁵; a count's Laplace noise
// has scale ≤ 14 × 10 / 3.3·10⁵ = 4.2·10⁻⁴, so |noise| > 0.05 has
// probability below e⁻¹¹⁹ per value, and two releases of the same data
// differ by more than 0.1 with probability below 2·e⁻¹¹⁹ per value.
const exactSpecYAML = `version: 1
name: inputs-test
description: Every input read once.
period: daily
privacy: {epsilon: 1000000, delta: 0, max_epsilon: 1000000, max_delta: 1e-6, noise: laplace}
ledger: {cap_epsilon: 10000000, cap_delta: 1e-5, window_days: 30}
metrics:
  - name: device_events
    description: Events by device type.
    kind: count
    consent: product_usage
    dimension: device_type
    partitions: [android_tv, roku, apple_tv, fire_tv, smart_tv, chromecast, web, ios, android, xbox, ps5, windows, macos]
    max_partitions: 14
    max_per_partition: 10
  - name: codec_events
    description: Events by video codec.
    kind: count
    consent: playback_stats
    dimension: video_codec
    partitions: [h264, hevc, av1, vp9, vp8, mpeg2, mpeg4, vc1]
    max_partitions: 9
    max_per_partition: 10
  - name: device_users
    description: Users by device type.
    kind: users
    consent: product_usage
    dimension: device_type
    partitions: [android_tv, roku, apple_tv, fire_tv, smart_tv, chromecast, web, ios, android, xbox, ps5, windows, macos]
    max_partitions: 14
`

// newLedgerFile returns the path of an empty ledger file in a directory of
// its own under dir: the ledger exists before the first run, as it must.
func newLedgerFile(t *testing.T, dir string) string {
	t.Helper()
	led := newLedgerPath(t, dir)
	if err := os.WriteFile(led, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return led
}

// reportValues reads OUT/<job>/<period>/report.json: metric → partition →
// value.
func reportValues(t *testing.T, dir string) map[string]map[string]float64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Metrics []struct {
			Name       string
			Partitions []struct {
				Name  string
				Value float64
			}
		}
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, m := range r.Metrics {
		out[m.Name] = map[string]float64{}
		for _, p := range m.Partitions {
			out[m.Name][p.Name] = p.Value
		}
	}
	return out
}

// TestSameFileReadOnce names the events and the consent exports in every
// spelling the issue lists (relative and absolute, a symlink, a/../a, a hard
// link, a directory and a file inside it) in one run: it exits 0, the
// ledger charges it once, its values equal those of a run over each file
// named once (within the noise, see exactSpecYAML), and the log names every
// spelling dropped. A control run over a copy (another file with the same
// bytes) shows that a second read would have shown.
func TestSameFileReadOnce(t *testing.T) {
	genEvents, genConsent := genData(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "inputs-test.yaml")
	if err := os.WriteFile(spec, []byte(exactSpecYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	ev, co := filepath.Join(dir, "ev", "events.parquet"), filepath.Join(dir, "co", "consent.parquet")
	for _, d := range []string{"ev", "co", "copy"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, genEvents, ev, 0o644)
	copyFile(t, genConsent, co, 0o644)
	copyFile(t, genEvents, filepath.Join(dir, "copy", "events.parquet"), 0o644)
	for _, l := range []struct{ old, new string }{{ev, "events-link.parquet"}, {co, "consent-link.parquet"}} {
		if err := os.Symlink(l.old, filepath.Join(dir, l.new)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(ev, filepath.Join(dir, "events-hard.parquet")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(co, filepath.Join(dir, "consent-hard.parquet")); err != nil {
		t.Fatal(err)
	}

	// release runs the job from dir over events and consent (flags
	// repeated), which must succeed and charge the ledger once, and
	// returns the published values and the run's stderr.
	release := func(name string, events, consent []string) (map[string]map[string]float64, string) {
		t.Helper()
		out := filepath.Join(dir, "out-"+name)
		led := newLedgerFile(t, filepath.Join(dir, "ledger-"+name))
		args := []string{"run", "--job", spec, "--period", day(0), "--out", out, "--ledger", led, "--log-format", "json"}
		for _, e := range events {
			args = append(args, "--input", e)
		}
		for _, c := range consent {
			args = append(args, "--consent", c)
		}
		r := runIn(t, dir, nil, dpstatsBin(t), args...)
		if !released(r) {
			t.Fatalf("%s: %s", name, r)
		}
		entries := mustReadLedger(t, led)
		if len(entries) != 1 || entries[0].Epsilon != 1e6 {
			t.Fatalf("%s: ledger %+v, want one entry of ε = 10⁶", name, entries)
		}
		return reportValues(t, filepath.Join(out, "inputs-test", day(0))), r.stderr
	}
	total := func(v map[string]map[string]float64, metric string) float64 {
		s := 0.0
		for _, x := range v[metric] {
			s += x
		}
		return s
	}

	once, _ := release("once", []string{"ev/events.parquet"}, []string{"co/consent.parquet"})
	spellings := []string{"ev/events.parquet", ev, "events-link.parquet", "ev/../ev/events.parquet", "events-hard.parquet", "ev", "./ev/events.parquet"}
	consentSpellings := []string{"co", co, "consent-link.parquet", "co/../co/consent.parquet", "consent-hard.parquet"}
	many, stderr := release("many", spellings, consentSpellings)
	for metric, parts := range once {
		for p, want := range parts {
			if got := many[metric][p]; math.Abs(got-want) > 0.1 {
				t.Errorf("%s[%s] = %v with the inputs named several times, %v named once (want ± 0.1)", metric, p, got, want)
			}
		}
	}
	// The dropped spellings, each named in a warning (paths only).
	var dropped []string
	for _, rec := range logLines(stderr) {
		if rec["msg"] != "input named more than once: reading it once" {
			continue
		}
		dropped = append(dropped, fmt.Sprint(rec["inputs"], " ", rec["path"]))
		for k := range rec {
			if !slices.Contains([]string{"time", "level", "msg", "inputs", "path", "same_file_as"}, k) {
				t.Errorf("the duplicate warning has key %q: paths only: %v", k, rec)
			}
		}
	}
	wantDropped := []string{"events " + ev, "events events-link.parquet", "events ev/../ev/events.parquet",
		"events events-hard.parquet", "events " + filepath.Join("ev", "events.parquet"), "events ./ev/events.parquet",
		"consent " + co, "consent consent-link.parquet", "consent co/../co/consent.parquet", "consent consent-hard.parquet"}
	if !slices.Equal(dropped, wantDropped) {
		t.Errorf("warnings name the dropped inputs\n%s\nwant\n%s", strings.Join(dropped, "\n"), strings.Join(wantDropped, "\n"))
	}

	// Control: a copy is another file, read as well: the counts grow by
	// far more than the noise (most users stay under the caps when their
	// events double).
	doubled, _ := release("copy", []string{"ev/events.parquet", "copy/events.parquet"}, []string{"co/consent.parquet"})
	for _, m := range []string{"device_events", "codec_events"} {
		o, d := total(once, m), total(doubled, m)
		if o < 1000 {
			t.Fatalf("%s: total %v: too few events for this test to mean anything", m, o)
		}
		if d < 1.3*o {
			t.Errorf("control: %s over two copies = %v, once = %v: reading a file twice would not show", m, d, o)
		}
	}
}

// TestUserIDTypeMismatchRefused: events with integer user ids and consent
// with string ids (and the other way round) are refused from their schemas:
// exit 65, a message naming both files, the column and both types, nothing
// published and the ledger unchanged.
func TestUserIDTypeMismatchRefused(t *testing.T) {
	strEvents, strConsent := genData(t)
	dir := t.TempDir()
	intEvents, intConsent := filepath.Join(dir, "int-events.parquet"), filepath.Join(dir, "int-consent.parquet")
	ef, err := os.Create(intEvents)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := os.Create(intConsent)
	if err != nil {
		t.Fatal(err)
	}
	// 20,000 users: the control run below must pass the shipped job's
	// quality gate (min_users 2,000; each category's count has Laplace noise
	// of scale ≈ 107, so thousands of users clear it with probability far
	// above 1 − 1e-9).
	if err := datasets.Generate(datasets.GenOptions{Rows: 60000, Users: 20000, Days: 1, Start: dataStart, Seed: 3, IntUserIDs: true}, ef, cf); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(ef.Close(), cf.Close()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name            string
		events, consent string
	}{
		{"integer events, string consent", intEvents, strConsent},
		{"string events, integer consent", strEvents, intConsent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			out, led := filepath.Join(d, "out"), newLedgerFile(t, d)
			writeLedgerLines(t, led, ledgerLine(dataStart, "another-job", "2000-01-01", 0.5, "r1"))
			before, err := os.ReadFile(led)
			if err != nil {
				t.Fatal(err)
			}
			r := runBin(t, runArgs(tc.events, tc.consent, day(0), out, led)...)
			if r.code != exitDataErr {
				t.Fatalf("exit %d, want %d (input data error): %s", r.code, exitDataErr, r)
			}
			for _, s := range []string{tc.events, tc.consent, "user_id", "integer (int64)", "string (", "nothing was read or spent"} {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr does not name %q: %s", s, r.stderr)
				}
			}
			if logged(r.stderr, "run started") != nil {
				t.Errorf("the run started reading before refusing: %s", r.stderr)
			}
			if after, err := os.ReadFile(led); err != nil || !bytes.Equal(after, before) {
				t.Errorf("the ledger changed (err %v):\n%s", err, after)
			}
			if _, err := os.Lstat(filepath.Join(out, job, day(0))); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a report directory exists (err %v)", err)
			}
		})
	}
	// Control: the integer exports together run.
	d := t.TempDir()
	if r := runBin(t, runArgs(intEvents, intConsent, day(0), filepath.Join(d, "out"), newLedgerFile(t, d))...); !released(r) {
		t.Errorf("integer events with integer consent: %s", r)
	}
}
