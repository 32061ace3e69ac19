package reports

import (
	"strings"
	"testing"
)

func TestFmtDuration(t *testing.T) {
	const n = thinSpace
	tests := []struct {
		sec  float64
		want string
	}{
		{0, "0" + n + "min"},
		{25, "<" + n + "1" + n + "min"},
		{31, "1" + n + "min"},
		{65.6, "1" + n + "min"},
		{59 * 60, "59" + n + "min"},
		{3599, "1" + n + "h"}, // 59.98 min rounds to the hour
		{4161.64, "1" + n + "h 09" + n + "min"},
		{14400, "4" + n + "h"},
		{-600, minus + "10" + n + "min"},
		{-10, "0" + n + "min"},
	}
	for _, tt := range tests {
		if got := fmtDuration(tt.sec); got != tt.want {
			t.Errorf("fmtDuration(%v) = %q, want %q", tt.sec, got, tt.want)
		}
	}
}

func TestValueFormatterUnits(t *testing.T) {
	const n = thinSpace
	tests := []struct {
		kind, unit string
		v          float64
		want       string
	}{
		{KindMean, "s", 4161.64, "1" + n + "h 09" + n + "min"},
		{KindMean, "min", 94.2, "1" + n + "h 34" + n + "min"},
		{KindQuantiles, "ms", 90000, "2" + n + "min"},
		{KindMean, "kbps", 4120.12, "4" + n + "120" + n + "kbps"},
		{KindMean, "", 4.134, "4.13"},
		{KindCount, "s", 1234.4, "1" + n + "234"}, // counts are counts, whatever the unit
	}
	for _, tt := range tests {
		m := &Metric{Kind: tt.kind, Unit: tt.unit}
		if got := valueFormatter(m)(tt.v); got != tt.want {
			t.Errorf("%s in %q: %v shown as %q, want %q", tt.kind, tt.unit, tt.v, got, tt.want)
		}
	}
}

func TestBucketLabel(t *testing.T) {
	const n = thinSpace
	tests := []struct {
		lo, hi *float64
		unit   string
		want   string
	}{
		{f64(0), f64(60), "s", "0–1" + n + "min"},
		{f64(1800), f64(3600), "s", "30" + n + "min–1" + n + "h"},
		{f64(5400), f64(7200), "s", "1.5–2" + n + "h"},
		{f64(10800), nil, "s", "≥" + n + "3" + n + "h"},
		{f64(45), f64(90), "s", "45–90" + n + "s"},
		{f64(30), f64(120), "s", "30" + n + "s–2" + n + "min"},
		{f64(8000), f64(16000), "kbps", "8000–15999"},
		{f64(40000), nil, "kbps", "≥" + n + "40000"},
		{f64(0.5), f64(1.5), "", "0.5–1.5"},
	}
	for _, tt := range tests {
		got, ok := bucketLabel(Partition{BucketLower: tt.lo, BucketUpper: tt.hi}, tt.unit)
		if !ok || got != tt.want {
			t.Errorf("bucketLabel(%v, %v, %q) = %q, %v; want %q", *tt.lo, tt.hi, tt.unit, got, ok, tt.want)
		}
	}
	if _, ok := bucketLabel(Partition{Name: "other"}, "s"); ok {
		t.Error("a partition without edges got a bucket label")
	}
}

// TestNoiseRule checks each arm of the mostly-noise rule, and that it reads
// nothing but the released numbers and the public bounds.
func TestNoiseRule(t *testing.T) {
	mean := &Metric{Kind: KindMean, Unit: "s", Lower: 0, Upper: 14400}
	quant := &Metric{Kind: KindQuantiles, Unit: "s", Lower: 0, Upper: 14400}
	sum := &Metric{Kind: KindSum, Unit: "s", Lower: 0, Upper: 14400}
	count := &Metric{Kind: KindCount}
	tests := []struct {
		name string
		m    *Metric
		p    Partition
		want string // substring of the reason; "" = not mostly noise
	}{
		{"precise mean", mean, Partition{Value: 4161, Lower: 3811, Upper: 4512}, ""},
		{"mean at the upper bound", mean, Partition{Value: 14400, Lower: 14300, Upper: 14400}, "upper clamp bound (4\u202fh)"},
		{"mean near the upper bound", mean, Partition{Value: 14390, Lower: 14000, Upper: 14400}, "upper clamp bound"},
		{"mean at the lower bound", mean, Partition{Value: 0, Lower: 0, Upper: 30}, "lower clamp bound"},
		{"mean whose interval spans the range", mean, Partition{Value: 9000, Lower: 1000, Upper: 9000}, "over half the range"},
		{"mean with a wide interval", mean, Partition{Value: 95, Lower: 0, Upper: 402}, "wider than the estimate"},
		{"a sum is not bounded by [lower, upper]", sum, Partition{Value: 14400, Lower: 14000, Upper: 14800}, ""},
		{"quantile without interval at a bound", quant, Partition{Value: 14400, IntervalNote: "none", Quantiles: []Quantile{{Rank: 0.5, Value: 14400}}}, "p50: at the upper clamp bound"},
		{"quantile without interval, mid-range", quant, Partition{Value: 3519, IntervalNote: "none", Quantiles: []Quantile{{Rank: 0.5, Value: 3519}}}, ""},
		{"quantile with a wide interval", quant, Partition{Quantiles: []Quantile{{0.5, 4407, f64(4000), f64(4800), ""}, {0.9, 9000, f64(600), f64(13000), ""}}}, "p90: interval spans over half"},
		{"count", count, Partition{Value: 1000, Lower: 900, Upper: 1100}, ""},
		{"negative count", count, Partition{Value: -37, Lower: -636, Upper: 561}, "estimate is 0"},
		{"small count", count, Partition{Value: 101, Lower: -497, Upper: 699}, "wider than the estimate"},
		{"share judged by its share interval", count, Partition{Value: 1000, Lower: 400, Upper: 1600, Share: f64(0.2), ShareLower: f64(0.19), ShareUpper: f64(0.21)}, ""},
		{"narrow count, wide share", count, Partition{Value: 1000, Lower: 990, Upper: 1010, Share: f64(0.02), ShareLower: f64(0), ShareUpper: f64(0.05)}, "wider than the estimate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := noiseReason(tt.m, tt.p)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("noiseReason = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValueOrder(t *testing.T) {
	ps := []Partition{{Name: "other", Share: f64(0.5)}, {Name: "a", Share: f64(0.1)}, {Name: "b", Share: f64(0.3)}, {Name: "c", Share: f64(0.3)}, {Name: "d", Value: 9}}
	var got []string
	for _, p := range valueOrder(ps) {
		got = append(got, p.Name)
	}
	// d has no share: its value (9) sorts it first; equal shares keep spec order.
	if want := "d b c a other"; strings.Join(got, " ") != want {
		t.Errorf("order = %q, want %q", strings.Join(got, " "), want)
	}
	if ps[0].Name != "other" {
		t.Error("valueOrder changed its argument")
	}
}

func TestHistogramCaption(t *testing.T) {
	equal := &Metric{Kind: KindCount, Dimension: "x", BucketUnit: "kbps", Partitions: withBuckets([]Partition{{}, {}, {}}, 0, 10, 20, 30)}
	equal.Partitions[2].BucketUpper = f64(30)
	if got := strings.Join(histogramCaption(equal, true), " "); strings.Contains(got, "equally wide") || !strings.Contains(got, "in kbps") {
		t.Errorf("equal buckets: caption %q", got)
	}
	open := &Metric{Kind: KindUsers, Dimension: "d", BucketUnit: "s", Partitions: withBuckets([]Partition{{}, {}, {}}, 0, 10, 20)}
	if got := strings.Join(histogramCaption(open, false), " "); !strings.Contains(got, "drawn equally wide: a bar’s height is the number of users") || strings.Contains(got, " in s.") {
		t.Errorf("open last bucket: caption %q", got)
	}
	if got := histogramCaption(&Metric{Partitions: []Partition{{Name: "a"}}}, true); got != nil {
		t.Errorf("no buckets: caption %q", got)
	}
}
