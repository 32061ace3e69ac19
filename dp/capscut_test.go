package dp

import (
	"math"
	"testing"
)

// capsUsers builds events of users whose contributions the caps (l0 = 2
// partitions, l∞ = 3) cut or not, for every kind:
//
//	u0: 1 partition, 3 events of 10      not cut
//	u1: 1 partition, 4 events of 10      cut by l∞ (count, mean, quantiles; sum: 40 > 3×10)
//	u2: 3 partitions, 1 event of 1 each  cut by l0 (every kind)
//	u3: 2 partitions, 3 events of 10     not cut
//	u4: 1 partition, 2 NaN values        count and users: not cut; sum, mean, quantiles: no contribution
//	u5: 1 partition, 3 events of −20     sum: clamped values −20→0, so not cut (value clamping is no cap)
func capsUsers() []event {
	nan := math.NaN()
	ev := []event{
		{0, 0, 10}, {0, 0, 10}, {0, 0, 10},
		{1, 1, 10}, {1, 1, 10}, {1, 1, 10}, {1, 1, 10},
		{2, 0, 1}, {2, 1, 1}, {2, 2, 1},
		{3, 0, 10}, {3, 0, 10}, {3, 0, 10}, {3, 2, 10}, {3, 2, 10}, {3, 2, 10},
		{4, 1, nan}, {4, 1, nan},
		{5, 2, -20}, {5, 2, -20}, {5, 2, -20},
	}
	return ev
}

// TestCapsCutCountsExactly checks the pre-noise split of users into cut and
// not cut, per kind, on the adversarial users of capsUsers; and that each
// user is in at most one group (the sensitivity of each count is 1).
func TestCapsCutCountsExactly(t *testing.T) {
	want := map[Kind][2]int64{ // cut, not cut
		KindCount:     {2, 4}, // u1, u2 | u0, u3, u4, u5
		KindUsers:     {1, 5}, // u2 | the rest: one event per partition is all a users metric keeps
		KindSum:       {2, 3}, // u1 (40 > 30), u2 | u0, u3, u5; u4 gave only NaN
		KindMean:      {2, 3},
		KindQuantiles: {2, 3},
	}
	for _, opt := range allKinds(publicNames(3)) {
		opt.MaxPartitions, opt.MaxPerPartition, opt.Lower, opt.Upper = 2, 3, 0, 10
		if opt.Kind == KindUsers {
			opt.MaxPerPartition = 0
		}
		opt.Seed = seed(1)
		a := feed(t, opt, capsUsers())
		cut, kept := a.b.capsCut()
		if w := want[opt.Kind]; cut != w[0] || kept != w[1] {
			t.Errorf("%s: cut %d, not cut %d; want %d, %d", opt.Kind, cut, kept, w[0], w[1])
		}
	}
}

// TestCapsCutMergeEqualsSingle: sharding users over two aggregators and
// merging gives the same split as one aggregator (the "over the partition
// cap" flag travels with the user).
func TestCapsCutMergeEqualsSingle(t *testing.T) {
	for _, opt := range allKinds(publicNames(3)) {
		opt.MaxPartitions, opt.MaxPerPartition = 2, 3
		if opt.Kind == KindUsers {
			opt.MaxPerPartition = 0
		}
		opt.Seed = seed(2)
		ev := capsUsers()
		one := feed(t, opt, ev)
		var even, odd []event
		for _, e := range ev {
			if e.user%2 == 0 {
				even = append(even, e)
			} else {
				odd = append(odd, e)
			}
		}
		a, b := feed(t, opt, even), feed(t, opt, odd)
		if err := a.Merge(b); err != nil {
			t.Fatal(err)
		}
		c1, k1 := one.b.capsCut()
		c2, k2 := a.b.capsCut()
		if c1 != c2 || k1 != k2 {
			t.Errorf("%s: merged split %d/%d, single %d/%d", opt.Kind, c2, k2, c1, k1)
		}
	}
}

// TestCapsCutRelease: on 3000 users of whom exactly 600 exceed the caps
// (400 touch 3 partitions with l0 = 2, 200 give 12 events with l∞ = 10),
// the released estimate, over many releases:
//   - holds the true share 600/3000 and the true count 600 in its intervals
//     at least 95% − 4.5 standard errors of the time (false failure
//     < 3.4·10⁻⁶ per check; the share interval is conservative by
//     construction, a union bound over two counts);
//   - is unbiased: the mean released count of cut users is within 4.5
//     standard errors of 600 (Laplace scale 1/ε per count; 4.5 standard
//     errors of a mean: two-sided false failure < 7·10⁻⁶);
//   - spends CapsCutFraction of the metric's ε, and the metric's own noise
//     the rest.
//
// Over the 5 checks the false-failure rate is below 10⁻⁴.
func TestCapsCutRelease(t *testing.T) {
	const users, over, many = 3000, 400, 200
	opt := MetricOptions{Name: "device", Kind: KindCount, Epsilon: 0.5, MaxPartitions: 2, MaxPerPartition: 10,
		Partitions: publicNames(4), CapsCutFraction: 0.2}
	var ev []event
	for u := uint32(0); u < users; u++ {
		switch {
		case u < over:
			ev = append(ev, event{u, 0, 0}, event{u, 1, 0}, event{u, 2, 0})
		case u < over+many:
			for i := 0; i < 12; i++ {
				ev = append(ev, event{u, int32(u % 4), 0})
			}
		default:
			for i := 0; i < 1+int(u%10); i++ {
				ev = append(ev, event{u, int32(u % 4), 0})
			}
		}
	}
	a := feed(t, opt, ev)
	n := trials(3000, 1000)
	const truthCut, truthShare = float64(over + many), float64(over+many) / users
	var shareCov, usersCov, contribCov int
	var sum float64
	for _, r := range releaseMany(t, a, nil, n) {
		c := r.CapsCut
		if c == nil {
			t.Fatal("no caps-cut estimate released")
		}
		if c.ShareLower <= truthShare && truthShare <= c.ShareUpper {
			shareCov++
		}
		if c.UsersLower <= truthCut && truthCut <= c.UsersUpper {
			usersCov++
		}
		if c.ContributingLower <= users && users <= c.ContributingUpper {
			contribCov++
		}
		if !(c.ShareLower <= c.Share && c.Share <= c.ShareUpper) || c.ShareLower < 0 || c.ShareUpper > 1 {
			t.Fatalf("share %v outside its interval [%v, %v] or [0, 1]", c.Share, c.ShareLower, c.ShareUpper)
		}
		if math.Abs(c.Epsilon-0.1) > 1e-12 || c.Delta != 0 {
			t.Fatalf("caps-cut spent ε = %v, δ = %v; want 0.1, 0", c.Epsilon, c.Delta)
		}
		sum += c.Users
	}
	floor := 0.95 - 4.5*math.Sqrt(0.95*0.05/float64(n))
	for name, cov := range map[string]int{"share": shareCov, "cut users": usersCov, "contributing users": contribCov} {
		f := float64(cov) / float64(n)
		t.Logf("%s interval coverage %.3f over %d releases", name, f, n)
		if f < floor {
			t.Errorf("%s interval coverage %.3f, want ≥ %.3f", name, f, floor)
		}
	}
	// Laplace noise of scale b = 1/ε_caps has sd b√2.
	se := math.Sqrt2 / 0.1 / math.Sqrt(float64(n))
	if mean := sum / float64(n); math.Abs(mean-truthCut) > 4.5*se {
		t.Errorf("mean released cut users %.1f, want %v ± %.1f", mean, truthCut, 4.5*se)
	}
	// The metric's own noise uses the rest: its interval half-width is that
	// of ε = 0.4.
	rel, _ := a.release(nil)
	want, err := (MetricOptions{Name: "x", Kind: KindCount, Epsilon: 0.4, MaxPartitions: 2, MaxPerPartition: 10}).halfWidth(0.95)
	if err != nil {
		t.Fatal(err)
	}
	if p := rel.Partitions[0]; math.Abs((p.Upper-p.Lower)/2-want) > 1 { // the library rounds integer intervals
		t.Errorf("count half-width %v, want %v (ε = 0.4 after the caps-cut slice)", (p.Upper-p.Lower)/2, want)
	}
}

// TestCapsCutReleaseZCDP: under zCDP the caps-cut estimate spends
// CapsCutFraction of the metric's ρ (and no ε), its intervals hold the true
// figures as often as their level says (coverage ≥ 0.95 − 4.5 standard
// errors, three checks), its released count of cut users is unbiased with
// the σ of its ρ (4.5 standard errors), and the metric's own noise has the
// σ of the rest of ρ. False failures: < 3·10⁻⁵ over the 5 checks.
func TestCapsCutReleaseZCDP(t *testing.T) {
	const users, over, many = 3000, 400, 200
	opt := MetricOptions{Name: "device", Kind: KindCount, Rho: 0.05, Noise: NoiseGaussian, MaxPartitions: 2, MaxPerPartition: 10,
		Partitions: publicNames(4), CapsCutFraction: 0.2}
	var ev []event
	for u := uint32(0); u < users; u++ {
		switch {
		case u < over:
			ev = append(ev, event{u, 0, 0}, event{u, 1, 0}, event{u, 2, 0})
		case u < over+many:
			for i := 0; i < 12; i++ {
				ev = append(ev, event{u, int32(u % 4), 0})
			}
		default:
			ev = append(ev, event{u, int32(u % 4), 0})
		}
	}
	a := feed(t, opt, ev)
	n := trials(3000, 1000)
	const truthCut, truthShare = float64(over + many), float64(over+many) / users
	var shareCov, usersCov, contribCov int
	var sum float64
	for _, r := range releaseMany(t, a, nil, n) {
		c := r.CapsCut
		if c == nil || c.Epsilon != 0 || c.Delta != 0 || math.Abs(c.Rho-0.01) > 1e-15 {
			t.Fatalf("caps cut %+v, want ρ = 0.01 and no ε, δ", c)
		}
		if c.ShareLower <= truthShare && truthShare <= c.ShareUpper {
			shareCov++
		}
		if c.UsersLower <= truthCut && truthCut <= c.UsersUpper {
			usersCov++
		}
		if c.ContributingLower <= users && users <= c.ContributingUpper {
			contribCov++
		}
		sum += c.Users
	}
	floor := 0.95 - 4.5*math.Sqrt(0.95*0.05/float64(n))
	for name, cov := range map[string]int{"share": shareCov, "cut users": usersCov, "contributing users": contribCov} {
		if f := float64(cov) / float64(n); f < floor {
			t.Errorf("%s interval coverage %.3f, want ≥ %.3f", name, f, floor)
		}
	}
	se := GaussianSigma(1, 1, 0.01) / math.Sqrt(float64(n))
	if mean := sum / float64(n); math.Abs(mean-truthCut) > 4.5*se {
		t.Errorf("mean released cut users %.1f, want %v ± %.1f", mean, truthCut, 4.5*se)
	}
	rel, _ := a.release(nil)
	want := 1.959964 * GaussianSigma(2, 10, 0.04)
	if p := rel.Partitions[0]; math.Abs((p.Upper-p.Lower)/2-want) > 1+0.001*want { // integer intervals; σ ≤ 0.1% over
		t.Errorf("count half-width %v, want %v (ρ = 0.04 after the caps-cut slice)", (p.Upper-p.Lower)/2, want)
	}
}

// TestCapsCutOff: CapsCutFraction 0 releases no estimate and gives the
// metric all of its ε.
func TestCapsCutOff(t *testing.T) {
	opt := validCount()
	a := feed(t, opt, capsUsers())
	rel, err := a.release(nil)
	if err != nil {
		t.Fatal(err)
	}
	if rel.CapsCut != nil {
		t.Errorf("CapsCut = %+v with CapsCutFraction 0, want nil", rel.CapsCut)
	}
	if s := opt.Split(); s.Aggregation.Epsilon != opt.Epsilon || s.CapsCut.Epsilon != 0 {
		t.Errorf("Split() = %+v, want all of ε = %v for the aggregation", s, opt.Epsilon)
	}
}

// TestBudgetSplitWithinShare: for every mix of noise, selection, quantiles
// and caps-cut fraction, the parts of a metric's budget are non-negative and
// sum to at most its share (basic composition), and each mechanism that runs
// gets a positive part.
func TestBudgetSplitWithinShare(t *testing.T) {
	for _, kind := range []Kind{KindCount, KindQuantiles} {
		for _, gauss := range []bool{false, true} {
			for _, sel := range []bool{false, true} {
				for _, f := range []float64{0, 0.1, 0.5} {
					o := MetricOptions{Name: "m", Kind: kind, Epsilon: 0.3, Delta: 1e-7, MaxPartitions: 2, MaxPerPartition: 3,
						Lower: 0, Upper: 1, Ranks: []float64{0.5}, SelectPartitions: sel, CapsCutFraction: f}
					if gauss {
						o.Noise = NoiseGaussian
					}
					if err := o.Validate(); err != nil {
						t.Fatal(err)
					}
					s := o.Split()
					eps := s.Aggregation.Epsilon + s.Selection.Epsilon + s.CapsCut.Epsilon + s.ValueCount.Epsilon
					del := s.Aggregation.Delta + s.Selection.Delta + s.CapsCut.Delta + s.ValueCount.Delta
					if eps > o.Epsilon || del > o.Delta || eps < o.Epsilon*(1-1e-9) {
						t.Errorf("%+v: parts %+v sum to ε = %v, δ = %v; want ≤ and ≈ %v, ≤ %v", o, s, eps, del, o.Epsilon, o.Delta)
					}
					if s.Aggregation.Epsilon <= 0 || (sel && s.Selection.Epsilon <= 0) || (f > 0) != (s.CapsCut.Epsilon > 0) ||
						(kind == KindQuantiles) != (s.ValueCount.Epsilon > 0) || (gauss && s.Aggregation.Delta <= 0) {
						t.Errorf("%+v: parts %+v: a mechanism that runs has no budget, or one that does not has some", o, s)
					}
					if _, err := NewAggregator(o); err != nil {
						t.Errorf("%+v: %v", o, err)
					}
				}
			}
		}
	}
}
