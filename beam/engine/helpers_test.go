package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/dp"
	"github.com/dpstats/dpstats/jobs"
	"github.com/dpstats/dpstats/jobs/ledger"
)

// day is the period the tests release; now is well after it.
var (
	day = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	now = day.Add(50 * time.Hour)
)

func beamEngine(t *testing.T) jobs.Engine {
	t.Helper()
	e, err := jobs.NewEngine(Name, map[string]string{"runner": "direct"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func parseSpec(t *testing.T, yaml string) *jobs.Spec {
	t.Helper()
	s, err := jobs.ParseSpec("test.yaml", strings.NewReader(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// generate writes a generated export (datasets.Generate) of the test day.
func generate(t *testing.T, dir string, rows, users int, seed int64) (events, consent string) {
	t.Helper()
	var ev, co bytes.Buffer
	if err := datasets.Generate(datasets.GenOptions{Rows: rows, Users: users, Seed: seed, Start: day, BatchRows: rows/3 + 1}, &ev, &co); err != nil {
		t.Fatal(err)
	}
	events, consent = filepath.Join(dir, "events.parquet"), filepath.Join(dir, "consent.parquet")
	must(t, os.WriteFile(events, ev.Bytes(), 0o644))
	must(t, os.WriteFile(consent, co.Bytes(), 0o644))
	return events, consent
}

// event and grant are rows of hand-made exports.
type event struct {
	user   string
	at     time.Time
	device string // "" = null
	dur    int64  // < 0 = null
}

type grant struct {
	user, category string
	granted        bool
	at             time.Time
}

func writeParquet(t *testing.T, path string, rec arrow.RecordBatch) {
	t.Helper()
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	w, err := pqarrow.NewFileWriter(rec.Schema(), f, parquet.NewWriterProperties(), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	must(t, err)
	must(t, w.Write(rec))
	must(t, w.Close())
}

func writeEvents(t *testing.T, path string, evs []event) {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "user_id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "event_time", Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true},
		{Name: "device_type", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "duration_s", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for _, e := range evs {
		b.Field(0).(*array.StringBuilder).Append(e.user)
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(e.at.UnixMicro()))
		if e.device == "" {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.StringBuilder).Append(e.device)
		}
		if e.dur < 0 {
			b.Field(3).AppendNull()
		} else {
			b.Field(3).(*array.Int64Builder).Append(e.dur)
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	writeParquet(t, path, rec)
}

func writeConsent(t *testing.T, path string, gs []grant) {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "user_id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "category", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "granted", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "updated_at", Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for _, g := range gs {
		b.Field(0).(*array.StringBuilder).Append(g.user)
		b.Field(1).(*array.StringBuilder).Append(g.category)
		b.Field(2).(*array.BooleanBuilder).Append(g.granted)
		b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(g.at.UnixMicro()))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	writeParquet(t, path, rec)
}

// engineInput is what jobs.Run would give an engine for the test day.
func engineInput(t *testing.T, spec *jobs.Spec, events, consent []string) jobs.EngineInput {
	t.Helper()
	start, end, err := spec.PeriodOf(day.Format("2006-01-02"))
	must(t, err)
	in := jobs.EngineInput{Spec: spec, Period: day.Format("2006-01-02"), Start: start, End: end, Now: now, RunID: "test-run",
		Metrics: spec.MetricOptions(nil), Gate: spec.GateOptions(nil)}
	for _, p := range events {
		in.Events = append(in.Events, datasets.Input{Name: p})
	}
	for _, p := range consent {
		in.Consent = append(in.Consent, datasets.Input{Name: p})
	}
	return in
}

func aggregate(t *testing.T, e jobs.Engine, in jobs.EngineInput) []*dp.Released {
	t.Helper()
	rel, err := e.Aggregate(context.Background(), in)
	must(t, err)
	return rel
}

// runJob runs the job for the test day under the release protocol with
// engine e (nil: the local engine) and returns the released metrics.
func runJob(t *testing.T, spec *jobs.Spec, e jobs.Engine, events, consent string) (*jobs.Result, string) {
	t.Helper()
	dir := t.TempDir()
	l, _, err := ledger.Init(filepath.Join(dir, "ledger.jsonl"))
	must(t, err)
	evs, err := datasets.FileInputs([]string{events})
	must(t, err)
	cos, err := datasets.FileInputs([]string{consent})
	must(t, err)
	res, err := jobs.Run(context.Background(), jobs.Config{Spec: spec, Events: evs, Consent: cos, Period: day.Format("2006-01-02"),
		OutDir: filepath.Join(dir, "out"), Ledger: l, Now: func() time.Time { return now }, Engine: e})
	must(t, err)
	return res, dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
