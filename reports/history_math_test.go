package reports

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func sym(v, h float64) estimate { return estimate{V: v, Lo: v - h, Hi: v + h, CI: true} }

func TestHalfWidth(t *testing.T) {
	for _, tt := range []struct {
		name string
		e    estimate
		want float64
	}{
		{"symmetric", sym(10, 3), 3},
		{"clipped below at 0", estimate{V: 1, Lo: 0, Hi: 4, CI: true}, 3},
		{"clipped above at 1", estimate{V: 0.99, Lo: 0.97, Hi: 1, CI: true}, 0.02},
		{"point", estimate{V: 5, Lo: 5, Hi: 5, CI: true}, 0},
		{"inverted interval", estimate{V: 5, Lo: 6, Hi: 4, CI: true}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.halfWidth(); math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("halfWidth = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAverage(t *testing.T) {
	inf := math.Inf(1)
	seven := make([]estimate, 7)
	for i := range seven {
		seven[i] = sym(float64(100+i), 14)
	}
	for _, tt := range []struct {
		name        string
		es          []estimate
		floor, ceil float64
		want        estimate
		ok          bool
	}{
		{"none", nil, 0, inf, estimate{}, false},
		{"one day is itself", []estimate{sym(10, 2)}, -inf, inf, sym(10, 2), true},
		// 7 days of equal noise: √7 narrower. mean 103, h = 14·√7/7.
		{"seven equal days", seven, 0, inf, sym(103, 14/math.Sqrt(7)), true},
		// h = √(3² + 4²)/2 = 2.5.
		{"unequal noise", []estimate{sym(10, 3), sym(20, 4)}, -inf, inf, sym(15, 2.5), true},
		// A side clipped at 0 does not shrink the noise: the larger side counts.
		{"clipped day", []estimate{{V: 1, Lo: 0, Hi: 4, CI: true}, sym(5, 3)}, 0, inf, estimate{V: 3, Lo: 3 - 3/math.Sqrt2, Hi: 3 + 3/math.Sqrt2, CI: true}, true},
		{"clipped to the floor", []estimate{sym(1, 5), sym(2, 5)}, 0, inf, estimate{V: 1.5, Lo: 0, Hi: 1.5 + 5/math.Sqrt2, CI: true}, true},
		{"clipped to the ceiling", []estimate{sym(0.9, 0.2), sym(0.95, 0.2)}, 0, 1, estimate{V: 0.925, Lo: 0.925 - 0.2/math.Sqrt2, Hi: 1, CI: true}, true},
		{"a day without interval", []estimate{sym(10, 3), {V: 20}}, -inf, inf, estimate{V: 15}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := average(tt.es, tt.floor, tt.ceil)
			if ok != tt.ok || got.CI != tt.want.CI {
				t.Fatalf("average = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
			for _, f := range [][2]float64{{got.V, tt.want.V}, {got.Lo, tt.want.Lo}, {got.Hi, tt.want.Hi}} {
				if math.Abs(f[0]-f[1]) > 1e-9 {
					t.Errorf("average = %+v, want %+v", got, tt.want)
					break
				}
			}
		})
	}
}

func TestCompare(t *testing.T) {
	for _, tt := range []struct {
		name          string
		before, after estimate
		want          change
	}{
		// Noise √(3² + 4²) = 5.
		{"larger than the noise", sym(10, 3), sym(16, 4), change{Diff: 6, Noise: 5, CI: true, Exceeds: true}},
		{"a fall larger than the noise", sym(16, 3), sym(10, 4), change{Diff: -6, Noise: 5, CI: true, Exceeds: true}},
		{"within the noise", sym(10, 3), sym(14, 4), change{Diff: 4, Noise: 5, CI: true}},
		{"exactly the noise is not more", sym(10, 3), sym(15, 4), change{Diff: 5, Noise: 5, CI: true}},
		{"each interval alone would not overlap", sym(10, 1), sym(12.2, 1), change{Diff: 2.2, Noise: math.Sqrt2, CI: true, Exceeds: true}},
		{"intervals overlap, yet more than noise", sym(10, 3), sym(14.5, 3), change{Diff: 4.5, Noise: 3 * math.Sqrt2, CI: true, Exceeds: true}},
		{"clipped side ignored", estimate{V: 0.5, Lo: 0, Hi: 3.5, CI: true}, sym(5, 4), change{Diff: 4.5, Noise: 5, CI: true}},
		{"no interval: no verdict", estimate{V: 10}, sym(30, 1), change{Diff: 20}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := compare(tt.before, tt.after)
			if got.CI != tt.want.CI || got.Exceeds != tt.want.Exceeds || math.Abs(got.Diff-tt.want.Diff) > 1e-9 || math.Abs(got.Noise-tt.want.Noise) > 1e-9 {
				t.Errorf("compare = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// laplace draws Laplace(0, b) by inversion.
func laplace(r *rand.Rand, b float64) float64 {
	u := r.Float64() - 0.5
	if u < 0 {
		return b * math.Log(1+2*u)
	}
	return -b * math.Log(1-2*u)
}

// TestCombinedIntervalCoverage measures what history_math.go claims: the
// interval sqrt(Σ h_i²)/n of an average of independent noisy days covers
// the truth at least at the daily level for Laplace noise (conservative),
// and at the level for Gaussian noise (exact); so does the change test's
// sqrt(h₁² + h₂²), which is the n = 2 case of the same sum.
//
// Each case runs trials = 200,000 independent averages; the coverage
// estimate has standard deviation σ = √(0.95·0.05/trials) ≈ 0.00049. The
// bounds are 5σ away from the claimed rate, so a correct claim fails with
// probability below 3·10⁻⁷ per bound (about 10⁻⁵ for the whole test).
// Seeds change every run.
func TestCombinedIntervalCoverage(t *testing.T) {
	const (
		trials = 200_000
		level  = 0.95
	)
	sigma := math.Sqrt(level * (1 - level) / trials)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	z := 1.959963984540054 // Gaussian 97.5 % quantile
	for i, tt := range []struct {
		name   string
		gauss  bool
		scales []float64 // noise scale (b or σ) of each day
	}{
		{"laplace 1 day", false, []float64{1}},
		{"laplace 2 days (a change)", false, []float64{1, 1}},
		{"laplace 2 days, unequal (a change)", false, []float64{1, 4}},
		{"laplace 3 days", false, []float64{1, 1, 1}},
		{"laplace 7 days", false, []float64{1, 1, 1, 1, 1, 1, 1}},
		{"laplace 7 days, mixed ε", false, []float64{1, 2, 1, 0.5, 1, 3, 1}},
		{"gaussian 2 days (a change)", true, []float64{1, 2}},
		{"gaussian 7 days", true, []float64{1, 1, 1, 1, 1, 1, 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, uint64(i)))
			es := make([]estimate, len(tt.scales))
			covered := 0
			for range trials {
				for j, b := range tt.scales {
					var e, h float64
					if tt.gauss {
						e, h = b*r.NormFloat64(), z*b
					} else {
						e, h = laplace(r, b), b*math.Log(1/(1-level)) // P(|L| > h) = e^(−h/b) = 5 %
					}
					es[j] = sym(e, h) // truth 0
				}
				avg, _ := average(es, math.Inf(-1), math.Inf(1))
				if avg.Lo <= 0 && 0 <= avg.Hi {
					covered++
				}
			}
			cov := float64(covered) / trials
			t.Logf("coverage %.4f (level %.2f)", cov, level)
			if cov < level-5*sigma {
				t.Errorf("coverage %.4f below the level %.2f − 5σ: the combined interval is too narrow", cov, level)
			}
			if tt.gauss && cov > level+5*sigma {
				t.Errorf("Gaussian coverage %.4f above %.2f + 5σ: the combination should be exact", cov, level)
			}
		})
	}
}

// TestChangeFalseAlarms: with no real change, compare marks a change as
// larger than the noise at most 1 − level of the time (Laplace). 200,000
// pairs; bound 5σ above 5 %: false failure below 3·10⁻⁷.
func TestChangeFalseAlarms(t *testing.T) {
	const trials = 200_000
	seed := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seed, 99))
	h := math.Log(20) // 95 % half-width of Laplace(0, 1)
	alarms := 0
	for range trials {
		a, b := sym(50+laplace(r, 1), h), sym(50+laplace(r, 2), 2*h)
		if compare(a, b).Exceeds {
			alarms++
		}
	}
	rate := float64(alarms) / trials
	sigma := math.Sqrt(0.05 * 0.95 / trials)
	t.Logf("seed %d: false alarm rate %.4f", seed, rate)
	if rate > 0.05+5*sigma {
		t.Errorf("false alarm rate %.4f above 5 %% + 5σ", rate)
	}
}

func TestNiceRange(t *testing.T) {
	for _, tt := range []struct {
		name   string
		lo, hi float64
	}{
		{"shares", 0.295, 0.413},
		{"counts", 0, 12_345},
		{"flat", 4475.6, 4475.6},
		{"flat but for rounding", 4475.6, 4475.600000000001},
		{"flat zero", 0, 0},
		{"negative", -37.5, 12},
		{"tiny", 1e-7, 3e-7},
		{"huge", 1e12, 1.0000001e12},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bottom, top, step := niceRange(tt.lo, tt.hi)
			ticks := (top - bottom) / step
			if !(bottom <= tt.lo && tt.hi <= top) || !(step > 0) || ticks < 1 || ticks > 6 || bottom+step == bottom {
				t.Errorf("niceRange(%v, %v) = %v, %v, step %v (%v ticks)", tt.lo, tt.hi, bottom, top, step, ticks)
			}
		})
	}
}
