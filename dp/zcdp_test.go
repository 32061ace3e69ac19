package dp

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/google/differential-privacy/go/v3/noise"
)

// TestEpsilonForRhoReference checks the conversion against a value computed
// by another implementation of the same theorem: OpenDP's test of its
// zCDP-to-approximate-DP conversion (Gaussian of scale 4 and sensitivity 1,
// ρ = 1/32, δ = 1e-3 → ε = 0.6880024554878086).
func TestEpsilonForRhoReference(t *testing.T) {
	got := EpsilonForRho(1.0/32, 1e-3)
	if want := 0.6880024554878086; math.Abs(got-want) > 1e-8*want || got < want {
		t.Errorf("EpsilonForRho(1/32, 1e-3) = %.16g, want %.16g (never less)", got, want)
	}
}

// cksDelta is an independent evaluation of Canonne–Kamath–Steinke's
// Corollary 13, in its δ form: the smallest δ the bound gives at ε,
// δ = min over α > 1 of exp((α−1)(αρ−ε))/(α−1) · (1−1/α)^α, over a dense
// grid of α spaced evenly in log(α−1) (not the search EpsilonForRho uses).
func cksDelta(rho, eps float64) float64 {
	best := math.Inf(1)
	for k := -8.0; k <= 10; k += 1e-4 {
		am1 := math.Pow(10, k)
		a := 1 + am1
		logD := am1*(a*rho-eps) - math.Log(am1) + a*math.Log1p(-1/a)
		best = math.Min(best, math.Exp(logD))
	}
	return best
}

// gaussianDelta is the exact δ(ε) of the Gaussian mechanism with L2
// sensitivity 1 and standard deviation σ, by numerical integration of
// max(0, p(y) − e^ε·q(y)) for p = N(0, σ²), q = N(1, σ²) (Simpson's rule):
// independent of both the conversion and the closed form of Balle and Wang.
func gaussianDelta(sigma, eps float64) float64 {
	pdf := func(y, mu float64) float64 {
		z := (y - mu) / sigma
		return math.Exp(-z*z/2) / (sigma * math.Sqrt(2*math.Pi))
	}
	f := func(y float64) float64 { return math.Max(0, pdf(y, 0)-math.Exp(eps)*pdf(y, 1)) }
	hi := 0.5 - eps*sigma*sigma // p > e^ε q exactly for y < hi
	lo := hi - 40*sigma
	const n = 400000
	h := (hi - lo) / n
	sum := f(lo) + f(hi)
	for i := 1; i < n; i++ {
		w := 2.0
		if i%2 == 1 {
			w = 4
		}
		sum += w * f(lo+float64(i)*h)
	}
	return sum * h / 3
}

// TestConversionAgainstNumeric checks EpsilonForRho (and RhoForEpsilon) at
// the numbers dpstats uses and beyond, against independent computations:
//   - the CKS bound evaluated on its own grid gives δ at most the requested
//     one at our ε, and more than it at ε·(1 − 1e-4): our ε is the bound's,
//     neither looser nor (unsafely) tighter;
//   - a ρ-zCDP Gaussian mechanism (σ = 1/√(2ρ)) is, by numerical
//     integration of its privacy loss, (ε, δ)-DP at our ε: the conversion
//     is valid for the mechanism dpstats uses, and the Gaussian, nearly the
//     worst case of ρ-zCDP, needs at least a tenth of that δ: not loose;
//   - the simpler ρ + 2√(ρ ln 1/δ) is never smaller;
//   - RhoForEpsilon inverts EpsilonForRho from below.
func TestConversionAgainstNumeric(t *testing.T) {
	for _, tc := range []struct{ rho, delta float64 }{
		{0.0594, 1e-5}, {1.78, 1e-5}, {1.55, 1e-5}, {0.003, 1e-5},
		{0.5, 1e-6}, {0.01, 1e-9}, {5, 1e-3}, {1.0 / 32, 1e-3},
	} {
		eps := EpsilonForRho(tc.rho, tc.delta)
		if d := cksDelta(tc.rho, eps); d > tc.delta*(1+1e-6) {
			t.Errorf("ρ = %v, δ = %v: ε = %v, but the CKS bound gives δ = %v there", tc.rho, tc.delta, eps, d)
		}
		if d := cksDelta(tc.rho, eps*(1-1e-4)); !(d > tc.delta) {
			t.Errorf("ρ = %v, δ = %v: ε = %v is looser than the CKS bound (δ = %v already at 0.9999ε)", tc.rho, tc.delta, eps, d)
		}
		sigma := 1 / math.Sqrt(2*tc.rho)
		if d := gaussianDelta(sigma, eps); d > tc.delta || d < tc.delta/10 {
			t.Errorf("ρ = %v, δ = %v: ε = %v; the Gaussian mechanism's exact δ there is %v, want in [δ/10, δ]", tc.rho, tc.delta, eps, d)
		}
		if s := SimpleEpsilonForRho(tc.rho, tc.delta); s < eps {
			t.Errorf("ρ = %v, δ = %v: simple conversion %v < CKS %v", tc.rho, tc.delta, s, eps)
		}
		rho := RhoForEpsilon(eps, tc.delta)
		if back := EpsilonForRho(rho, tc.delta); back > eps || rho < tc.rho*(1-1e-6) || rho > tc.rho*(1+1e-6) {
			t.Errorf("RhoForEpsilon(%v, %v) = %v (ε back %v), want ≈ %v from below", eps, tc.delta, rho, back, tc.rho)
		}
	}
	if got := EpsilonForRho(0, 1e-5); got != 0 {
		t.Errorf("EpsilonForRho(0, δ) = %v, want 0", got)
	}
	if got := EpsilonForRho(0.1, 0); !math.IsInf(got, 1) {
		t.Errorf("EpsilonForRho(0.1, 0) = %v, want +Inf", got)
	}
	if got := RhoForEpsilon(10, 0); got != 0 {
		t.Errorf("RhoForEpsilon(10, 0) = %v, want 0", got)
	}
}

// TestRhoForTheShippedCap: the worked example of the issue. The 30-day cap
// ε = 10, δ = 1e-5 is ρ ≈ 1.55 by the simple conversion and more (≈ 1.78)
// by the tighter one dpstats uses.
func TestRhoForTheShippedCap(t *testing.T) {
	rho := RhoForEpsilon(10, 1e-5)
	if rho < 1.7 || rho > 1.9 {
		t.Errorf("RhoForEpsilon(10, 1e-5) = %v, want about 1.78", rho)
	}
	// The simple conversion's ρ, solved in closed form: √ρ = √(L + ε) − √L.
	L := math.Log(1e5)
	simple := math.Pow(math.Sqrt(L+10)-math.Sqrt(L), 2)
	if math.Abs(simple-1.55) > 0.001 || rho <= simple {
		t.Errorf("simple ρ = %v (want ≈ 1.55), CKS ρ = %v (want more)", simple, rho)
	}
	if e := SimpleEpsilonForRho(simple, 1e-5); math.Abs(e-10) > 1e-9 {
		t.Errorf("SimpleEpsilonForRho(%v) = %v, want 10", simple, e)
	}
}

// TestLibraryGaussianSigma: the (ε, δ) pair given to the library makes its
// Gaussian noise (noise.SigmaForGaussian, what dpagg adds) at least the σ
// the charged ρ allows, and within 1% of it (in fact within the library's
// search accuracy, 0.1%), for every sensitivity dpstats uses.
func TestLibraryGaussianSigma(t *testing.T) {
	sens := []struct {
		l0   int64
		lInf float64
	}{{1, 1}, {2, 10}, {3, 10}, {3, 5}, {8, 5}, {1, 14400}, {2, 36000}, {13, 1}}
	for _, rho := range []float64{1e-12, 1e-6, 2e-4, 0.0018, 0.0034, 0.05, 0.5, 3, 50} {
		eps, del, err := libraryGaussian(rho)
		if err != nil {
			t.Fatalf("ρ = %v: %v", rho, err)
		}
		for _, s := range sens {
			got := noise.SigmaForGaussian(s.l0, s.lInf, eps, del)
			want := GaussianSigma(s.l0, s.lInf, rho)
			if r := got / want; r < 1 || r > 1.01 {
				t.Errorf("ρ = %v, l0 = %d, l∞ = %v: library σ = %v, wanted %v (ratio %v, want in [1, 1.01])", rho, s.l0, s.lInf, got, want, r)
			}
		}
	}
	for _, rho := range []float64{0, -1, math.NaN(), 1e-30, 1e9} {
		if _, _, err := libraryGaussian(rho); err == nil {
			t.Errorf("libraryGaussian(%v) = nil error, want one", rho)
		}
	}
}

// TestZCDPParts: for every kind, with and without partition selection and
// the caps-cut estimate, the Gaussian mechanisms a zCDP metric runs and its
// selection add up to its ρ, and each gets from the library at least the σ
// its part of ρ needs (checkZCDP, which NewAggregator runs before any data
// is read).
func TestZCDPParts(t *testing.T) {
	for _, caps := range []float64{0, 0.1} {
		for _, sel := range []bool{false, true} {
			for _, o := range allKinds(nil) {
				o.Epsilon, o.Rho, o.Noise, o.CapsCutFraction = 0, 0.02, NoiseGaussian, caps
				if sel {
					o.SelectPartitions, o.Delta = true, 1e-6
				}
				name := fmt.Sprintf("%s (selection %v, caps cut %v)", o.Kind, sel, caps)
				if err := o.Validate(); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				parts := o.gaussianParts()
				_, rhoSel := o.rhoSplit()
				sum := rhoSel
				for _, p := range parts {
					sum += p.rho
					got := noise.SigmaForGaussian(p.l0, p.lInf, p.eps, p.del)
					if want := GaussianSigma(p.l0, p.lInf, p.rho); got < want || got > 1.001*want {
						t.Errorf("%s: σ = %v, want [%v, %v]", name, got, want, 1.001*want)
					}
				}
				if sum > o.Rho || sum < o.Rho*(1-1e-12) {
					t.Errorf("%s: parts add up to ρ = %v, want %v", name, sum, o.Rho)
				}
				want := map[Kind]int{KindMean: 2, KindQuantiles: 2}[o.Kind]
				if want == 0 {
					want = 1
				}
				if caps > 0 {
					want++
				}
				if len(parts) != want {
					t.Errorf("%s: %d Gaussian parts, want %d", name, len(parts), want)
				}
				if o.Kind == KindQuantiles && parts[0].l0 != int64(o.MaxPartitions)*treeHeight {
					t.Errorf("quantiles: l0 = %d, want l0 × tree height", parts[0].l0)
				}
				_, _, epsSel, delSel := o.split()
				if sel && (math.Abs(PureRho(epsSel)-rhoSel) > 1e-15 || delSel != o.Delta) {
					t.Errorf("%s: selection (ε = %v, δ = %v) counts ρ = %v, want %v and all of δ", name, epsSel, delSel, PureRho(epsSel), rhoSel)
				}
				if err := o.checkZCDP(); err != nil {
					t.Errorf("%s: %v", name, err)
				}
				if _, err := NewAggregator(o); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		}
	}
}

func TestValidateZCDP(t *testing.T) {
	base := MetricOptions{Name: "m", Kind: KindCount, Rho: 0.01, Noise: NoiseGaussian, MaxPartitions: 1, MaxPerPartition: 1}
	if err := base.Validate(); err != nil {
		t.Fatalf("gaussian noise without δ under zCDP: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*MetricOptions)
		want string
	}{
		{"both", func(o *MetricOptions) { o.Epsilon = 1 }, "give one"},
		{"negative", func(o *MetricOptions) { o.Rho = -1 }, "rho = -1"},
		{"nan", func(o *MetricOptions) { o.Rho = math.NaN() }, "rho = NaN"},
		{"tiny", func(o *MetricOptions) { o.Rho = 1e-30 }, "outside"},
		{"huge", func(o *MetricOptions) { o.Rho = 1e6 }, "outside"},
		{"selection without δ", func(o *MetricOptions) { o.SelectPartitions = true }, "needs delta"},
	} {
		o := base
		tc.mod(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// TestZCDPMeanStd: a mean released under zCDP has the spread of its two
// Gaussian mechanisms, each with half the ρ: to first order
// sd = √(σ_sum² + d²·σ_count²)/C at C values at distance d from the
// midpoint. C = 20000 makes the second-order terms (σ_count/C ≈ 0.1%)
// negligible. The measured sd over the predicted one must be 1.00 ± 0.05;
// its standard error is √(2/(4N)) ≈ 0.011 at N = 4000 (0.018 with -short):
// ± 0.05 is ≥ 2.7 of them… so the tolerance is max(0.05, 5 SE), a
// false-failure rate < 1e-6.
func TestZCDPMeanStd(t *testing.T) {
	const rho = 0.01
	opt := MetricOptions{Name: "mean", Kind: KindMean, Rho: rho, Noise: NoiseGaussian, MaxPartitions: 1, MaxPerPartition: 2,
		Lower: 0, Upper: 100, Partitions: nil}
	var ev []event
	for u := 0; u < 10000; u++ {
		ev = append(ev, event{uint32(u), 0, 75}, event{uint32(u), 0, 75})
	}
	a := feed(t, opt, ev)
	n := trials(4000, 1500)
	var m, v float64
	for _, r := range releaseMany(t, a, nil, n) {
		d := r.Partitions[0].Value - 75
		m += d
		v += d * d
	}
	N := float64(n)
	m /= N
	v = v/N - m*m
	const C, d, h = 20000.0, 25.0, 50.0
	sc := GaussianSigma(1, 2, rho/2)   // count of values: l∞ = 2
	ss := GaussianSigma(1, 2*h, rho/2) // normalized sum: l∞ = 2 × half-range
	want := math.Sqrt(ss*ss+d*d*sc*sc) / C
	se := math.Sqrt(2 / (4 * N))
	if ratio, tol := math.Sqrt(v)/want, math.Max(0.05, 5*se); math.Abs(ratio-1) > tol {
		t.Errorf("mean: measured sd %v, predicted %v: ratio %.4f, want 1.00 ± %.3f", math.Sqrt(v), want, ratio, tol)
	}
}

// TestEmpiricalZCDP is the neighbouring-dataset test under zCDP: a metric
// runs many times on D and on D plus one adversarial user with a million
// events in every partition. For a statistic with Gaussian noise of
// standard deviation τ whose mean moves by s between D and D', the privacy
// loss at y is s·(y − m)/τ² (m the midpoint of the two means), and the
// release is ρ-zCDP for the statistic only if s²/(2τ²) ≤ ρ, so
// |log ratio| ≤ √(2ρ)·|y − m|/τ. Every histogram bin with ≥ 250 outcomes on
// both sides must satisfy that (at the bin's farthest point from m) within 5
// standard errors of the log ratio: a one-sided false-failure rate of 2.9e-7
// per bin and direction, < 1e-4 for the ≤ 100 bins checked. With the noise
// calibrated for an understated sensitivity (σ half of what ρ needs, ρ four
// times what is charged), the tails' ratios are twice the bound and fail.
func TestEmpiricalZCDP(t *testing.T) {
	const rho = 0.5 // large, so that the log ratios are large enough to test
	advEvents := trials(1_000_000, 100_000)
	cases := []struct {
		name string
		opt  MetricOptions
		per  []int
		stat func(*Released) float64
		tau  float64 // noise sd of the statistic
	}{
		{"single total", MetricOptions{Kind: KindCount, MaxPartitions: 1, MaxPerPartition: 3}, []int{50},
			func(r *Released) float64 { return r.Partitions[0].Value }, GaussianSigma(1, 3, rho)},
		{"sum over partitions", MetricOptions{Kind: KindCount, MaxPartitions: 2, MaxPerPartition: 3}, []int{50, 50, 50, 50, 50},
			func(r *Released) float64 {
				var s float64
				for _, p := range r.Partitions {
					s += p.Value
				}
				return s
			}, math.Sqrt(5) * GaussianSigma(2, 3, rho)},
		{"users over partitions", MetricOptions{Kind: KindUsers, MaxPartitions: 4}, []int{50, 50, 50, 50, 50},
			func(r *Released) float64 {
				var s float64
				for _, p := range r.Partitions {
					s += p.Value
				}
				return s
			}, math.Sqrt(5) * GaussianSigma(4, 1, rho)},
	}
	n := trials(20000, 8000)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.Name, tc.opt.Rho, tc.opt.Noise = "m", rho, NoiseGaussian
			tc.opt.Partitions = publicNames(len(tc.per) - 1)
			d := rawEvents(tc.per, 4, 0)
			adv := uint32(10000)
			d2 := append([]event{}, d...)
			for i := 0; i < advEvents; i++ {
				d2 = append(d2, event{adv, int32(i % len(tc.per)), 0})
			}
			width := math.Max(1, math.Round(tc.tau/4)) // whole: the values are
			h1, h2 := map[int]int{}, map[int]int{}
			var m1, m2 float64
			for _, r := range releaseMany(t, feed(t, tc.opt, d), nil, n) {
				x := tc.stat(r)
				m1 += x
				h1[int(math.Floor(x/width))]++
			}
			for _, r := range releaseMany(t, feed(t, tc.opt, d2), nil, n) {
				x := tc.stat(r)
				m2 += x
				h2[int(math.Floor(x/width))]++
			}
			mid := (m1 + m2) / (2 * float64(n))
			bins, maxLoss := 0, 0.0
			for b, c1 := range h1 {
				c2 := h2[b]
				if c1 < 250 || c2 < 250 {
					continue
				}
				bins++
				lo, hi := float64(b)*width, float64(b+1)*width
				bound := math.Sqrt(2*rho) * math.Max(math.Abs(lo-mid), math.Abs(hi-mid)) / tc.tau
				slack := 5 * math.Sqrt(1/float64(c1)+1/float64(c2))
				lr := math.Abs(math.Log(float64(c1) / float64(c2)))
				maxLoss = math.Max(maxLoss, lr)
				if lr > bound+slack {
					t.Errorf("bin [%.1f, %.1f): counts %d vs %d, |log ratio| = %.3f > bound + slack = %.3f", lo, hi, c1, c2, lr, bound+slack)
				}
			}
			if bins < 8 || maxLoss < 0.5 {
				t.Errorf("%d bins, largest |log ratio| %.2f: the test has no power", bins, maxLoss)
			}
		})
	}
}

// TestCanarySelectionZCDP: under zCDP, partition selection gets ε = √(2ρ/2)
// and all of δ; a partition only the canary user has is released with
// probability ≤ δ. Over n releases the count is Binomial(n, ≤ 1e-3); the
// bound is its mean + 5.5 sd: false-failure rate below 1e-4.
func TestCanarySelectionZCDP(t *testing.T) {
	opt := MetricOptions{Name: "codec", Kind: KindCount, Rho: 0.5, Delta: 1e-3, Noise: NoiseGaussian, MaxPartitions: 1, MaxPerPartition: 1, SelectPartitions: true}
	ev := rawEvents([]int{1000}, 2, 0)
	ev = append(ev, event{5000, 1, 0}, event{5000, 1, 0})
	names := []string{"hevc", "canary-codec-x"}
	n := trials(20000, 8000)
	seen, common := 0, 0
	for _, r := range releaseMany(t, feed(t, opt, ev), names, n) {
		if r.Rho != opt.Rho || r.Epsilon != 0 || r.Delta != opt.Delta {
			t.Fatalf("released ε = %v, δ = %v, ρ = %v; want ρ = %v, δ = %v and no ε", r.Epsilon, r.Delta, r.Rho, opt.Rho, opt.Delta)
		}
		for _, p := range r.Partitions {
			switch p.Name {
			case "canary-codec-x":
				seen++
			case "hevc":
				common++
			}
		}
	}
	mean := float64(n) * opt.Delta
	if limit := mean + 5.5*math.Sqrt(mean); float64(seen) > limit {
		t.Errorf("canary released %d times in %d, want ≤ %.0f (δ = %v)", seen, n, limit, opt.Delta)
	}
	if common != n {
		t.Errorf("common partition released %d times in %d, want always", common, n)
	}
}
