package jobs

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/dpstats/dpstats/dp"
	"github.com/dpstats/dpstats/reports"
)

// fakeRelease returns a release of every metric of spec with made-up noisy
// values: what buildReport maps, without reading any data.
func fakeRelease(spec *Spec) []*dp.Released {
	var out []*dp.Released
	for i := range spec.Metrics {
		m := &spec.Metrics[i]
		rel := &dp.Released{Name: m.Name, Epsilon: 0.01, ConfidenceLevel: 0.95, MaxPartitions: m.MaxPartitions, MaxPerPartition: m.MaxPerPartition}
		if m.Kind.HasValue() {
			rel.Lower, rel.Upper = m.Lower, m.Upper
		}
		for j, name := range m.PublishedPartitions() {
			v := float64(100 * (j + 1))
			p := dp.ReleasedPartition{Name: name, Value: v, Lower: v - 10, Upper: v + 10}
			switch m.Kind {
			case KindCount, KindUsers:
				p.Share, p.ShareLower, p.ShareUpper = 0.1, 0.05, 0.15
			case KindQuantiles:
				p.Value, p.Lower, p.Upper = 0, 0, 0
				for k, rk := range m.Ranks {
					p.Quantiles = append(p.Quantiles, dp.QuantileValue{Rank: rk, Value: v + float64(k)})
				}
			}
			rel.Partitions = append(rel.Partitions, p)
		}
		out = append(out, rel)
	}
	return out
}

// TestBuildReportMapping checks what the report is told about each release:
// the job's human title, numeric bucket edges, and quantiles whose lower and
// upper are never the clamping bounds.
func TestBuildReportMapping(t *testing.T) {
	spec := shippedSpec(t)
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	r, err := buildReport(Config{Spec: spec, Period: "2026-11-01", RunID: "run-1"}, start, start.AddDate(0, 0, 1), start.AddDate(0, 0, 1), fakeRelease(spec))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Title, "Daily playback statistics"; got != want {
		t.Errorf("Title = %q, want %q (from the spec's title:)", got, want)
	}
	metric := func(name string) *reports.Metric {
		for i := range r.Metrics {
			if r.Metrics[i].Name == name {
				return &r.Metrics[i]
			}
		}
		t.Fatalf("no metric %s", name)
		return nil
	}

	b := metric("bitrate_distribution")
	if b.BucketUnit != "kbps" {
		t.Errorf("bitrate BucketUnit = %q, want kbps", b.BucketUnit)
	}
	var edges []float64
	for _, m := range spec.Metrics {
		if m.Name == "bitrate_distribution" {
			edges = m.Buckets.Edges
		}
	}
	for i, p := range b.Partitions {
		switch {
		case p.Name == OtherPartition:
			if p.BucketLower != nil || p.BucketUpper != nil {
				t.Errorf("other has bucket edges")
			}
		case i == len(edges)-1:
			if p.BucketLower == nil || *p.BucketLower != edges[i] || p.BucketUpper != nil {
				t.Errorf("last bucket %q: edges %v, %v, want [%v, open)", p.Name, p.BucketLower, p.BucketUpper, edges[i])
			}
		default:
			if p.BucketLower == nil || p.BucketUpper == nil || *p.BucketLower != edges[i] || *p.BucketUpper != edges[i+1] {
				t.Errorf("bucket %q: edges %v, %v, want [%v, %v)", p.Name, p.BucketLower, p.BucketUpper, edges[i], edges[i+1])
			}
		}
	}
	if d := metric("playback_duration_distribution"); d.BucketUnit != "s" {
		t.Errorf("duration BucketUnit = %q, want s", d.BucketUnit)
	}
	if m := metric("device_type_share"); m.BucketUnit != "" || m.Partitions[0].BucketLower != nil {
		t.Error("a categorical metric has bucket edges")
	}

	q := metric("median_duration_by_media_type")
	if q.Unit != "s" || q.Lower != 0 || q.Upper != 14400 {
		t.Errorf("quantiles metric: unit %q, bounds [%v, %v], want s, [0, 14400]", q.Unit, q.Lower, q.Upper)
	}
	for _, p := range q.Partitions {
		if p.Value != p.Quantiles[0].Value {
			t.Errorf("%s: value %v, want the median %v", p.Name, p.Value, p.Quantiles[0].Value)
		}
		if p.IntervalNote == "" && (p.Quantiles[0].Lower == nil || p.Lower != *p.Quantiles[0].Lower) {
			t.Errorf("%s: neither the median's interval nor a note saying why it has none", p.Name)
		}
		if p.IntervalNote != "" && (p.Lower != 0 || p.Upper != 0) {
			t.Errorf("%s: lower/upper %v, %v set although the value has no interval", p.Name, p.Lower, p.Upper)
		}
	}

	// In the published long-format CSV, no quantile row carries the clamping
	// bounds as its interval, and every row has an interval or a note.
	var buf bytes.Buffer
	if err := reports.WriteTidyCSV(&buf, r); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	for _, row := range rows[1:] {
		lo, hi, note := row[col["lower"]], row[col["upper"]], row[col["interval_note"]]
		if (lo == "") != (hi == "") || (lo == "") == (note == "") {
			t.Errorf("row %q: want an interval or a note, exactly one", strings.Join(row, ","))
		}
		if row[col["kind"]] == "quantiles" && lo == "0.0" && hi == "14400.0" {
			t.Errorf("quantile row with the clamping bounds as its interval: %q", strings.Join(row, ","))
		}
	}
}
