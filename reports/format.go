package reports

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Display formatting for index.html. Noise makes digits beyond these
// meaningless; report.json keeps 6 significant digits.

const (
	thinSpace = "\u202f" // narrow no-break space: digit groups, "23.4 %"
	minus     = "\u2212"
)

// fmtInt formats v rounded to an integer with thin-space digit groups.
func fmtInt(v float64) string {
	r := math.Round(v)
	if r == 0 {
		return "0" // no "−0"
	}
	s := strconv.FormatFloat(math.Abs(r), 'f', 0, 64)
	var b strings.Builder
	if r < 0 {
		b.WriteString(minus)
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(thinSpace)
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtNum formats a measured value (sum, mean, quantile): integers with digit
// groups from 100 up, three significant digits below.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100 || v == 0:
		return fmtInt(v)
	default:
		s := strconv.FormatFloat(a, 'g', 3, 64)
		if strings.ContainsAny(s, "e") {
			s = strconv.FormatFloat(a, 'f', -1, 64)
		}
		if v < 0 {
			return minus + s
		}
		return s
	}
}

// fmtPct formats a share in [0, 1] as "23.4 %".
func fmtPct(v float64) string {
	switch {
	case v <= 0:
		return "0" + thinSpace + "%"
	case v < 0.0005:
		return "<0.1" + thinSpace + "%"
	}
	return strconv.FormatFloat(v*100, 'f', 1, 64) + thinSpace + "%"
}

// fmtEps formats ε with up to three significant digits.
func fmtEps(e float64) string { return formatSig(e, 3) }

var superscripts = strings.NewReplacer("-", "⁻", "0", "⁰", "1", "¹", "2", "²", "3", "³", "4", "⁴", "5", "⁵", "6", "⁶", "7", "⁷", "8", "⁸", "9", "⁹")

// fmtDelta formats a small probability as "10⁻⁶" or "2.5 × 10⁻⁷".
func fmtDelta(d float64) string {
	if d == 0 {
		return "0"
	}
	if d >= 0.001 {
		return formatSig(d, 3)
	}
	s := strconv.FormatFloat(d, 'e', 2, 64) // "2.50e-07"
	mant, exp, _ := strings.Cut(s, "e")
	mant = strings.TrimRight(strings.TrimRight(mant, "0"), ".")
	e, _ := strconv.Atoi(exp)
	pow := "10" + superscripts.Replace(strconv.Itoa(e))
	if mant == "1" {
		return pow
	}
	return mant + thinSpace + "×" + thinSpace + pow
}

// fmtPeriod formats [start, end) as dates, end inclusive: "5 Jan 2026" for
// one day, "5 – 11 Jan 2026" for a week.
func fmtPeriod(start, end time.Time) string {
	start, end = start.UTC(), end.UTC()
	last := end
	if last.Equal(last.Truncate(24*time.Hour)) && last.After(start) {
		last = last.Add(-time.Nanosecond) // exclusive midnight: the day before
	}
	const day = "2 Jan 2006"
	if start.Hour() != 0 || start.Minute() != 0 || !end.Equal(end.Truncate(24*time.Hour)) {
		return start.Format("2 Jan 2006 15:04") + " – " + end.Format("2 Jan 2006 15:04") + " UTC"
	}
	switch {
	case start.Format(day) == last.Format(day):
		return start.Format(day)
	case start.Year() == last.Year() && start.Month() == last.Month():
		return start.Format("2") + " – " + last.Format(day)
	case start.Year() == last.Year():
		return start.Format("2 Jan") + " – " + last.Format(day)
	}
	return start.Format(day) + " – " + last.Format(day)
}
