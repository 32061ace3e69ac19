package cli

// Process-level tests of the quality gate (jobs/gate.go): inputs that can
// only give a report of pure noise are withheld (exit 69), nothing is
// published, the gate's ε is charged with "withheld", a retry reads and
// charges nothing, and --rerun is charged again. A normal run passes.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/dpstats/dpstats/jobs"
)

// writeConsentExport writes a consent export (the generator's schema) in
// which every id of ids was granted each of categories a month before the
// generated data starts.
func writeConsentExport(t *testing.T, path string, ids, categories []string) {
	t.Helper()
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "user_id", Type: arrow.BinaryTypes.String},
		{Name: "category", Type: arrow.BinaryTypes.String},
		{Name: "granted", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "updated_at", Type: ts},
	}, nil)
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer rb.Release()
	at := arrow.Timestamp(dataStart.AddDate(0, -1, 0).UnixMicro())
	for _, id := range ids {
		for _, c := range categories {
			rb.Field(0).(*array.StringBuilder).Append(id)
			rb.Field(1).(*array.StringBuilder).Append(c)
			rb.Field(2).(*array.BooleanBuilder).Append(true)
			rb.Field(3).(*array.TimestampBuilder).Append(at)
		}
	}
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
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// genIDs are the user ids `dpstats gen --users genUsers` writes.
func genIDs(prefix string) []string {
	ids := make([]string, genUsers)
	for u := range ids {
		ids[u] = fmt.Sprintf("%s%07d", prefix, u)
	}
	return ids
}

func builtinSpec(t *testing.T) *jobs.Spec {
	t.Helper()
	data, ok := jobs.BuiltinSpec(job)
	if !ok {
		t.Fatal("no built-in spec")
	}
	s, err := jobs.ParseSpec(job+".yaml", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestQualityGateWithholds runs the binary on each input that can only give
// pure noise. At the shipped spec each gate count has Laplace noise of
// scale 1/0.009375 ≈ 107 users; with no contributing user it reaches
// min_users = 2000 with probability ½e^{−18.75} ≈ 3.6·10⁻⁹ (and the run
// is withheld if either category fails), so every case is withheld but for
// a probability below 10⁻⁸.
func TestQualityGateWithholds(t *testing.T) {
	events, consent := genData(t)
	spec := builtinSpec(t)
	gate := spec.GateShare()
	dir := t.TempDir()

	zero := filepath.Join(dir, "zero")
	if r := runBin(t, "gen", "--rows", "0", "--users", "10", "--start", day(0), "--out", zero); r.code != 0 {
		t.Fatalf("gen --rows 0: %s", r)
	}
	otherCategories := filepath.Join(dir, "consent-other-categories.parquet")
	writeConsentExport(t, otherCategories, genIDs("u"), []string{"marketing_emails", "crash_reports"})
	disjointIDs := filepath.Join(dir, "consent-disjoint-ids.parquet")
	writeConsentExport(t, disjointIDs, genIDs("x"), []string{"playback_stats", "product_usage"})

	garbage := garbageInput(t, dir, "must-not-be-read.parquet")
	for _, tc := range []struct {
		name            string
		events, consent string
		period          string
	}{
		{"0-row export", filepath.Join(zero, "events.parquet"), filepath.Join(zero, "consent.parquet"), day(0)},
		{"events all outside the period", events, consent, "2020-01-01"},
		{"consent categories match no metric", events, otherCategories, day(0)},
		{"user ids never join the consent", events, disjointIDs, day(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out, led := filepath.Join(dir, "out"), newLedgerPath(t, dir)
			r := runBin(t, runArgs(tc.events, tc.consent, tc.period, out, led)...)
			if r.code != exitWithheld {
				t.Fatalf("exit %d, want %d (withheld): %s", r.code, exitWithheld, r)
			}
			for _, want := range []string{
				"quality gate failed for playback-daily " + tc.period + ": nothing was published",
				"below min_users = 2000", "the period: " + tc.period, "playback_stats, product_usage",
				"column user_id must hold the same ids", "dpstats inspect", "Try: ", "--rerun",
			} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			if strings.Contains(r.stdout, "released") {
				t.Errorf("stdout says released: %s", r.stdout)
			}
			checkNothingPublished(t, out, tc.period)
			entries := mustReadLedger(t, led)
			if len(entries) != 1 {
				t.Fatalf("ledger has %d entries, want 1: %+v", len(entries), entries)
			}
			e := entries[0]
			if !e.Withheld || e.Period != tc.period || e.Epsilon != gate.Epsilon || e.Delta != gate.Delta || e.Rerun ||
				!slices.Equal(e.Metrics, []string{"population:playback_stats", "population:product_usage"}) {
				t.Errorf("ledger entry %+v, want withheld, ε = %v (the gate's share), the gate's counts", e, gate.Epsilon)
			}
			if !strings.Contains(r.stderr, "(run "+e.RunID+")") {
				t.Errorf("stderr does not name the run %s:\n%s", e.RunID, r.stderr)
			}
			if rec := logged(r.stderr, "withheld by the quality gate: nothing published"); rec == nil {
				t.Errorf("no log record of the withholding:\n%s", r.stderr)
			}

			// A retry reads nothing (its inputs are garbage) and charges nothing.
			ledgerBefore, _ := os.ReadFile(led)
			r2 := runBin(t, runArgs(garbage, garbage, tc.period, out, led)...)
			if r2.code != exitWithheld || !strings.Contains(r2.stderr, "was withheld at run "+e.RunID) ||
				!strings.Contains(r2.stderr, "read nothing, drew no noise and charged nothing") {
				t.Errorf("retry: exit %d, want %d saying it was withheld at run %s: %s", r2.code, exitWithheld, e.RunID, r2)
			}
			if after, _ := os.ReadFile(led); !bytes.Equal(after, ledgerBefore) {
				t.Errorf("the retry changed the ledger:\n%s", after)
			}
			checkNothingPublished(t, out, tc.period)

			// --rerun runs again on the same inputs: withheld again, charged again.
			r3 := runBin(t, runArgs(tc.events, tc.consent, tc.period, out, led, "--rerun")...)
			if r3.code != exitWithheld {
				t.Errorf("--rerun: exit %d, want %d: %s", r3.code, exitWithheld, r3)
			}
			entries = mustReadLedger(t, led)
			if len(entries) != 2 || !entries[1].Withheld || !entries[1].Rerun || entries[1].Epsilon != gate.Epsilon {
				t.Errorf("ledger after --rerun = %+v, want a second withheld entry, charged ε = %v", entries, gate.Epsilon)
			}
			checkNothingPublished(t, out, tc.period)
		})
	}
}

// checkNothingPublished fails if OUT/<job>/ holds anything visible.
func checkNothingPublished(t *testing.T, out, period string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(out, job, period)); err == nil {
		t.Errorf("a report directory for %s exists", period)
	}
	des, _ := os.ReadDir(filepath.Join(out, job))
	for _, de := range des {
		if !strings.HasPrefix(de.Name(), ".") {
			t.Errorf("a withheld run left %s in %s", de.Name(), filepath.Join(out, job))
		}
	}
}

// TestNormalRunPassesGate: `dpstats demo` releases every day of the
// embedded sample at the shipped ε, and each report shows the gate's counts
// at or above min_users. On the sample's day the released counts are about
// 49,100 users (playback_stats) and 37,500 (product_usage). With Laplace
// noise of scale b ≈ 107 per count, a day with at least 30,000 contributing
// users in a category is withheld with probability below
// ½e^{−28000/107} < 10⁻¹¹³.
func TestNormalRunPassesGate(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	r := runBin(t, "demo", "--out", out)
	if r.code != 0 {
		t.Fatalf("demo: %s", r)
	}
	reportsSeen := 0
	des, err := os.ReadDir(filepath.Join(out, job))
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if _, err := time.Parse(time.DateOnly, de.Name()); err != nil || !de.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(out, job, de.Name(), "report.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			MinUsers   *int `json:"min_users"`
			Population []struct {
				Category string  `json:"category"`
				Value    float64 `json:"value"`
				Epsilon  float64 `json:"epsilon"`
			} `json:"population"`
		}
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.MinUsers == nil || *rep.MinUsers != jobs.DefaultMinUsers || len(rep.Population) != 2 {
			t.Fatalf("%s: min_users %v, population %+v; want %d and 2 counts", de.Name(), rep.MinUsers, rep.Population, jobs.DefaultMinUsers)
		}
		for _, p := range rep.Population {
			if p.Value < float64(*rep.MinUsers) || p.Epsilon <= 0 {
				t.Errorf("%s: %s released %v users (ε %v), below min_users yet published", de.Name(), p.Category, p.Value, p.Epsilon)
			}
		}
		reportsSeen++
	}
	if reportsSeen == 0 {
		t.Fatal("demo published no report")
	}
}
