package reports

import (
	"math"
	"strconv"
	"strings"
)

// Units as index.html shows them. Durations are released in the unit of the
// data (seconds, usually) but shown the way people read them: whole minutes,
// or hours and minutes. report.json and the CSVs keep the released unit and
// name it.

// secondsPer returns how many seconds one unit is, for a duration unit.
func secondsPer(unit string) (float64, bool) {
	switch strings.ToLower(strings.TrimSpace(unit)) {
	case "ms", "millisecond", "milliseconds":
		return 0.001, true
	case "s", "sec", "secs", "second", "seconds":
		return 1, true
	case "min", "mins", "minute", "minutes":
		return 60, true
	case "h", "hr", "hrs", "hour", "hours":
		return 3600, true
	}
	return 0, false
}

// fmtDuration formats a duration in seconds as whole minutes ("42 min"),
// or hours and minutes from one hour up ("1 h 09 min", "4 h"). A positive
// duration under half a minute is "< 1 min".
func fmtDuration(sec float64) string {
	neg := sec < 0
	a := math.Abs(sec)
	mins := math.Round(a / 60)
	var s string
	switch {
	case mins == 0 && sec > 0:
		s = "<" + thinSpace + "1" + thinSpace + "min"
	case mins == 0:
		s = "0" + thinSpace + "min"
	case mins < 60:
		s = strconv.FormatFloat(mins, 'f', 0, 64) + thinSpace + "min"
	default:
		h, m := math.Floor(mins/60), math.Mod(mins, 60)
		s = fmtInt(h) + thinSpace + "h"
		if m != 0 {
			s += " " + strconv.FormatFloat(100+m, 'f', 0, 64)[1:] + thinSpace + "min"
		}
	}
	if neg && mins != 0 {
		return minus + s
	}
	return s
}

// durationEdge formats a bucket edge in seconds compactly, without its
// unit: whole hours or half hours from one hour up, else minutes, else
// seconds. The unit is returned separately.
func durationEdge(sec float64) (string, string) {
	switch {
	case sec >= 3600 && math.Mod(sec, 1800) == 0:
		return formatSig(sec/3600, 4), "h"
	case math.Mod(sec, 60) == 0:
		return formatSig(sec/60, 6), "min"
	}
	return formatSig(sec, 6), "s"
}

// valueFormatter returns how index.html formats m's values: whole numbers
// for counts, durations for a duration unit, else the number and its unit.
func valueFormatter(m *Metric) func(float64) string {
	if m.Kind == KindCount || m.Kind == KindUsers {
		return fmtInt
	}
	if per, ok := secondsPer(m.Unit); ok {
		return func(v float64) string { return fmtDuration(v * per) }
	}
	unit := ""
	if m.Unit != "" {
		unit = thinSpace + m.Unit
	}
	return func(v float64) string { return fmtNum(v) + unit }
}

// fmtBound formats a clamping bound with its unit, for the influence text.
func fmtBound(v float64, unit string) string {
	if per, ok := secondsPer(unit); ok {
		return fmtDuration(v * per)
	}
	if unit != "" {
		return fmtNum(v) + thinSpace + unit
	}
	return fmtNum(v)
}

// bucketLabel is the chart label of a bucket [lo, hi): for durations in
// minutes or hours ("30 min–1 h", "1–1.5 h", "≥ 3 h"); otherwise the edges
// as whole-number ranges without the unit ("8000–15999", "≥ 40000"), the
// unit being named once under the chart. ok is false without edges.
func bucketLabel(p Partition, unit string) (string, bool) {
	if p.BucketLower == nil {
		return "", false
	}
	lo := *p.BucketLower
	if per, isDur := secondsPer(unit); isDur {
		l, lu := durationEdge(lo * per)
		if p.BucketUpper == nil {
			return "≥" + thinSpace + l + thinSpace + lu, true
		}
		h, hu := durationEdge(*p.BucketUpper * per)
		if lu == hu {
			return l + "–" + h + thinSpace + hu, true
		}
		return l + thinSpace + lu + "–" + h + thinSpace + hu, true
	}
	if p.BucketUpper == nil {
		return "≥" + thinSpace + formatSig(lo, 12), true
	}
	hi := *p.BucketUpper
	if lo == math.Trunc(lo) && hi == math.Trunc(hi) {
		hi-- // whole numbers: the upper end inclusive, as in the partition names
	}
	return formatSig(lo, 12) + "–" + formatSig(hi, 12), true
}
