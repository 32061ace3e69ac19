package dp

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// quantileData returns n values in [0, 14400] of a named shape.
func quantileData(shape string, n int, r *rand.Rand) []float64 {
	v := make([]float64, n)
	for i := range v {
		switch shape {
		case "uniform":
			v[i] = 14400 * r.Float64()
		case "durations": // playback lengths, whole minutes, a long tail clamped at 4 h
			x := math.Exp(math.Log(2400) + 0.8*r.NormFloat64())
			v[i] = math.Min(14400, math.Round(x/60)*60)
		case "tracks": // everything in the first 1/16 of the range
			v[i] = float64(60 * (1 + r.IntN(10)))
		case "spread-tail": // 10% spread thinly over the top 15/16 (see quantci.go)
			if r.IntN(10) == 0 {
				v[i] = 900 + 13500*r.Float64()
			} else {
				v[i] = 900 * r.Float64()
			}
		}
	}
	return v
}

// boundedQuantile is the quantile at rank of the values the tree received:
// the ⌈rank·n⌉-th smallest.
func boundedQuantile(values []float64, rank float64) float64 {
	s := slices.Clone(values)
	slices.Sort(s)
	return s[int(math.Ceil(rank*float64(len(s))))-1]
}

// TestQuantileIntervalCoverage releases quantiles many times on data whose
// bounded quantiles are computed exactly and checks how often the 95%
// intervals hold them. Cases cross three shapes (spread out, a long tail,
// all mass in one corner of [lower, upper]) with two sizes: N ≈ 100 and
// ≈ 1000 times the Laplace scale λ of one tree node (the shipped job runs
// near 30–100). Each (case, rank) checks coverage ≥ 0.95 − 4.5 standard
// errors of a binomial proportion at 0.95: a false failure has probability
// below 3.4·10⁻⁶ per check, < 5·10⁻⁵ over the 12 checks; in -short mode,
// with fewer releases, the same bound holds (the measured
// coverage is higher: the interval is conservative, see quantci.go). It
// also checks, for every release, that the empty "other" partition gets no
// interval but a reason (≥ 99%: its noisy count exceeds the threshold with
// probability < 10⁻⁶), and that every interval holds its released value and
// lies within [lower, upper].
func TestQuantileIntervalCoverage(t *testing.T) {
	n := trials(200, 60)
	ranks := []float64{0.5, 0.9}
	type tcase struct {
		shape    string
		users    int
		nOverLam float64 // N / λ of one tree node
		assert   bool
	}
	cases := []tcase{
		{"uniform", 2000, 100, true}, {"uniform", 4000, 1000, true},
		{"durations", 2000, 100, true}, {"durations", 4000, 1000, true},
		{"tracks", 2000, 100, true}, {"tracks", 4000, 1000, true},
		// Measured and logged, not asserted: the one shape the interval's
		// tail assumption does not hold for (a documented limitation).
		{"spread-tail", 4000, 1000, false},
	}
	r := rand.New(rand.NewPCG(7, 11))
	for _, tc := range cases {
		// λ = 4·l0·l∞/ε_tree with ε_tree = (1 − QuantileCountFraction)·ε.
		lambda := float64(tc.users) / tc.nOverLam
		eps := 4 / (lambda * (1 - QuantileCountFraction))
		opt := MetricOptions{Name: "q", Kind: KindQuantiles, Epsilon: eps, MaxPartitions: 1, MaxPerPartition: 1,
			Lower: 0, Upper: 14400, Ranks: ranks, Partitions: []string{"a"}}
		vals := quantileData(tc.shape, tc.users, r)
		var ev []event
		for u, v := range vals {
			ev = append(ev, event{uint32(u), 0, v})
		}
		a := feed(t, opt, ev)
		truth := make([]float64, len(ranks))
		for i, rk := range ranks {
			truth[i] = boundedQuantile(a.preNoise().values[0], rk)
		}
		covered := make([]int, len(ranks))
		given, otherNone := make([]int, len(ranks)), 0
		for _, rel := range releaseMany(t, a, nil, n) {
			p, other := rel.Partitions[0], rel.Partitions[1]
			for i, q := range p.Quantiles {
				if q.NoInterval != "" {
					continue
				}
				given[i]++
				if q.Lower > q.Value || q.Value > q.Upper || q.Lower < opt.Lower || q.Upper > opt.Upper {
					t.Fatalf("%s: interval [%v, %v] does not hold its value %v inside [%v, %v]", tc.shape, q.Lower, q.Upper, q.Value, opt.Lower, opt.Upper)
				}
				if q.Lower <= truth[i] && truth[i] <= q.Upper {
					covered[i]++
				}
			}
			none := true
			for _, q := range other.Quantiles {
				none = none && q.NoInterval != "" && q.Lower == q.Value && q.Upper == q.Value
			}
			if none {
				otherNone++
			}
		}
		for i, rk := range ranks {
			if given[i] < n*9/10 {
				t.Errorf("%s N/λ=%g p%g: only %d of %d releases gave an interval", tc.shape, tc.nOverLam, 100*rk, given[i], n)
				continue
			}
			cov := float64(covered[i]) / float64(given[i])
			floor := 0.95 - 4.5*math.Sqrt(0.95*0.05/float64(given[i]))
			t.Logf("%-11s N/λ=%-5g p%g: coverage %.3f over %d releases", tc.shape, tc.nOverLam, 100*rk, cov, given[i])
			if tc.assert && cov < floor {
				t.Errorf("%s N/λ=%g p%g: coverage %.3f over %d releases, want ≥ %.3f", tc.shape, tc.nOverLam, 100*rk, cov, given[i], floor)
			}
		}
		if otherNone < n*99/100 {
			t.Errorf("%s: the empty partition got an interval in %d of %d releases, want none (with a reason)", tc.shape, n-otherNone, n)
		}
	}
}

// TestQuantileIntervalNarrowsWithData: the interval is not the clamping
// range in disguise: with 100 times more values per unit of noise, the
// median's interval of spread-out data is at least 5 times narrower (the
// rank error is ∝ 1/N; a floor of two level-2 cells, 1/128 of the range,
// remains).
func TestQuantileIntervalNarrowsWithData(t *testing.T) {
	width := func(nOverLam float64) float64 {
		const users = 3000
		lambda := users / nOverLam
		opt := MetricOptions{Name: "q", Kind: KindQuantiles, Epsilon: 4 / (lambda * (1 - QuantileCountFraction)), MaxPartitions: 1, MaxPerPartition: 1,
			Lower: 0, Upper: 14400, Ranks: []float64{0.5}}
		var ev []event
		for u, v := range quantileData("uniform", users, rand.New(rand.NewPCG(3, 5))) {
			ev = append(ev, event{uint32(u), 0, v})
		}
		var ws []float64
		for _, rel := range releaseMany(t, feed(t, opt, ev), nil, 21) {
			q := rel.Partitions[0].Quantiles[0]
			if q.NoInterval != "" {
				t.Fatalf("N/λ = %g: no interval: %s", nOverLam, q.NoInterval)
			}
			ws = append(ws, q.Upper-q.Lower)
		}
		slices.Sort(ws)
		return ws[len(ws)/2]
	}
	wide, narrow := width(60), width(6000)
	if !(narrow*5 < wide) || wide >= 14400 {
		t.Errorf("median interval width %v at N/λ = 60, %v at N/λ = 6000: want ≥ 5× narrower and the first below the whole range", wide, narrow)
	}
}

func TestTreeNoise(t *testing.T) {
	l := treeNoise(NoiseLaplace, 2, 5, 0.5, 0)
	if want := 4.0 * 2 * 5 / 0.5; l.lambda != want || l.sigma != math.Sqrt2*want {
		t.Errorf("laplace tree noise = %+v, want λ = %v", l, want)
	}
	// P(X > q(p)) = p for Laplace(λ): q = λ·ln(1/(2p)).
	if got, want := l.quantile(0.025), l.lambda*math.Log(20); math.Abs(got-want) > 1e-9 {
		t.Errorf("laplace quantile = %v, want %v", got, want)
	}
	g := treeNoise(NoiseGaussian, 1, 1, 1, 1e-6)
	if got, want := g.quantile(0.025), 1.959964*g.sigma; math.Abs(got-want) > 1e-5*g.sigma {
		t.Errorf("gaussian quantile = %v, want %v", got, want)
	}
	// E[X; X > t] for Laplace: ½e^{−t/λ}(t+λ); at t = 0 it is λ/2.
	if got := l.tailMean(0); math.Abs(got-l.lambda/2) > 1e-9 {
		t.Errorf("laplace E[X⁺] = %v, want %v", got, l.lambda/2)
	}
	if got := g.tailMean(0); math.Abs(got-g.sigma/math.Sqrt(2*math.Pi)) > 1e-9 {
		t.Errorf("gaussian E[X⁺] = %v, want %v", got, g.sigma/math.Sqrt(2*math.Pi))
	}
}

// TestQuantileIntervalGaussian: the same interval with Gaussian noise,
// spread-out data at N/σ ≈ 150; coverage checked as above (4.5 standard
// errors, false-failure rate < 3.4·10⁻⁶).
//
// It runs under both accountings: pure (ε = 1, δ = 10⁻⁶) and zCDP (ρ = 0.01,
// 0.009 for the tree: σ = 2/√0.018 ≈ 15, N/σ ≈ 200): 2 checks, < 7·10⁻⁶.
func TestQuantileIntervalGaussian(t *testing.T) {
	for _, opt := range []MetricOptions{
		{Name: "q", Kind: KindQuantiles, Epsilon: 1, Delta: 1e-6, Noise: NoiseGaussian, MaxPartitions: 1, MaxPerPartition: 1,
			Lower: 0, Upper: 14400, Ranks: []float64{0.5}},
		{Name: "q", Kind: KindQuantiles, Rho: 0.01, Noise: NoiseGaussian, MaxPartitions: 1, MaxPerPartition: 1,
			Lower: 0, Upper: 14400, Ranks: []float64{0.5}},
	} {
		name := "pure"
		if opt.Rho > 0 {
			name = "zcdp"
		}
		t.Run(name, func(t *testing.T) { testQuantileIntervalGaussian(t, opt) })
	}
}

func testQuantileIntervalGaussian(t *testing.T, opt MetricOptions) {
	n := trials(200, 80)
	const users = 3000
	var ev []event
	for u, v := range quantileData("durations", users, rand.New(rand.NewPCG(9, 9))) {
		ev = append(ev, event{uint32(u), 0, v})
	}
	a := feed(t, opt, ev)
	truth := boundedQuantile(a.preNoise().values[0], 0.5)
	covered, given := 0, 0
	for _, rel := range releaseMany(t, a, nil, n) {
		q := rel.Partitions[0].Quantiles[0]
		if q.NoInterval != "" {
			continue
		}
		given++
		if q.Lower <= truth && truth <= q.Upper {
			covered++
		}
	}
	if given < n*9/10 {
		t.Fatalf("only %d of %d releases gave an interval", given, n)
	}
	cov := float64(covered) / float64(given)
	t.Logf("gaussian durations p50: coverage %.3f over %d releases", cov, given)
	if floor := 0.95 - 4.5*math.Sqrt(0.95*0.05/float64(given)); cov < floor {
		t.Errorf("coverage %.3f, want ≥ %.3f", cov, floor)
	}
}

func TestGrouped(t *testing.T) {
	for f, want := range map[float64]string{0: "0", 999.4: "999", 1000: "1,000", 34919.2: "34,919", 1234567: "1,234,567"} {
		if got := grouped(f); got != want {
			t.Errorf("grouped(%v) = %q, want %q", f, got, want)
		}
	}
}
