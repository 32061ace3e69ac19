package dp

import (
	"fmt"
	"math"
	"testing"
)

// TestStreamedReleaseFeedsEachPartition: sum and mean releases feed the
// library straight from the per-user state, every partition at once
// (streamed), quantiles one partition per pass (streamedEach); each
// released partition must get exactly its own values.
// Every partition p has its own value 10(p+1) (mean) or total (sum), 10
// apart, with public and with discovered partitions, and ε = 50 makes
// the noise tiny: the library's Laplace noise on the (normalized) sum of
// 1000 users has scale ≤ l0·l∞·100/(ε/2) = 4, so an error of 1 in a mean
// (1000 in its sum) or of 2000 in a sum of ~10⁴ has probability below
// e⁻²⁵⁰ (and the count's even less): a value in the wrong partition is off
// by ≥ 10 (means) or ≥ 10⁴ (sums), always caught. A median of 1000 equal
// values v is v up to the tree's leaf width (100/16⁴) unless noise of
// scale ≤ 1 on its node counts outweighs 1000: never in practice; the
// number of values (1000) gets noise of scale ≤ 1 and is checked ± 100.
func TestStreamedReleaseFeedsEachPartition(t *testing.T) {
	const users = 1000
	for _, kind := range []Kind{KindMean, KindSum, KindQuantiles} {
		for _, discovered := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/discovered=%v", kind, discovered), func(t *testing.T) {
				opt := MetricOptions{Name: "m", Kind: kind, Epsilon: 50, MaxPartitions: 1, MaxPerPartition: 1,
					Lower: 0, Upper: 100, Partitions: publicNames(3), Ranks: []float64{0.5}}
				if discovered {
					opt.Partitions, opt.SelectPartitions, opt.Delta = nil, true, 1e-6
				}
				if !opt.streamed() && !opt.streamedEach(4) {
					t.Fatal("want a streamed release")
				}
				a, err := NewAggregator(opt)
				if err != nil {
					t.Fatal(err)
				}
				// partitions in a scrambled order of users
				for u := uint32(0); u < 4*users; u++ {
					p := int32(u*7) % 4
					a.Add(u, p, 10*float64(p+1))
				}
				var names []string
				if discovered {
					names = []string{"d", "b", "c", "a"} // released in name order
				}
				rel, err := a.Release(names)
				if err != nil {
					t.Fatal(err)
				}
				want := map[string]float64{"a": 10, "b": 20, "c": 30, OtherName: 40}
				if discovered {
					want = map[string]float64{"d": 10, "b": 20, "c": 30, "a": 40}
				}
				if len(rel.Partitions) != 4 {
					t.Fatalf("%d partitions released, want 4", len(rel.Partitions))
				}
				for _, rp := range rel.Partitions {
					w, tol := want[rp.Name], 1.0
					if kind == KindSum {
						w, tol = w*users, 2000
					}
					got := rp.Value
					if kind == KindQuantiles {
						got = rp.Quantiles[0].Value
						if math.Abs(rp.Values-users) > 100 {
							t.Errorf("partition %s: %v values released, want %d ± 100", rp.Name, rp.Values, users)
						}
					}
					if math.Abs(got-w) > tol {
						t.Errorf("partition %s: released %v, want %v ± %v", rp.Name, got, w, tol)
					}
				}
			})
		}
	}
}
