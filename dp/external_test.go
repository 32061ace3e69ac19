package dp

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/google/differential-privacy/go/v3/dpagg"
	"github.com/google/differential-privacy/go/v3/noise"
)

// The intervals of an external release are those of the library's own
// aggregation with the same parameters: draw with the library, hand the
// noisy value to ReleaseExternal, and compare with the library's interval.
func TestReleaseExternalIntervalsAreTheLibrarys(t *testing.T) {
	for _, noiseKind := range []NoiseKind{NoiseLaplace, NoiseGaussian} {
		for _, sel := range []bool{false, true} {
			base := MetricOptions{Epsilon: 1.3, Delta: 1e-6, Noise: noiseKind, MaxPartitions: 3, MaxPerPartition: 4,
				ConfidenceLevel: 0.9, CapsCutFraction: 0.1, SelectPartitions: sel}
			if !sel {
				base.Partitions = []string{"a"}
			}
			t.Run(string(noiseKind)+map[bool]string{true: "-select", false: "-public"}[sel], func(t *testing.T) {
				for _, tc := range []struct {
					kind         Kind
					lower, upper float64
					lib          func(o MetricOptions) (float64, noise.ConfidenceInterval)
				}{
					{KindUsers, 0, 0, func(o MetricOptions) (float64, noise.ConfidenceInterval) {
						eps, del, _, _ := o.split()
						c, err := dpagg.NewCount(&dpagg.CountOptions{Epsilon: eps, Delta: del, MaxPartitionsContributed: 3, Noise: o.noise()})
						must(t, err)
						must(t, c.IncrementBy(2))
						v, err := c.Result()
						must(t, err)
						ci, err := c.ComputeConfidenceInterval(1 - 0.9) // as Release computes α
						must(t, err)
						return float64(v), ci
					}},
					{KindCount, 0, 0, func(o MetricOptions) (float64, noise.ConfidenceInterval) {
						eps, del, _, _ := o.split()
						c, err := dpagg.NewBoundedSumInt64(&dpagg.BoundedSumInt64Options{Epsilon: eps, Delta: del, MaxPartitionsContributed: 3, Lower: 0, Upper: 4, Noise: o.noise()})
						must(t, err)
						must(t, c.Add(3))
						v, err := c.Result()
						must(t, err)
						ci, err := c.ComputeConfidenceInterval(1 - 0.9) // as Release computes α
						must(t, err)
						return float64(v), ci
					}},
					{KindSum, -2, 5, func(o MetricOptions) (float64, noise.ConfidenceInterval) {
						eps, del, _, _ := o.split()
						c, err := dpagg.NewBoundedSumFloat64(&dpagg.BoundedSumFloat64Options{Epsilon: eps, Delta: del, MaxPartitionsContributed: 3, Lower: -8, Upper: 20, Noise: o.noise()})
						must(t, err)
						must(t, c.Add(7.5))
						v, err := c.Result()
						must(t, err)
						ci, err := c.ComputeConfidenceInterval(1 - 0.9) // as Release computes α
						must(t, err)
						return v, ci
					}},
					{KindSum, 1, 5, func(o MetricOptions) (float64, noise.ConfidenceInterval) {
						eps, del, _, _ := o.split()
						c, err := dpagg.NewBoundedSumFloat64(&dpagg.BoundedSumFloat64Options{Epsilon: eps, Delta: del, MaxPartitionsContributed: 3, Lower: 4, Upper: 20, Noise: o.noise()})
						must(t, err)
						must(t, c.Add(7.5))
						v, err := c.Result()
						must(t, err)
						ci, err := c.ComputeConfidenceInterval(1 - 0.9) // as Release computes α
						must(t, err)
						return v, ci
					}},
				} {
					o := base
					o.Name, o.Kind, o.Lower, o.Upper = "m", tc.kind, tc.lower, tc.upper
					for range 20 {
						v, want := tc.lib(o)
						names := []string{"a", "other"}
						if sel {
							names = []string{"x"}
						}
						var parts []ExternalPartition
						for _, n := range names {
							parts = append(parts, ExternalPartition{Name: n, Value: v})
						}
						rel, err := ReleaseExternal(o, ExternalRelease{Partitions: parts, CapsCut: &ExternalCapsCut{Cut: 1, Kept: 5}})
						must(t, err)
						got := rel.Partitions[0]
						// Equal up to rounding: the compiler may fuse the library's
						// multiply-add differently where it is inlined.
						if !near(got.Lower, want.LowerBound) || !near(got.Upper, want.UpperBound) {
							t.Fatalf("%s: value %v: interval [%v, %v], the library's [%v, %v]", tc.kind, v, got.Lower, got.Upper, want.LowerBound, want.UpperBound)
						}
						if nonNeg := tc.kind != KindSum || tc.lower >= 0; nonNeg && v < 0 != got.Clamped || (got.Clamped && got.Value != 0) || (!got.Clamped && got.Value != v) {
							t.Fatalf("%s: value %v released as %v (clamped %v)", tc.kind, v, got.Value, got.Clamped)
						}
					}
				}
			})
		}
	}
}

// The caps-cut estimate's intervals are those of two dpagg.Counts with
// l0 = 1 at the estimate's budget, as Aggregator.capsCut draws them.
func TestReleaseExternalCapsCut(t *testing.T) {
	o := MetricOptions{Name: "m", Kind: KindCount, Epsilon: 2, MaxPartitions: 2, MaxPerPartition: 3, CapsCutFraction: 0.1}
	bp := o.parts()
	rel, err := ReleaseExternal(o, ExternalRelease{
		Partitions: []ExternalPartition{{Name: "total", Value: 40}},
		CapsCut:    &ExternalCapsCut{Cut: 7, Kept: -2},
	})
	must(t, err)
	c, err := dpagg.NewCount(&dpagg.CountOptions{Epsilon: bp.capsEps, MaxPartitionsContributed: 1, Noise: o.noise()})
	must(t, err)
	_, _ = c.Result()
	full, _ := noise.Laplace().ComputeConfidenceIntervalInt64(7, 1, 1, bp.capsEps, 0, 0.05)
	cc := rel.CapsCut
	if cc == nil || cc.Users != 7 || cc.UsersLower != math.Max(0, full.LowerBound) || cc.UsersUpper != full.UpperBound {
		t.Fatalf("caps cut %+v, want users 7 in [%v, %v]", cc, full.LowerBound, full.UpperBound)
	}
	if cc.Contributing != 7 || cc.Share != 1 || cc.Epsilon != bp.capsEps {
		t.Fatalf("caps cut %+v: negative kept count must count as 0", cc)
	}
}

func TestReleaseExternalKinds(t *testing.T) {
	mean := MetricOptions{Name: "m", Kind: KindMean, Epsilon: 1, MaxPartitions: 1, MaxPerPartition: 2, Lower: 0, Upper: 10,
		Partitions: []string{"b", "a"}}
	if _, err := ReleaseExternal(mean, ExternalRelease{Partitions: []ExternalPartition{{Name: "a"}, {Name: "b"}, {Name: "other"}}}); err == nil {
		t.Fatal("a mean without the reason for its missing interval was released")
	}
	rel, err := ReleaseExternal(mean, ExternalRelease{MeanNoInterval: "none, because",
		Partitions: []ExternalPartition{{Name: "other", Value: 3}, {Name: "a", Value: 1}, {Name: "b", Value: 2}}})
	must(t, err)
	var order []string
	for _, p := range rel.Partitions {
		order = append(order, p.Name)
		if p.NoInterval != "none, because" || p.Lower != p.Value || p.Upper != p.Value {
			t.Fatalf("mean partition %+v: want no interval, with the note", p)
		}
	}
	if strings.Join(order, ",") != "b,a,other" {
		t.Fatalf("public partitions in order %v, want the spec's order then other", order)
	}
	for _, bad := range [][]ExternalPartition{
		{{Name: "a"}, {Name: "b"}},                                 // other missing
		{{Name: "a"}, {Name: "b"}, {Name: "x"}},                    // unknown partition
		{{Name: "a"}, {Name: "b"}, {Name: "other"}, {Name: "a"}},   // twice
		{{Name: "a"}, {Name: "b"}, {Name: "other"}, {Name: "new"}}, // too many
	} {
		if _, err := ReleaseExternal(mean, ExternalRelease{MeanNoInterval: "x", Partitions: bad}); err == nil {
			t.Fatalf("partitions %v were accepted", bad)
		}
	}

	q := MetricOptions{Name: "q", Kind: KindQuantiles, Epsilon: 1, Delta: 1e-5, MaxPartitions: 2, MaxPerPartition: 2, Lower: 0, Upper: 10,
		Ranks: []float64{0.5, 0.9}, SelectPartitions: true}
	rel, err = ReleaseExternal(q, ExternalRelease{QuantileNoInterval: "none, because",
		Partitions: []ExternalPartition{{Name: "z", Quantiles: []float64{1, 2}, Values: 9, HasValues: true}, {Name: "c", Quantiles: []float64{3, 4}}}})
	must(t, err)
	if rel.Partitions[0].Name != "c" || rel.Partitions[1].Name != "z" {
		t.Fatalf("selected partitions %+v, want name order", rel.Partitions)
	}
	z := rel.Partitions[1]
	bp := q.parts()
	ci, _ := noise.Laplace().ComputeConfidenceIntervalInt64(9, 2, 2, bp.countEps, 0, 0.05)
	if z.Values != 9 || z.ValuesLower != math.Max(0, ci.LowerBound) || z.ValuesUpper != ci.UpperBound {
		t.Fatalf("value count %v [%v, %v], want 9 [%v, %v]", z.Values, z.ValuesLower, z.ValuesUpper, ci.LowerBound, ci.UpperBound)
	}
	if len(z.Quantiles) != 2 || z.Quantiles[1].Value != 2 || z.Quantiles[1].NoInterval != "none, because" {
		t.Fatalf("quantiles %+v", z.Quantiles)
	}
	if _, err := ReleaseExternal(q, ExternalRelease{QuantileNoInterval: "x", Partitions: []ExternalPartition{{Name: "c", Quantiles: []float64{1}}}}); err == nil {
		t.Fatal("a partition with too few quantiles was accepted")
	}
	zc := MetricOptions{Name: "z", Kind: KindUsers, Rho: 0.5, MaxPartitions: 1, Noise: NoiseGaussian}
	if _, err := ReleaseExternal(zc, ExternalRelease{Partitions: []ExternalPartition{{Name: "total"}}}); err == nil {
		t.Fatal("a zCDP metric was released externally")
	}
	cnt := MetricOptions{Name: "c", Kind: KindCount, Epsilon: 1, MaxPartitions: 1, MaxPerPartition: 1, CapsCutFraction: 0.1}
	if _, err := ReleaseExternal(cnt, ExternalRelease{Partitions: []ExternalPartition{{Name: "total"}}}); err == nil {
		t.Fatal("a release without its caps-cut estimate and without a reason was accepted")
	}
	rel, err = ReleaseExternal(cnt, ExternalRelease{CapsCutNote: "not estimated", Partitions: []ExternalPartition{{Name: "total", Value: 5}}})
	must(t, err)
	if rel.CapsCut != nil || !slices.Contains(rel.Warnings, "not estimated") {
		t.Fatalf("release %+v: want no estimate and its note as a warning", rel)
	}
	if rel.Partitions[0].Share != 1 {
		t.Fatalf("count share %v, want 1 (post-processing as in Release)", rel.Partitions[0].Share)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(a)+math.Abs(b)) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
