package reports

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// csvBaseColumns is the fixed start of every per-metric CSV header.
// Quantile metrics append p<rank>, p<rank>_lower, p<rank>_upper per rank, in
// increasing rank; csvTailColumns end every header.
var csvBaseColumns = []string{"partition", "value", "lower", "upper", "clamped", "share", "share_lower", "share_upper"}

// csvTailColumns end every per-metric CSV header. The clamping bounds of
// sum, mean and quantiles have their own columns: lower and upper are only
// ever a confidence interval.
var csvTailColumns = []string{"bucket_lower", "bucket_upper", "unit", "noise_dominated", "interval_note", "clamp_lower", "clamp_upper"}

// WriteCSV writes one metric as CSV (RFC 4180, comma-separated, UTF-8, "\n"
// line ends): a header row, then one row per partition in the metric's order.
// Numbers use 6 significant digits and always have a decimal point; a column that does not apply to the
// metric (share for sums, say) is left empty, and so are lower and upper of
// a number without an interval (interval_note says why). For quantiles
// metrics value, lower and upper are the quantile nearest the median and its
// interval. unit is the unit of value, lower and upper; shares are fractions
// in [0, 1]. A cell that a spreadsheet would run as a formula (starting with
// = + - @ tab or CR) is prefixed with a single quote.
func WriteCSV(w io.Writer, m *Metric) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	m = sanitizedMetric(m)
	ranks := quantileRanks(m)
	header := append([]string(nil), csvBaseColumns...)
	for _, rk := range ranks {
		p := rankLabel(rk)
		header = append(header, p, p+"_lower", p+"_upper")
	}
	header = append(header, csvTailColumns...)
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("csv of %s: write: %w", m.Name, err)
	}
	unit := spreadsheetSafe(valueUnit(m))
	clampLo, clampHi := "", ""
	if m.Kind == KindSum || m.Kind == KindMean || m.Kind == KindQuantiles {
		clampLo, clampHi = csvNum(m.Lower), csvNum(m.Upper)
	}
	for _, p := range m.Partitions {
		x := partitionInterval(p)
		row := []string{
			spreadsheetSafe(p.Name),
			csvNum(p.Value),
			ciNum(x, x.lo), ciNum(x, x.hi),
			strconv.FormatBool(p.Clamped),
			optNum(p.Share), optNum(p.ShareLower), optNum(p.ShareUpper),
		}
		notes := []string{}
		if !x.ok {
			notes = append(notes, x.note)
		}
		for _, rk := range ranks {
			q, ok := quantileAt(p, rk)
			if !ok {
				row = append(row, "", "", "")
				continue
			}
			qx := quantileInterval(p, q)
			row = append(row, csvNum(q.Value), ciNum(qx, qx.lo), ciNum(qx, qx.hi))
			if !qx.ok && !slices.Contains(notes, qx.note) {
				notes = append(notes, qx.note)
			}
		}
		row = append(row, optNum(p.BucketLower), optNum(p.BucketUpper), unit,
			strconv.FormatBool(noiseReason(m, p) != ""), spreadsheetSafe(strings.Join(notes, "; ")), clampLo, clampHi)
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("csv of %s: write: %w", m.Name, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("csv of %s: write: %w", m.Name, err)
	}
	return nil
}

// csvNum formats a number for a CSV cell: 6 significant digits, always
// with a decimal point or an exponent ("55819.0", not "55819"), so that
// pandas, R and DuckDB read every numeric column as floating point on
// every day, whether or not that day's values happen to be whole.
func csvNum(f float64) string {
	s := formatSig(f, significantDigits)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// ciNum is an end of x's interval for a CSV cell: empty without one.
func ciNum(x interval, end float64) string {
	if !x.ok {
		return ""
	}
	return csvNum(end)
}

// valueUnit is the unit of a metric's values as the CSVs state it: events
// or users for counts, the metric's unit otherwise (may be empty).
func valueUnit(m *Metric) string {
	switch m.Kind {
	case KindCount:
		return "events"
	case KindUsers:
		return "users"
	}
	return m.Unit
}

func optNum(f *float64) string {
	if f == nil {
		return ""
	}
	return csvNum(*f)
}

// spreadsheetSafe defuses CSV formula injection (OWASP): partition names come
// from data and config.
func spreadsheetSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// quantileRanks returns the union of the metric's quantile ranks, sorted.
func quantileRanks(m *Metric) []float64 {
	seen := map[float64]bool{}
	var ranks []float64
	for _, p := range m.Partitions {
		for _, q := range p.Quantiles {
			if !seen[q.Rank] {
				seen[q.Rank] = true
				ranks = append(ranks, q.Rank)
			}
		}
	}
	sort.Float64s(ranks)
	return ranks
}

func quantileAt(p Partition, rank float64) (Quantile, bool) {
	for _, q := range p.Quantiles {
		if q.Rank == rank {
			return q, true
		}
	}
	return Quantile{}, false
}

// rankLabel names a rank as a percentile: 0.5 → "p50", 0.999 → "p99.9".
func rankLabel(rank float64) string {
	return "p" + formatSig(rank*100, 4)
}
