package dp

import (
	"fmt"
	"math"
)

// UserShare is the share of a users partition in a released total of users,
// with its confidence interval.
type UserShare struct {
	// Share is the point estimate max(0, X)/T clipped to [0, 1], where X is
	// the partition's noisy count and T the noisy total.
	Share float64
	// [Lower, Upper] holds the share of the bounded counts x/t with
	// probability at least the releases' confidence level (see
	// ShareOfUsers).
	Lower, Upper float64
	// OK is false when the noisy total is not positive: there is no share
	// to show.
	OK bool
}

// ShareOfUsers derives the share of the users counted in partition i of part
// (a users release) among total, a users release of a single total over the
// same users: the quality gate's count of the users who contribute to the
// same consent category. It is post-processing of the two releases only: no
// data, no budget.
//
// Every user counted in a partition is counted in the total, so the true
// share x/t is in [0, 1]; the partitions of a users metric do not add up to
// 1, because one user counts in up to MaxPartitions of them.
//
// The interval: with α = 1 − confidence, the library's interval for X at
// level 1 − α/2, [x₋, x₊], holds x with probability ≥ 1 − α/2, and its
// interval for T at the same level, [t₋, t₊], holds t likewise. By the union
// bound both hold with probability ≥ 1 − α, and then
//
//	x/t ∈ [x₋/t₊, x₊/t₋] ∩ [0, 1]   (upper bound 1 when t₋ ≤ 0).
//
// The interval is conservative (its coverage is at least the nominal level,
// usually more) and, unlike a delta-method interval, needs no large-sample
// approximation. A count shown as 0 after clamping (its noisy value was
// negative) gets an interval around 0, which still holds the true count
// whenever the interval around the negative value did.
func ShareOfUsers(part *Released, i int, total *Released) (UserShare, error) {
	switch {
	case part == nil || total == nil:
		return UserShare{}, fmt.Errorf("ShareOfUsers: nil release")
	case part.Kind != KindUsers || total.Kind != KindUsers:
		return UserShare{}, fmt.Errorf("ShareOfUsers: %q (%s) and %q (%s) must both count users", part.Name, part.Kind, total.Name, total.Kind)
	case len(total.Partitions) != 1:
		return UserShare{}, fmt.Errorf("ShareOfUsers: total %q has %d partitions, want a single total", total.Name, len(total.Partitions))
	case i < 0 || i >= len(part.Partitions):
		return UserShare{}, fmt.Errorf("ShareOfUsers: %q has no partition %d", part.Name, i)
	case part.ConfidenceLevel != total.ConfidenceLevel:
		return UserShare{}, fmt.Errorf("ShareOfUsers: confidence levels differ: %v and %v", part.ConfidenceLevel, total.ConfidenceLevel)
	}
	x, t := part.Partitions[i].Value, total.Partitions[0].Value
	if !(t > 0) {
		return UserShare{}, nil
	}
	alpha := (1 - part.ConfidenceLevel) / 2
	xLo, xHi, err := part.opt.countInterval(x, alpha)
	if err != nil {
		return UserShare{}, fmt.Errorf("ShareOfUsers: %q: %w", part.Name, err)
	}
	tLo, tHi, err := total.opt.countInterval(t, alpha)
	if err != nil {
		return UserShare{}, fmt.Errorf("ShareOfUsers: %q: %w", total.Name, err)
	}
	s := UserShare{Share: clamp01(math.Max(0, x) / t), Lower: clamp01(math.Max(0, xLo) / tHi), Upper: 1, OK: true}
	if tLo > 0 {
		s.Upper = clamp01(xHi / tLo)
	}
	return s, nil
}

// countInterval is the library's confidence interval, at level 1 − alpha,
// of a noisy count (users) v released with o, its lower end clamped at 0 as
// the library's Count does.
func (o MetricOptions) countInterval(v, alpha float64) (lo, hi float64, err error) {
	eps, del, _, _ := o.split()
	if o.Kind != KindUsers {
		return 0, 0, fmt.Errorf("countInterval: kind %s is not a count of users", o.Kind)
	}
	ci, err := o.noise().ComputeConfidenceIntervalInt64(int64(math.Round(v)), int64(o.MaxPartitions), 1, eps, del, alpha)
	if err != nil {
		return 0, 0, err
	}
	return math.Max(0, ci.LowerBound), math.Max(0, ci.UpperBound), nil
}

func clamp01(f float64) float64 { return math.Min(1, math.Max(0, f)) }
