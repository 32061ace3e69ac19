package reports

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// SchemaVersion is the version of the report.json format described by
// schema/report.schema.json. It follows semver: a new optional field bumps the
// minor version, a removed or re-typed field bumps the major version.
const SchemaVersion = "1.2.0"

// Metric kinds.
const (
	KindCount     = "count"     // noisy number of events (bounded sum of per-user totals)
	KindUsers     = "users"     // noisy number of distinct users
	KindSum       = "sum"       // noisy sum of clamped values
	KindMean      = "mean"      // noisy mean of clamped values
	KindQuantiles = "quantiles" // noisy quantiles of clamped values
)

// Metric displays.
const (
	DisplayShare     = "share"     // horizontal bars with error bars
	DisplayHistogram = "histogram" // vertical bars in partition order (ordered buckets)
	DisplayTable     = "table"     // a table only
)

// Report is everything a published report shows. It holds released (noisy)
// values and job metadata only: the job runner fills it after the DP release,
// and nothing in it may depend on the private data except through that
// release. There is deliberately no field for exact row, user or skip counts.
type Report struct {
	Job         string    // required; a path-safe name ([A-Za-z0-9._-], no "..")
	Title       string    // optional; human title of the job (default: Job)
	Period      string    // required; path-safe, e.g. "2026-01-05" or "2026-W02"
	RunID       string    // required
	ToolVersion string    // optional; the dpstats version that produced the report
	PeriodStart time.Time // required; inclusive, UTC
	PeriodEnd   time.Time // required; exclusive, UTC, after PeriodStart
	GeneratedAt time.Time // required

	Epsilon float64 // required; total ε of this report, > 0
	Delta   float64 // total δ of this report, in [0, 1)
	Noise   string  // required; noise kind, e.g. "laplace" or "gaussian"

	Ledger LedgerSummary // the budget ledger's totals in its window, including this report

	Metrics   []Metric    // at least one; names unique and path-safe
	Collected []Statistic // the full "what we collect" list (as `dpstats explain` prints it)
	Warnings  []string    // report-level warnings, shown prominently

	// Population are the quality gate's noisy counts of contributing users,
	// one per consent category (optional; categories unique). MinUsers is
	// the gate's threshold: the report was published because every count
	// reached it (0: the gate never withholds).
	Population []PopulationCount
	MinUsers   int

	// ZCDP is set when the job accounts in zero-concentrated DP (since
	// schema 1.2.0): the report spent ZCDP.Rho, and Epsilon and Delta are
	// what it promises on its own, at the ledger cap's δ.
	ZCDP *ZCDP
}

// LedgerSummary is the budget ledger's state after this report's spend was
// recorded: totals over the rolling window, over every job that shares the
// ledger, including this report.
type LedgerSummary struct {
	WindowDays   int     // length of the rolling window in days, > 0
	EpsilonSpent float64 // ε spent in the window, including this report
	EpsilonCap   float64 // ε cap of the window, > 0
	DeltaSpent   float64 // δ spent in the window, including this report
	DeltaCap     float64 // δ cap of the window

	// EpsilonAllTime and DeltaAllTime are everything the ledger records, all
	// jobs, since it was started, including this report: the cap bounds any
	// window, these show the years. Torn ledger records of unknown size are
	// not in them but counted in UnknownAllTime.
	EpsilonAllTime, DeltaAllTime float64
	UnknownAllTime               int

	// ZCDP is set when the window holds a zero-concentrated release (since
	// schema 1.2.0): EpsilonSpent and DeltaSpent are then the window's
	// (ε, δ) guarantee at the cap's δ, and EpsilonAllTime, DeltaAllTime the
	// ledger's; ZCDP gives the totals in ρ.
	ZCDP *LedgerZCDP
}

// Metric is one released statistic, partitioned by one dimension.
type Metric struct {
	Name            string // required; path-safe, unique in the report; names the CSV file
	Title           string // required; human title, e.g. "Device type share"
	Description     string // optional; one or two sentences for analysts
	Kind            string // required; one of the Kind* constants
	Dimension       string // required; the column the partitions come from, e.g. "device_type"
	ConsentCategory string // required; only users who opted in to it are counted
	Generalization  string // optional; how the values were generalized before use
	Unit            string // optional; unit of values (sum/mean/quantiles), e.g. "kbps"

	MaxPartitions   int     // contribution bound: partitions per user, > 0
	MaxPerPartition int     // contribution bound: values per user and partition, > 0
	Lower, Upper    float64 // value clamping bounds (sum/mean/quantiles); ignored for count/users

	Epsilon         float64 // ε spent on this metric, > 0
	Delta           float64 // δ spent on this metric, in [0, 1)
	ConfidenceLevel float64 // level of every interval, in (0, 1), e.g. 0.95

	Display string // one of the Display* constants; empty means "table"
	// BucketUnit is the unit of the partitions' bucket edges (e.g. "kbps",
	// "s") when the dimension is a bucketed number; optional.
	BucketUnit string
	Partitions []Partition
	Warnings   []string

	// CapsCut is the DP estimate of how many of the metric's users the
	// per-user caps (MaxPartitions, MaxPerPartition) cut; nil if none was
	// released.
	CapsCut *CapsCut

	// ZCDP is set under zero-concentrated accounting: the metric spent
	// ZCDP.Rho, and Epsilon and Delta are what it promises on its own.
	ZCDP *ZCDP
}

// CapsCut estimates how much a metric's per-user caps cut: how many of the
// users who contributed to it gave more than the caps let through (more
// partitions than MaxPartitions, or more than MaxPerPartition events or
// values to one of them), from two noisy counts of disjoint groups of users
// (cut, not cut) released with a slice of the metric's budget.
type CapsCut struct {
	Epsilon, Delta float64 // the part of the metric's ε and δ spent on it
	// Rho is the part of the metric's ρ spent on it under zero-concentrated
	// accounting (since schema 1.2.0); Epsilon and Delta are then what the
	// estimate promises on its own.
	Rho float64
	// Users is the noisy number of users whose contributions were cut, with
	// its confidence interval.
	Users, UsersLower, UsersUpper float64
	// Contributing is the noisy number of users who contributed at all.
	Contributing, ContributingLower, ContributingUpper float64
	// Share is Users/Contributing, in [0, 1], with its confidence interval.
	Share, ShareLower, ShareUpper float64
}

// Partition is the released result for one partition of a metric.
type Partition struct {
	Name string // partition name as configured or selected; may be any text

	// Value is the released noisy estimate, as released: a noisy count may be
	// negative. Lower and Upper bound its confidence interval, unless
	// IntervalNote is set. For quantiles metrics Value is the quantile whose
	// rank is nearest 0.5, and Lower, Upper and IntervalNote are its own.
	Value, Lower, Upper float64
	// IntervalNote, when set, says that Value has no confidence interval and
	// why; Lower and Upper are then meaningless and are not published. It
	// is also the reason given for any of Quantiles without an interval.
	IntervalNote string
	// Clamped reports that post-processing clamped Value into the metric's
	// valid range (e.g. a negative count raised to 0) before it was stored.
	Clamped bool

	// Share and its interval, for count and users metrics only, derived by
	// post-processing. count: the share of the metric's total (noisy counts
	// clamped at 0, normalized). users: the share of the users of the
	// metric's consent category (its count over the Population count of
	// that category; shares do not add up to 1, since a user can count in
	// several partitions). Nil when not applicable, or for users metrics
	// when no Population count was released.
	Share, ShareLower, ShareUpper *float64

	// Quantiles, for quantiles metrics only, in increasing rank.
	Quantiles []Quantile

	// BucketLower and BucketUpper are the numeric edges of the partition's
	// bucket, [lower, upper), when the dimension is a bucketed number; nil
	// otherwise. A nil BucketUpper with a BucketLower is an open last bucket.
	BucketLower, BucketUpper *float64
	// ValueCount is, for quantiles metrics, the noisy number of values the
	// partition's quantiles were computed from (clamped at 0), with its
	// interval; nil otherwise. A partition with few values has quantiles
	// that are mostly noise.
	ValueCount, ValueCountLower, ValueCountUpper *float64
}

// Quantile is one released quantile.
type Quantile struct {
	Rank  float64  // in [0, 1], e.g. 0.5 for the median
	Value float64  // released noisy quantile
	Lower *float64 // optional interval, at the metric's confidence level
	Upper *float64
	// IntervalNote says why the quantile has no interval (Lower and Upper
	// nil); "" means the partition's IntervalNote applies.
	IntervalNote string
}

// Bounds are a statistic's contribution bounds.
type Bounds struct {
	MaxPartitions   int
	MaxPerPartition int
	Lower, Upper    float64 // value clamping bounds; zero for count and users
}

// Statistic is one entry of the public list of everything dpstats collects:
// the same list `dpstats explain` prints.
type Statistic struct {
	Name            string
	Description     string
	Kind            string // optional; one of the Kind* constants
	Columns         []string
	ConsentCategory string
	Generalization  string
	Bounds          Bounds
	EpsilonShare    float64 // fraction of the run's ε, in [0, 1]
}

// ErrInvalidReport is wrapped by every validation error.
var ErrInvalidReport = errors.New("invalid report")

var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// checkName reports whether s can be used as one path element: no separators,
// no "..", no hidden or empty names.
func checkName(what, s string) error {
	if !safeName.MatchString(s) || strings.Contains(s, "..") {
		return fmt.Errorf("%w: %s %q is not a safe name (want 1-128 of [A-Za-z0-9._-], starting with a letter or digit, no \"..\")", ErrInvalidReport, what, s)
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// Validate checks that r can be published: names are path-safe, privacy
// parameters are in range and every number is finite. It never modifies r.
func (r *Report) Validate() error {
	if r == nil {
		return fmt.Errorf("%w: nil report", ErrInvalidReport)
	}
	if err := r.validate(); err != nil {
		return err
	}
	return nil
}

func (r *Report) validate() error {
	if err := checkName("job", r.Job); err != nil {
		return err
	}
	if err := checkName("period", r.Period); err != nil {
		return err
	}
	if r.RunID == "" {
		return fmt.Errorf("%w: run id is empty", ErrInvalidReport)
	}
	if r.PeriodStart.IsZero() || r.PeriodEnd.IsZero() || !r.PeriodEnd.After(r.PeriodStart) {
		return fmt.Errorf("%w: period [%s, %s) is empty or unset", ErrInvalidReport, r.PeriodStart.Format(time.RFC3339), r.PeriodEnd.Format(time.RFC3339))
	}
	if r.GeneratedAt.IsZero() {
		return fmt.Errorf("%w: generated-at time is unset", ErrInvalidReport)
	}
	if err := checkBudget("report", r.Epsilon, r.Delta); err != nil {
		return err
	}
	if err := r.ZCDP.validate("report"); err != nil {
		return err
	}
	if err := r.Ledger.ZCDP.validate(); err != nil {
		return err
	}
	if r.Noise == "" {
		return fmt.Errorf("%w: noise kind is empty", ErrInvalidReport)
	}
	l := r.Ledger
	if l.WindowDays <= 0 || !(l.EpsilonCap > 0) || !finite(l.EpsilonCap) || !finite(l.EpsilonSpent) || l.EpsilonSpent < 0 ||
		!finite(l.DeltaSpent) || !finite(l.DeltaCap) || l.DeltaSpent < 0 || l.DeltaCap < 0 ||
		!finite(l.EpsilonAllTime) || !finite(l.DeltaAllTime) || l.EpsilonAllTime < 0 || l.DeltaAllTime < 0 || l.UnknownAllTime < 0 {
		return fmt.Errorf("%w: ledger summary %+v: want window > 0 days, ε cap > 0, finite non-negative totals", ErrInvalidReport, l)
	}
	if len(r.Metrics) == 0 {
		return fmt.Errorf("%w: no metrics", ErrInvalidReport)
	}
	if err := r.validatePopulation(); err != nil {
		return err
	}
	seen := make(map[string]bool, len(r.Metrics))
	for i := range r.Metrics {
		m := &r.Metrics[i]
		if seen[m.Name] {
			return fmt.Errorf("%w: metric %q appears twice", ErrInvalidReport, m.Name)
		}
		seen[m.Name] = true
		if err := m.validate(); err != nil {
			return err
		}
	}
	for _, s := range r.Collected {
		if s.Name == "" {
			return fmt.Errorf("%w: collected statistic with empty name", ErrInvalidReport)
		}
		if !finite(s.EpsilonShare) || s.EpsilonShare < 0 || s.EpsilonShare > 1 || !finite(s.Bounds.Lower) || !finite(s.Bounds.Upper) {
			return fmt.Errorf("%w: collected statistic %q: ε share %v must be in [0, 1] and bounds finite", ErrInvalidReport, s.Name, s.EpsilonShare)
		}
	}
	return nil
}

func checkBudget(what string, eps, delta float64) error {
	if !(eps > 0) || !finite(eps) {
		return fmt.Errorf("%w: %s ε = %v, want a finite value > 0", ErrInvalidReport, what, eps)
	}
	if !(delta >= 0 && delta < 1) {
		return fmt.Errorf("%w: %s δ = %v, want 0 ≤ δ < 1", ErrInvalidReport, what, delta)
	}
	return nil
}

// Validate checks one metric, as WriteCSV needs it.
func (m *Metric) Validate() error {
	if m == nil {
		return fmt.Errorf("%w: nil metric", ErrInvalidReport)
	}
	if err := m.validate(); err != nil {
		return err
	}
	return nil
}

func (m *Metric) validate() error {
	if err := checkName("metric", m.Name); err != nil {
		return err
	}
	if strings.EqualFold(m.Name, TidyCSVName[:len(TidyCSVName)-len(".csv")]) {
		return fmt.Errorf("%w: metric name %q is reserved: its CSV would overwrite %s", ErrInvalidReport, m.Name, TidyCSVName)
	}
	where := "metric " + m.Name
	if c := m.CapsCut; c != nil {
		for _, f := range []float64{c.Epsilon, c.Delta, c.Users, c.UsersLower, c.UsersUpper, c.Contributing, c.ContributingLower, c.ContributingUpper} {
			if !finite(f) {
				return fmt.Errorf("%w: %s: caps-cut estimate has a non-finite number", ErrInvalidReport, where)
			}
		}
		for _, f := range []float64{c.Share, c.ShareLower, c.ShareUpper} {
			if !(f >= 0 && f <= 1) {
				return fmt.Errorf("%w: %s: caps-cut share outside [0, 1]", ErrInvalidReport, where)
			}
		}
	}
	switch m.Kind {
	case KindCount, KindUsers, KindSum, KindMean, KindQuantiles:
	default:
		return fmt.Errorf("%w: %s: kind %q, want count, users, sum, mean or quantiles", ErrInvalidReport, where, m.Kind)
	}
	switch m.Display {
	case "", DisplayShare, DisplayHistogram, DisplayTable:
	default:
		return fmt.Errorf("%w: %s: display %q, want share, histogram or table", ErrInvalidReport, where, m.Display)
	}
	if m.Title == "" || m.Dimension == "" || m.ConsentCategory == "" {
		return fmt.Errorf("%w: %s: title, dimension and consent category are required", ErrInvalidReport, where)
	}
	if m.MaxPartitions <= 0 || m.MaxPerPartition <= 0 {
		return fmt.Errorf("%w: %s: contribution bounds %d partitions × %d per partition, want both > 0", ErrInvalidReport, where, m.MaxPartitions, m.MaxPerPartition)
	}
	if !finite(m.Lower) || !finite(m.Upper) || m.Lower > m.Upper {
		return fmt.Errorf("%w: %s: bounds [%v, %v], want finite lower ≤ upper", ErrInvalidReport, where, m.Lower, m.Upper)
	}
	if err := checkBudget(where, m.Epsilon, m.Delta); err != nil {
		return err
	}
	if err := m.ZCDP.validate(where); err != nil {
		return err
	}
	if !(m.ConfidenceLevel > 0 && m.ConfidenceLevel < 1) {
		return fmt.Errorf("%w: %s: confidence level %v, want 0 < level < 1", ErrInvalidReport, where, m.ConfidenceLevel)
	}
	for _, p := range m.Partitions {
		if !finite(p.Value) || !finite(p.Lower) || !finite(p.Upper) {
			return fmt.Errorf("%w: %s: partition %q has a non-finite value or interval", ErrInvalidReport, where, p.Name)
		}
		if (p.BucketLower != nil && !finite(*p.BucketLower)) || (p.BucketUpper != nil && !finite(*p.BucketUpper)) ||
			(p.BucketUpper != nil && (p.BucketLower == nil || !(*p.BucketLower < *p.BucketUpper))) {
			return fmt.Errorf("%w: %s: partition %q has invalid bucket edges (want finite lower < upper, or an open last bucket with a lower edge only)", ErrInvalidReport, where, p.Name)
		}
		for _, f := range []*float64{p.Share, p.ShareLower, p.ShareUpper} {
			if f != nil && !(*f >= 0 && *f <= 1) {
				return fmt.Errorf("%w: %s: partition %q has a share outside [0, 1]", ErrInvalidReport, where, p.Name)
			}
		}
		for _, f := range []*float64{p.ValueCount, p.ValueCountLower, p.ValueCountUpper} {
			if f != nil && !finite(*f) {
				return fmt.Errorf("%w: %s: partition %q has a non-finite value count", ErrInvalidReport, where, p.Name)
			}
		}
		for _, q := range p.Quantiles {
			if !finite(q.Value) || !(q.Rank >= 0 && q.Rank <= 1) ||
				(q.Lower != nil && !finite(*q.Lower)) || (q.Upper != nil && !finite(*q.Upper)) {
				return fmt.Errorf("%w: %s: partition %q has an invalid quantile (rank %v)", ErrInvalidReport, where, p.Name, q.Rank)
			}
		}
	}
	return nil
}
