package dp

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/differential-privacy/go/v3/noise"
)

// TestGaussianEpsilonCliff pins down the library's limit that
// MaxGaussianEpsilon guards against: noise.SigmaForGaussian returns σ > 0 up
// to ε ≈ 709.436 and σ = 0 above (its Gaussian sampler then loops forever on
// a NaN), whatever δ, l0 and l∞. Only the σ search is called here: it
// returns; the sampler at σ = 0 would hang the test. If a new library
// version moves the cliff, this test says so.
func TestGaussianEpsilonCliff(t *testing.T) {
	for _, l0 := range []int64{1, 4, 1000, 1 << 40} {
		for _, linf := range []float64{1e-6, 1, 1e6} {
			for _, del := range []float64{1e-300, 1e-10, 0.5} {
				name := fmt.Sprintf("l0=%d linf=%g delta=%g", l0, linf, del)
				for _, eps := range []float64{MaxGaussianEpsilon, 709} {
					if s := noise.SigmaForGaussian(l0, linf, eps, del); !(s > 0) {
						t.Errorf("%s: σ at ε = %g is %g, want > 0", name, eps, s)
					}
				}
				for _, eps := range []float64{709.5, 710, 1e3, 1e6} {
					if s := noise.SigmaForGaussian(l0, linf, eps, del); s != 0 {
						t.Errorf("%s: σ at ε = %g is %g; the library's cliff moved (MaxGaussianEpsilon's comment)", name, eps, s)
					}
				}
			}
		}
	}
}

// hangProne returns options of every kind of mechanism that uses the
// library's Gaussian noise: noise Gaussian (every kind, with the caps-cut
// estimate) or partition selection with max_partitions > 3 (Laplace noise).
func hangProne() []MetricOptions {
	base := MetricOptions{Name: "m", MaxPartitions: 4, MaxPerPartition: 3, Lower: 0, Upper: 10, Ranks: []float64{0.5},
		Delta: 1e-6, Noise: NoiseGaussian, CapsCutFraction: 0.1, Partitions: []string{"a", "b"}}
	var out []MetricOptions
	for _, k := range []Kind{KindUsers, KindCount, KindSum, KindMean, KindQuantiles} {
		o := base
		o.Kind, o.Name = k, "gaussian_"+string(k)
		out = append(out, o)
		o.Name, o.CapsCutFraction = "gaussian_nocaps_"+string(k), 0
		out = append(out, o)
		o = base
		o.Kind, o.Name, o.Noise, o.Partitions, o.SelectPartitions = k, "selection_"+string(k), NoiseLaplace, nil, true
		out = append(out, o)
	}
	return out
}

func TestGaussianEpsilonRefused(t *testing.T) {
	for _, o := range hangProne() {
		t.Run(o.Name, func(t *testing.T) {
			o.Epsilon = 1
			scale := o.EpsilonScale()
			if !(scale > 1 && !math.IsInf(scale, 0)) {
				t.Fatalf("EpsilonScale() = %v, want a finite scale > 1", scale)
			}
			for _, eps := range []float64{scale * 1.001, 1e4, 1e6, math.MaxFloat64} {
				o.Epsilon = eps
				err := o.Validate()
				if err == nil || !strings.Contains(err.Error(), "noise library") {
					t.Errorf("ε = %g (scale %g): Validate() = %v, want the noise library's limit", eps, scale, err)
				}
			}
			o.Epsilon = scale * (1 - 1e-9)
			if err := o.Validate(); err != nil {
				t.Errorf("ε = %g, just below the limit: %v", o.Epsilon, err)
			}
		})
	}
	// What never hangs stays allowed at any ε: Laplace noise, and selection
	// with max_partitions ≤ 3 (the library's closed form).
	for _, k := range []Kind{KindUsers, KindCount, KindSum, KindMean, KindQuantiles} {
		for _, sel := range []bool{false, true} {
			o := MetricOptions{Name: "m", Kind: k, Epsilon: 1e6, MaxPartitions: 3, MaxPerPartition: 3, Lower: 0, Upper: 10, Ranks: []float64{0.5},
				CapsCutFraction: 0.1, Partitions: []string{"a"}}
			if sel {
				o.Partitions, o.SelectPartitions, o.Delta = nil, true, 1e-6
			}
			if err := o.Validate(); err != nil {
				t.Errorf("laplace %s selection=%v at ε = 1e6: %v", k, sel, err)
			}
			if s := o.EpsilonScale(); !math.IsInf(s, 1) {
				t.Errorf("laplace %s selection=%v: EpsilonScale() = %v, want +Inf", k, sel, s)
			}
		}
	}
}

// TestGaussianEpsilonAtTheLimitReturns runs the library at the largest ε
// Validate allows for each hang-prone mechanism: the release must return
// within seconds (above the cliff it would never return).
func TestGaussianEpsilonAtTheLimitReturns(t *testing.T) {
	for _, o := range hangProne() {
		t.Run(o.Name, func(t *testing.T) {
			o.Epsilon = 1
			o.Epsilon = o.EpsilonScale() * (1 - 1e-9)
			if eps, what := o.GaussianEpsilon(); !(eps > 0.99*MaxGaussianEpsilon && eps <= MaxGaussianEpsilon) {
				t.Fatalf("the %s gets ε = %v, want just below %v", what, eps, MaxGaussianEpsilon)
			}
			done := make(chan error, 1)
			go func() {
				a, err := NewAggregator(o)
				if err != nil {
					done <- err
					return
				}
				for u := uint32(0); u < 200; u++ {
					a.Add(u, int32(u%2), float64(u%10))
				}
				var names []string
				if o.SelectPartitions {
					names = []string{"a", "b"}
				}
				_, err = a.Release(names)
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the release at the largest allowed ε did not return within 20s")
			}
		})
	}
}
