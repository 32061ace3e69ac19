package reports

import (
	"fmt"
	"math"
)

// Intervals and the "mostly noise" rule. Both read released values and
// public parameters (bounds, confidence level) only, never the data: they
// are post-processing, and the same rule is applied in index.html, the CSVs
// and report.json.

// defaultQuantileNote is published for a quantile without an interval whose
// producer gave no reason.
const defaultQuantileNote = "no confidence interval was computed for this quantile"

// Thresholds of the mostly-noise rule; NoiseRule says the same in words.
const (
	// atBoundFraction: a mean or quantile within this fraction of its
	// clamping range [lower, upper] from either end sits "at" the bound.
	atBoundFraction = 0.001
	// spanFraction: an interval of a mean or quantile wider than this
	// fraction of the clamping range covers "most of" the possible values.
	spanFraction = 0.5
)

// NoiseRule is the mostly-noise rule in plain words, as index.html and the
// JSON Schema state it.
const NoiseRule = "A number is marked as mostly noise when its interval is wider than the estimate itself " +
	"(or the estimate is 0); a share is judged by its share interval. " +
	"A mean or quantile of values clamped to [lower, upper] is also marked when it sits at a clamp bound " +
	"(within 0.1 % of the range: noise pushed it to the edge of what can be released) " +
	"or when its interval covers more than half of [lower, upper]. " +
	"The rule reads only released values and public bounds."

// interval is a released number as the rule and the writers see it.
type interval struct {
	v, lo, hi float64
	ok        bool   // the number has an interval
	note      string // why not, when !ok
}

// quantileInterval returns q of partition p with its interval, or the
// reason it has none.
func quantileInterval(p Partition, q Quantile) interval {
	if q.Lower != nil && q.Upper != nil {
		return interval{v: q.Value, lo: *q.Lower, hi: *q.Upper, ok: true}
	}
	note := q.IntervalNote
	if note == "" {
		note = p.IntervalNote
	}
	if note == "" {
		note = defaultQuantileNote
	}
	return interval{v: q.Value, note: note}
}

// partitionInterval returns p's value with its interval, or the reason it
// has none.
func partitionInterval(p Partition) interval {
	if p.IntervalNote != "" {
		return interval{v: p.Value, note: p.IntervalNote}
	}
	return interval{v: p.Value, lo: p.Lower, hi: p.Upper, ok: true}
}

// boundedKind reports whether the metric's numbers are single values of the
// clamping range [Lower, Upper] (means and quantiles; a sum is not).
func boundedKind(m *Metric) bool {
	return (m.Kind == KindMean || m.Kind == KindQuantiles) && m.Upper > m.Lower
}

// judge applies the mostly-noise rule to one number. fmtV formats bounds for
// the reason. It returns "" when the number is not mostly noise.
func judge(m *Metric, x interval, fmtV func(float64) string) string {
	if boundedKind(m) {
		tol := atBoundFraction * (m.Upper - m.Lower)
		switch {
		case x.v >= m.Upper-tol:
			return fmt.Sprintf("at the upper clamp bound (%s)", fmtV(m.Upper))
		case x.v <= m.Lower+tol:
			return fmt.Sprintf("at the lower clamp bound (%s)", fmtV(m.Lower))
		case x.ok && x.hi-x.lo > spanFraction*(m.Upper-m.Lower):
			return fmt.Sprintf("interval spans over half the range %s – %s", fmtV(m.Lower), fmtV(m.Upper))
		}
	}
	if !x.ok {
		return ""
	}
	switch {
	case x.v == 0:
		return "estimate is 0"
	case x.hi-x.lo > math.Abs(x.v):
		return "interval wider than the estimate"
	}
	return ""
}

// shownInterval is p's value and interval as displayed: for metrics whose
// true values cannot be negative, negative noisy values are raised to 0.
func shownInterval(m *Metric, p Partition) interval {
	x := partitionInterval(p)
	if nonNegative(m) {
		x.v, x.lo, x.hi = math.Max(x.v, 0), math.Max(x.lo, 0), math.Max(x.hi, 0)
	}
	return x
}

// shareInterval is p's share and its interval, if p has a share.
func shareInterval(p Partition) (interval, bool) {
	if p.Share == nil {
		return interval{}, false
	}
	s := *p.Share
	x := interval{v: s, lo: s, hi: s, ok: true}
	if p.ShareLower != nil {
		x.lo = *p.ShareLower
	}
	if p.ShareUpper != nil {
		x.hi = *p.ShareUpper
	}
	return x, true
}

// noiseReason applies the rule to partition p (for quantiles metrics: to
// each quantile; the first that is mostly noise gives the reason) and
// returns why it is mostly noise, or "".
func noiseReason(m *Metric, p Partition) string {
	fmtV := valueFormatter(m)
	if m.Kind == KindQuantiles {
		for _, q := range p.Quantiles {
			if r := judge(m, quantileInterval(p, q), fmtV); r != "" {
				return rankLabel(q.Rank) + ": " + r
			}
		}
		if len(p.Quantiles) > 0 {
			return ""
		}
	}
	if s, ok := shareInterval(p); ok {
		return judge(m, s, fmtPct)
	}
	return judge(m, shownInterval(m, p), fmtV)
}

// quantileNoiseReason applies the rule to quantile q of partition p.
func quantileNoiseReason(m *Metric, p Partition, q Quantile) string {
	return judge(m, quantileInterval(p, q), valueFormatter(m))
}
