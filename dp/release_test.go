package dp

import (
	"math"
	"strings"
	"testing"
)

func trials(full, short int) int {
	if testing.Short() {
		return short
	}
	return full
}

// releaseMany releases the same pre-noise state n times (test-only: Release
// itself refuses a second release).
func releaseMany(t *testing.T, a *Aggregator, names []string, n int) []*Released {
	t.Helper()
	out := make([]*Released, n)
	for i := range out {
		r, err := a.release(names)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = r
	}
	return out
}

// rawEvents puts per[p] users in partition p, each with `each` events and value v.
func rawEvents(per []int, each int, v float64) []event {
	var ev []event
	u := uint32(0)
	for p, n := range per {
		for i := 0; i < n; i++ {
			for k := 0; k < each; k++ {
				ev = append(ev, event{u, int32(p), v})
			}
			u++
		}
	}
	return ev
}

// TestNoiseCalibration: over many releases, the spread of each released value
// matches the theory for its ε (or, under zero-concentrated accounting, its
// ρ) and bounds. Checks use 5 standard errors of the estimators (for the
// sample variance, the standard error uses the noise's kurtosis: 6 for
// Laplace, 3 for Gaussian), a two-sided false-failure rate of 5.7e-7 per
// check, and at most 4 such checks per case over 8 cases: < 2e-5 per test.
// The true values are large enough that no noisy value is clamped.
func TestNoiseCalibration(t *testing.T) {
	per := []int{500, 400, 300}
	cases := []struct {
		name string
		opt  MetricOptions
		want []float64 // pre-noise value per partition
		sd   float64
		kurt float64
	}{
		{"count laplace", MetricOptions{Kind: KindCount, Epsilon: 1, MaxPartitions: 2, MaxPerPartition: 3},
			[]float64{1500, 1200, 900}, math.Sqrt2 * 6, 6},
		{"count gaussian", MetricOptions{Kind: KindCount, Epsilon: 1, Delta: 1e-5, Noise: NoiseGaussian, MaxPartitions: 2, MaxPerPartition: 3},
			[]float64{1500, 1200, 900}, sigma(NoiseGaussian, 2, 3, 1, 1e-5), 3},
		{"users laplace", MetricOptions{Kind: KindUsers, Epsilon: 0.5, MaxPartitions: 1},
			[]float64{500, 400, 300}, math.Sqrt2 * 2, 6},
		{"sum laplace", MetricOptions{Kind: KindSum, Epsilon: 2, MaxPartitions: 1, MaxPerPartition: 2, Lower: 0, Upper: 10},
			[]float64{10000, 8000, 6000}, math.Sqrt2 * 10, 6}, // 5 values of 7 per user: sum 35 clamped to l∞×upper = 20
		// Zero-concentrated accounting: σ = √l0·l∞/√(2ρ), the σ the ρ charged
		// for the release allows (the library's is at most 0.1% more).
		{"count zcdp gaussian", MetricOptions{Kind: KindCount, Rho: 0.05, Noise: NoiseGaussian, MaxPartitions: 2, MaxPerPartition: 3},
			[]float64{1500, 1200, 900}, GaussianSigma(2, 3, 0.05), 3},
		{"users zcdp gaussian", MetricOptions{Kind: KindUsers, Rho: 0.02, Noise: NoiseGaussian, MaxPartitions: 1},
			[]float64{500, 400, 300}, GaussianSigma(1, 1, 0.02), 3},
		{"sum zcdp gaussian", MetricOptions{Kind: KindSum, Rho: 0.1, Noise: NoiseGaussian, MaxPartitions: 1, MaxPerPartition: 2, Lower: 0, Upper: 10},
			[]float64{10000, 8000, 6000}, GaussianSigma(1, 20, 0.1), 3},
		// Laplace under zCDP: ε = √(2ρ) = 0.5, so that ε²/2 = ρ.
		{"count zcdp laplace", MetricOptions{Kind: KindCount, Rho: 0.125, MaxPartitions: 2, MaxPerPartition: 3},
			[]float64{1500, 1200, 900}, math.Sqrt2 * 12, 6},
	}
	n := trials(4000, 1500)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.Name = "m"
			tc.opt.Partitions = publicNames(len(per) - 1) // the last index is "other"
			a := feed(t, tc.opt, rawEvents(per, 5, 7))
			rels := releaseMany(t, a, nil, n)
			var m, v, covered float64
			cnt := 0
			for _, r := range rels {
				for p, rp := range r.Partitions {
					d := rp.Value - tc.want[p]
					m += d
					v += d * d
					if rp.Lower <= tc.want[p] && tc.want[p] <= rp.Upper {
						covered++
					}
					cnt++
				}
			}
			N := float64(cnt)
			m /= N
			v = v/N - m*m
			if se := tc.sd / math.Sqrt(N); math.Abs(m) > 5*se {
				t.Errorf("mean error = %.3f, want |.| ≤ %.3f (unbiased)", m, 5*se)
			}
			wantVar := tc.sd * tc.sd
			if se := wantVar * math.Sqrt((tc.kurt-1)/N); math.Abs(v-wantVar) > 5*se {
				t.Errorf("noise sd = %.3f, want %.3f (variance %.2f ± %.2f)", math.Sqrt(v), tc.sd, wantVar, 5*se)
			}
			// Coverage of the library's 95% intervals: at least 95% minus 5 standard errors.
			if cov, min := covered/N, 0.95-5*math.Sqrt(0.95*0.05/N); cov < min {
				t.Errorf("CI coverage = %.4f, want ≥ %.4f", cov, min)
			}
			// The measured standard deviation over the wanted one, 1.00 ± 0.05.
			// Its standard error is √((kurt−1)/(4N)): 0.0065 for Gaussian noise
			// and 0.010 for Laplace at the full N = 12000, so ± 0.05 is ≥ 4.9
			// of them (false-failure rate < 1e-6). With -short (N = 4500) the
			// Laplace cases widen to ± 5 standard errors.
			seRatio := math.Sqrt((tc.kurt - 1) / (4 * N))
			if ratio, tol := math.Sqrt(v)/tc.sd, math.Max(0.05, 5*seRatio); math.Abs(ratio-1) > tol {
				t.Errorf("measured sd / wanted sd = %.4f, want 1.00 ± %.3f", ratio, tol)
			}
			// PlanError predicts the same spread: exactly, or under zCDP the
			// library's σ, at least the wanted one and at most 0.1% more.
			pe, err := PlanError(tc.opt, 1000)
			if err != nil {
				t.Fatal(err)
			}
			tol := 1e-9
			if tc.opt.Rho > 0 && tc.opt.Noise == NoiseGaussian {
				tol = 1.001e-3
				if pe.StdDev < tc.sd {
					t.Errorf("PlanError.StdDev = %v, below the σ = %v the ρ charged needs", pe.StdDev, tc.sd)
				}
			}
			if math.Abs(pe.StdDev-tc.sd) > tol*tc.sd {
				t.Errorf("PlanError.StdDev = %v, want %v", pe.StdDev, tc.sd)
			}
		})
	}
}

// TestEmpiricalDP runs a metric many times on D and on D plus one
// adversarial user with a million events in every partition, and checks that
// in every histogram bin with at least 250 outcomes on both sides the ratio
// of frequencies is at most e^ε times a slack of 5 standard errors of the log
// ratio (√(1/c₁+1/c₂)): one-sided false-failure rate 2.9e-7 per bin and
// direction, < 1e-4 for the ≤ 100 bins checked. With the sensitivity
// understated by 2× the ratio in the tails would be e^{2ε} and fail.
func TestEmpiricalDP(t *testing.T) {
	eps := math.Log(3)
	advEvents := trials(1_000_000, 100_000)
	cases := []struct {
		name  string
		opt   MetricOptions
		per   []int
		stat  func(*Released) float64
		width float64
	}{
		{"single partition value", MetricOptions{Kind: KindCount, MaxPartitions: 1, MaxPerPartition: 3}, []int{50, 50},
			func(r *Released) float64 { return r.Partitions[0].Value }, 1},
		{"sum over partitions", MetricOptions{Kind: KindCount, MaxPartitions: 2, MaxPerPartition: 3}, []int{50, 50, 50, 50, 50},
			func(r *Released) float64 {
				var s float64
				for _, p := range r.Partitions {
					s += p.Value
				}
				return s
			}, 4},
		{"users gaussian", MetricOptions{Kind: KindUsers, MaxPartitions: 1, Noise: NoiseGaussian, Delta: 1e-9}, []int{50, 50},
			func(r *Released) float64 { return r.Partitions[0].Value }, 1},
	}
	n := trials(20000, 8000)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.Name, tc.opt.Epsilon = "m", eps
			tc.opt.Partitions = publicNames(len(tc.per) - 1)
			d := rawEvents(tc.per, 4, 0)
			adv := uint32(10000)
			d2 := append([]event{}, d...)
			for i := 0; i < advEvents; i++ {
				d2 = append(d2, event{adv, int32(i % len(tc.per)), 0})
			}
			h1, h2 := map[int]int{}, map[int]int{}
			for _, r := range releaseMany(t, feed(t, tc.opt, d), nil, n) {
				h1[int(math.Floor(tc.stat(r)/tc.width))]++
			}
			for _, r := range releaseMany(t, feed(t, tc.opt, d2), nil, n) {
				h2[int(math.Floor(tc.stat(r)/tc.width))]++
			}
			bins := 0
			for b, c1 := range h1 {
				c2 := h2[b]
				if c1 < 250 || c2 < 250 {
					continue
				}
				bins++
				slack := 5 * math.Sqrt(1/float64(c1)+1/float64(c2))
				if lr := math.Abs(math.Log(float64(c1) / float64(c2))); lr > eps+slack {
					t.Errorf("bin %d: counts %d vs %d, |log ratio| = %.3f > ε + slack = %.3f", b, c1, c2, lr, eps+slack)
				}
			}
			if bins < 3 {
				t.Errorf("only %d bins had enough mass: the test has no power", bins)
			}
		})
	}
}

// TestCanaryPublic: a value only one user has, not in the public list, goes
// to "other" and never appears as a partition name.
func TestCanaryPublic(t *testing.T) {
	opt := MetricOptions{Name: "device", Kind: KindUsers, Epsilon: 1, MaxPartitions: 1, Partitions: []string{"roku", "web"}}
	ev := rawEvents([]int{100, 100}, 1, 0)
	ev = append(ev, event{9999, 2, 0}) // the canary's value was mapped to "other" upstream
	for _, r := range releaseMany(t, feed(t, opt, ev), nil, 200) {
		if got, want := len(r.Partitions), 3; got != want {
			t.Fatalf("released %d partitions, want %d", got, want)
		}
		for i, want := range []string{"roku", "web", "other"} {
			if got := r.Partitions[i].Name; got != want {
				t.Errorf("partition %d = %q, want %q", i, got, want)
			}
		}
	}
}

// TestCanarySelection: with partition selection, a partition that only the
// canary user has is released with probability ≤ δ_selection (here l0 = 1 and
// δ_selection = δ = 1e-3 with Laplace noise). Over n releases the count of
// appearances is Binomial(n, ≤1e-3); the bound is its mean + 5.5 sd, a false
// failure rate below 1e-4. The common partition is always released.
func TestCanarySelection(t *testing.T) {
	opt := MetricOptions{Name: "codec", Kind: KindCount, Epsilon: 1, Delta: 1e-3, MaxPartitions: 1, MaxPerPartition: 1, SelectPartitions: true}
	ev := rawEvents([]int{1000}, 2, 0)
	ev = append(ev, event{5000, 1, 0}, event{5000, 1, 0})
	names := []string{"hevc", "canary-codec-x"}
	n := trials(20000, 8000)
	seen, common := 0, 0
	for _, r := range releaseMany(t, feed(t, opt, ev), names, n) {
		for _, p := range r.Partitions {
			switch p.Name {
			case "canary-codec-x":
				seen++
			case "hevc":
				common++
			default:
				t.Fatalf("unexpected partition %q", p.Name)
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

func TestPublicPartitionsAlwaysReleased(t *testing.T) {
	for _, opt := range allKinds([]string{"sd", "720p", "1080p", "4k"}) {
		t.Run(string(opt.Kind), func(t *testing.T) {
			a := feed(t, opt, []event{{0, 1, 3}}) // one user in 720p only
			r, err := a.Release(nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range r.Partitions {
				got = append(got, p.Name)
				if opt.Kind == KindQuantiles && len(p.Quantiles) != 2 {
					t.Errorf("partition %q has %d quantiles, want 2", p.Name, len(p.Quantiles))
				}
			}
			if want := "sd,720p,1080p,4k,other"; strings.Join(got, ",") != want {
				t.Errorf("partitions = %v, want %s", got, want)
			}
			if _, err := a.Release(nil); err == nil || !strings.Contains(err.Error(), "already released") {
				t.Errorf("second Release = %v, want an 'already released' error", err)
			}
		})
	}
}

func TestTotalPartition(t *testing.T) {
	opt := MetricOptions{Name: "plays", Kind: KindCount, Epsilon: 1, MaxPartitions: 1, MaxPerPartition: 5}
	r, err := feed(t, opt, rawEvents([]int{1000}, 3, 0)).Release(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Partitions) != 1 || r.Partitions[0].Name != TotalName {
		t.Fatalf("partitions = %+v, want one %q", r.Partitions, TotalName)
	}
	if v := r.Partitions[0].Value; math.Abs(v-3000) > 100 { // Laplace b = 5: P(|noise| > 100) = e^-20
		t.Errorf("total = %v, want about 3000", v)
	}
}

func TestSharesArePostProcessed(t *testing.T) {
	opt := MetricOptions{Name: "device", Kind: KindCount, Epsilon: 1, MaxPartitions: 1, MaxPerPartition: 1, Partitions: []string{"a", "b", "c"}}
	r, err := feed(t, opt, rawEvents([]int{6000, 3000, 1000, 0}, 1, 0)).Release(nil)
	if err != nil {
		t.Fatal(err)
	}
	var total, shares float64
	for _, p := range r.Partitions {
		total += math.Max(0, p.Value)
	}
	for _, p := range r.Partitions {
		shares += p.Share
		if got, want := p.Share, math.Max(0, p.Value)/total; math.Abs(got-want) > 1e-12 {
			t.Errorf("%s: share = %v, want %v", p.Name, got, want)
		}
		if p.ShareLower > p.Share || p.Share > p.ShareUpper || p.ShareLower < 0 || p.ShareUpper > 1 {
			t.Errorf("%s: share interval [%v, %v] does not hold %v within [0, 1]", p.Name, p.ShareLower, p.ShareUpper, p.Share)
		}
		if p.Value < 0 {
			t.Errorf("%s: released negative count %v", p.Name, p.Value)
		}
	}
	if math.Abs(shares-1) > 1e-9 {
		t.Errorf("shares sum to %v, want 1", shares)
	}
}

func TestReleaseErrors(t *testing.T) {
	sel := MetricOptions{Name: "codec", Kind: KindCount, Epsilon: 1, Delta: 1e-6, MaxPartitions: 1, MaxPerPartition: 1, SelectPartitions: true}
	a := feed(t, sel, []event{{0, 3, 0}})
	if _, err := a.Release([]string{"a"}); err == nil || !strings.HasPrefix(err.Error(), "Release: ") {
		t.Errorf("Release with too few names = %v, want a Release error", err)
	}
	pub := feed(t, validCount(), nil)
	if _, err := pub.Release([]string{"x"}); err == nil {
		t.Errorf("Release(names) on public partitions = nil, want error")
	}
}
