package dp

import (
	"math"
	"sort"
	"testing"
)

// TestPlanErrorMean: the released mean's spread matches PlanError's
// first-order model when every user gives one value of 99, just inside the
// upper bound of 100 (the model describes a mean at a bound, the worst case;
// exactly at the bound the library's clamping of the result would halve the
// spread, so the test stays 10 sd inside it). The sample sd of n releases is within
// 10% of the model (sd estimate error is ≈ √(κ−1)/(2√n) ≈ 1.1% at n = 3000
// for a kurtosis below 6, so 10% is > 8 standard errors, and the first-order
// model itself is accurate to well under 1% at 2000 values).
func TestPlanErrorMean(t *testing.T) {
	const users = 2000
	opt := MetricOptions{Name: "duration", Kind: KindMean, Epsilon: 1, MaxPartitions: 1, MaxPerPartition: 1, Lower: 0, Upper: 100}
	a := feed(t, opt, rawEvents([]int{users}, 1, 99))
	n := trials(3000, 1200)
	var m, v float64
	for _, r := range releaseMany(t, a, nil, n) {
		d := r.Partitions[0].Value - 99
		m += d
		v += d * d
	}
	sd := math.Sqrt(v/float64(n) - (m/float64(n))*(m/float64(n)))
	pe, err := PlanError(opt, users)
	if err != nil {
		t.Fatal(err)
	}
	if r := sd / pe.StdDev; r < 0.9 || r > 1.1 {
		t.Errorf("empirical sd of the mean = %.4f, PlanError.StdDev = %.4f (ratio %.3f), want within 10%%", sd, pe.StdDev, r)
	}
}

// TestPlanErrorShares: PlanError's share half-width at U users (one unit
// each, spread evenly over the public partitions) agrees with the 95%
// quantile of |released share − true share| within 15%. With 4000 releases
// × 5 partitions the empirical quantile's relative error is ~1-2%, so 15% also
// leaves room for the first-order model.
func TestPlanErrorShares(t *testing.T) {
	const users = 2000
	// Count shares are normalized (users shares are of a released total of
	// users instead: ShareOfUsers).
	opt := MetricOptions{Name: "device", Kind: KindCount, Epsilon: 0.5, MaxPartitions: 1, MaxPerPartition: 1, Partitions: publicNames(4)}
	a := feed(t, opt, rawEvents([]int{400, 400, 400, 400, 400}, 1, 0))
	n := trials(4000, 1500)
	var errs []float64
	covered := 0
	for _, r := range releaseMany(t, a, nil, n) {
		for _, p := range r.Partitions {
			errs = append(errs, math.Abs(p.Share-0.2))
			if p.ShareLower <= 0.2 && 0.2 <= p.ShareUpper {
				covered++
			}
		}
	}
	sort.Float64s(errs)
	q95 := errs[int(0.95*float64(len(errs)))]
	pe, err := PlanError(opt, users)
	if err != nil {
		t.Fatal(err)
	}
	if r := 100 * q95 / pe.ShareHalfWidthPP; r < 0.85 || r > 1.15 {
		t.Errorf("empirical 95%% share error = %.3f pp, PlanError = %.3f pp (ratio %.3f), want within 15%%", 100*q95, pe.ShareHalfWidthPP, r)
	}
	if cov := float64(covered) / float64(len(errs)); cov < 0.93 {
		t.Errorf("share interval coverage = %.3f, want ≥ 0.93", cov)
	}
}

func TestPlanErrorErrors(t *testing.T) {
	if _, err := PlanError(validCount(), 0); err == nil {
		t.Errorf("PlanError(users=0) = nil, want error")
	}
	bad := validCount()
	bad.Epsilon = 0
	if _, err := PlanError(bad, 100); err == nil {
		t.Errorf("PlanError(ε=0) = nil, want error")
	}
	q := MetricOptions{Name: "q", Kind: KindQuantiles, Epsilon: 1, MaxPartitions: 1, MaxPerPartition: 1, Lower: 0, Upper: 1, Ranks: []float64{0.5}}
	if pe, err := PlanError(q, 100); err != nil || pe.Note == "" {
		t.Errorf("PlanError(quantiles) = %+v, %v; want a note and no error", pe, err)
	}
}
