package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// The test binary doubles as the children the harness starts, so that the
// tests need neither a built dpstats nor large files:
//
//   - with -floor-scan as its first argument it is the harness's own floor
//     child (the harness re-executes os.Executable(), the test binary);
//   - with DPSTATS_BENCH_TEST_ROLE=dpstats it is a fake dpstats (gen,
//     explain, run, inspect, --version) writing tiny files;
//   - with DPSTATS_BENCH_TEST_ROLE=alloc it touches DPSTATS_BENCH_TEST_MIB
//     MiB and exits, for the rusage test; =fail it fails loudly.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == "-floor-scan" || os.Args[1] == "-consent-load") {
		main()
		os.Exit(0)
	}
	switch os.Getenv("DPSTATS_BENCH_TEST_ROLE") {
	case "dpstats":
		if err := fakeDpstats(os.Args[1:]); err != nil {
			fmt.Fprintf(os.Stderr, "fake dpstats: %v\n", err)
			os.Exit(65)
		}
		os.Exit(0)
	case "alloc":
		mib, _ := strconv.Atoi(os.Getenv("DPSTATS_BENCH_TEST_MIB"))
		b := make([]byte, mib<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		// Burn a little CPU so that user time is measurable.
		x := 0
		for deadline := time.Now().Add(20 * time.Millisecond); time.Now().Before(deadline); {
			for i := range b[:1<<20] {
				x += int(b[i])
			}
		}
		fmt.Println(len(b), x > 0)
		os.Exit(0)
	case "fail":
		fmt.Fprintln(os.Stderr, "first line\nsomething broke: input error")
		os.Exit(65)
	}
	os.Exit(m.Run())
}

// testExplain is a two-statistic `dpstats explain --format json`.
const testExplain = `{
  "schema": "dpstats.explain/v1",
  "job": "playback-daily",
  "columns_read": ["user_id", "event_time", "device_type", "bitrate_kbps"],
  "statistics": [
    {"name": "device_type_share", "columns": ["user_id", "event_time", "device_type"]},
    {"name": "bitrate_distribution", "columns": ["user_id", "event_time", "bitrate_kbps"]}
  ]
}`

// testExplain2 is the second default job's, by a spec file.
const testExplain2 = `{
  "schema": "dpstats.explain/v1",
  "job": "device-2metric",
  "columns_read": ["user_id", "event_time", "device_type"],
  "statistics": [
    {"name": "events_by_device_type", "columns": ["user_id", "event_time", "device_type"]}
  ]
}`

func fakeDpstats(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("no command")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	out := fs.String("out", "", "")
	rows := fs.Int("rows", 0, "")
	fs.Int("users", 0, "")
	fs.Int("days", 0, "")
	fs.String("start", "", "")
	fs.Int("seed", 0, "")
	fs.String("format", "", "")
	job := fs.String("job", "", "")
	fs.String("input", "", "")
	fs.String("consent", "", "")
	period := fs.String("period", "", "")
	ledger := fs.String("ledger", "", "")
	fs.Bool("rerun", false, "")
	cpu := fs.String("cpuprofile", "", "")
	mem := fs.String("memprofile", "", "")
	switch args[0] {
	case "--version":
		fmt.Println("dpstats version fake")
		return nil
	case "inspect":
		fmt.Println("inspect", args[1:])
		return nil
	case "ledger":
		// ledger init --ledger PATH: a fresh, empty ledger.
		if len(args) != 4 || args[1] != "init" || args[2] != "--ledger" {
			return fmt.Errorf("ledger: want init --ledger PATH, got %q", args[1:])
		}
		return os.WriteFile(args[3], nil, 0o600)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "explain":
		switch *job {
		case "playback-daily":
			fmt.Println(testExplain)
		case "scripts/bench-jobs/device-2metric.yaml":
			fmt.Println(testExplain2)
		default:
			return fmt.Errorf("explain: unknown job %q", *job)
		}
	case "gen":
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
		if err := writeEvents(filepath.Join(*out, "events.parquet"), *rows); err != nil {
			return err
		}
		return writeConsentFile(filepath.Join(*out, "consent.parquet"))
	case "run":
		if os.Getenv("DPSTATS_BENCH_TEST_RUN") == "fail" {
			return fmt.Errorf("run: budget refused")
		}
		if os.Getenv("DPSTATS_BENCH_TEST_RUN") == "noreport" {
			return nil
		}
		// As dpstats: the ledger must exist (run never creates one); and
		// the harness's must be fresh.
		if fi, err := os.Stat(*ledger); err != nil {
			return fmt.Errorf("run: open ledger: %w", err)
		} else if fi.Size() != 0 {
			return fmt.Errorf("run: ledger %s is not fresh", *ledger)
		}
		if err := os.WriteFile(*ledger, []byte("{}\n"), 0o644); err != nil {
			return err
		}
		for _, p := range []string{*cpu, *mem} {
			if p != "" {
				if err := os.WriteFile(p, []byte("profile"), 0o644); err != nil {
					return err
				}
			}
		}
		dir := filepath.Join(*out, strings.TrimSuffix(filepath.Base(*job), ".yaml"), *period)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, `{"level":"INFO","msg":"published"}`)
		return os.WriteFile(filepath.Join(dir, "report.json"), []byte("{}"), 0o644)
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
	return nil
}

// writeConsentFile writes a consent export in which the 7 users of
// writeEvents granted playback_stats, one of them twice.
func writeConsentFile(path string) error {
	mem := memory.NewGoAllocator()
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "user_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "category", Type: arrow.BinaryTypes.String},
		{Name: "granted", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "updated_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	}, nil)
	rb := array.NewRecordBuilder(mem, sc)
	defer rb.Release()
	for i := range 8 {
		rb.Field(0).(*array.Int64Builder).Append(int64(i % 7))
		rb.Field(1).(*array.StringBuilder).Append("playback_stats")
		rb.Field(2).(*array.BooleanBuilder).Append(true)
		rb.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(int64(i) * 1000))
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := pqarrow.NewFileWriter(sc, f, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
	if err != nil {
		return err
	}
	if err := w.Write(rec); err != nil {
		return err
	}
	return w.Close()
}

// writeEvents writes a Parquet file of n rows with the columns of
// testExplain and one more that the floor must not read.
func writeEvents(path string, n int) error {
	mem := memory.NewGoAllocator()
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "user_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "event_time", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "device_type", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "bitrate_kbps", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "title", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	rb := array.NewRecordBuilder(mem, sc)
	defer rb.Release()
	for i := range n {
		rb.Field(0).(*array.Int64Builder).Append(int64(i % 7))
		rb.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(int64(i) * 1000))
		rb.Field(2).(*array.StringBuilder).Append([]string{"roku", "web"}[i%2])
		rb.Field(3).(*array.Int64Builder).Append(int64(1000 + i))
		rb.Field(4).(*array.StringBuilder).Append("secret")
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	// Small row groups, so that the floor reads more than one.
	w, err := pqarrow.NewFileWriter(sc, f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(1000)), pqarrow.DefaultWriterProps())
	if err != nil {
		return err
	}
	if err := w.Write(rec); err != nil {
		return err
	}
	return w.Close()
}

// fakeBin makes the test binary the harness's dpstats for this test.
func fakeBin(t *testing.T) string {
	t.Helper()
	t.Setenv("DPSTATS_BENCH_TEST_ROLE", "dpstats")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func readMarker(t *testing.T, dir string) marker {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, markerName))
	if err != nil {
		t.Fatal(err)
	}
	var m marker
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
