package reports

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The fixture history: job media-usage, 10 days from Thu 1 Jan 2026.
//   - 2026-01-04 has no report (a gap: no directory);
//   - 2026-01-07's report.json is damaged (a gap, listed as a problem);
//   - notes/ is a directory that holds no report;
//   - device_share (count, shares) has a weekend pattern in tv, and a
//     partition "console" that only exists from 2026-01-08;
//   - session_length (quantiles) has intervals from 2026-01-03 only;
//   - resolution_mix changed kind (users → count) on 2026-01-06.
const historyJob = "media-usage"

var historyStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func historyFixtureDir() string { return filepath.Join("testdata", "history", historyJob) }

// historyFixtureReport is the report of day d (0 = 2026-01-01).
func historyFixtureReport(d int) *Report {
	day := historyStart.AddDate(0, 0, d)
	weekend := 0.0
	if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
		weekend = 1
	}
	fd := float64(d)
	r := &Report{
		Job: historyJob, Period: day.Format(time.DateOnly), RunID: "run-" + day.Format("20060102"), ToolVersion: "v0.4.0",
		PeriodStart: day, PeriodEnd: day.AddDate(0, 0, 1), GeneratedAt: day.AddDate(0, 0, 1).Add(2 * time.Hour),
		Epsilon: 0.3, Noise: "laplace",
		Ledger: LedgerSummary{WindowDays: 30, EpsilonSpent: 0.3 * (fd + 1), EpsilonCap: 10, DeltaCap: 1e-5},
	}
	devNames := []string{"tv", "phone", "web", "other"}
	// tv: 5000 on weekdays, 8000 at weekends; web grows; other is tiny.
	devVals := []float64{5000 + 3000*weekend + 17*fd, 3000 - 11*fd, 1000 + 60*fd, 25 - 7*fd}
	if d >= 7 {
		devNames = append(devNames, "console")
		devVals = append(devVals, 400+90*fd)
	}
	r.Metrics = append(r.Metrics, Metric{
		Name: "device_share", Title: "Device type share", Kind: KindCount, Display: DisplayShare,
		Description: "Share of playback events by the kind of device.", Dimension: "device_type", ConsentCategory: "product_usage",
		MaxPartitions: 2, MaxPerPartition: 10, Epsilon: 0.1, ConfidenceLevel: 0.95,
		Partitions: countPartitions(devNames, devVals, 120),
	})
	var quants []Partition
	for i, name := range []string{"movie", "episode"} {
		base := []float64{5400, 2700}[i] + 120*weekend - 10*fd
		qs := []Quantile{{Rank: 0.5, Value: base}, {Rank: 0.9, Value: base * 1.6}}
		if d >= 2 {
			qs[0].Lower, qs[0].Upper = f64(base-300), f64(base+240)
			qs[1].Lower, qs[1].Upper = f64(base*1.6-700), f64(base*1.6+500)
		}
		quants = append(quants, Partition{Name: name, Value: base, Lower: 0, Upper: 14400, Quantiles: qs})
	}
	r.Metrics = append(r.Metrics, Metric{
		Name: "session_length", Title: "Session length by media type", Kind: KindQuantiles, Display: DisplayTable,
		Dimension: "media_type", ConsentCategory: "playback_stats", Unit: "s",
		MaxPartitions: 2, MaxPerPartition: 5, Lower: 0, Upper: 14400, Epsilon: 0.1, ConfidenceLevel: 0.95,
		Partitions: quants,
	})
	r.Metrics = append(r.Metrics, Metric{
		Name: "mean_bitrate", Title: "Mean bitrate by resolution", Kind: KindMean, Display: DisplayTable,
		Dimension: "resolution", ConsentCategory: "playback_stats", Unit: "kbps",
		MaxPartitions: 2, MaxPerPartition: 3, Lower: 0, Upper: 50000, Epsilon: 0.05, ConfidenceLevel: 0.95,
		Partitions: []Partition{
			{Name: "sd", Value: 1800 + 5*fd, Lower: 1650 + 5*fd, Upper: 1950 + 5*fd},
			{Name: "hd", Value: 8000 + 900*weekend, Lower: 7800 + 900*weekend, Upper: 8200 + 900*weekend},
		},
	})
	kind := KindUsers
	if d >= 5 {
		kind = KindCount
	}
	r.Metrics = append(r.Metrics, Metric{
		Name: "resolution_mix", Title: "Resolution mix", Kind: kind, Display: DisplayShare,
		Dimension: "resolution", ConsentCategory: "playback_stats",
		MaxPartitions: 2, MaxPerPartition: 1, Epsilon: 0.05, ConfidenceLevel: 0.95,
		Partitions: countPartitions([]string{"sd", "hd"}, []float64{2000 + 10*fd, 6000 - 20*fd}, 240),
	})
	r.Collected = []Statistic{{Name: "device_share", Kind: KindCount, Columns: []string{"user_id", "device_type"}, ConsentCategory: "product_usage", Bounds: Bounds{MaxPartitions: 2, MaxPerPartition: 10}, EpsilonShare: 0.33}}
	return r
}

// historyFixtureFiles is every file of the fixture job directory.
func historyFixtureFiles(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for d := 0; d < 10; d++ {
		if d == 3 {
			continue // 2026-01-04: no report
		}
		r := historyFixtureReport(d)
		if d == 6 {
			files[filepath.Join(r.Period, "report.json")] = []byte("{\"schema_version\": \"1.0.0\", \"job\": \"media-usage\", \"per")
			continue
		}
		var buf bytes.Buffer
		if err := WriteJSON(&buf, r); err != nil {
			t.Fatal(err)
		}
		files[filepath.Join(r.Period, "report.json")] = buf.Bytes()
	}
	files[filepath.Join("notes", "README.txt")] = []byte("not a period\n")
	return files
}

// TestHistoryFixtureFiles checks that testdata/history holds the fixture
// the code above describes (-update rewrites it).
func TestHistoryFixtureFiles(t *testing.T) {
	for name, want := range historyFixtureFiles(t) {
		path := filepath.Join(historyFixtureDir(), name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./reports -run TestHistoryFixtureFiles -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the fixture the test builds; run with -update and review the diff", path)
		}
	}
}
