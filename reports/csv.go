package reports

import (
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// csvBaseColumns is the fixed start of every CSV header. Quantile metrics
// append p<rank>, p<rank>_lower, p<rank>_upper per rank, in increasing rank.
var csvBaseColumns = []string{"partition", "value", "lower", "upper", "clamped", "share", "share_lower", "share_upper"}

// WriteCSV writes one metric as CSV (RFC 4180, comma-separated, UTF-8, "\n"
// line ends): a header row, then one row per partition in the metric's order.
// Numbers use 6 significant digits; a column that does not apply to the
// metric (share for sums, say) is left empty. A partition name that a
// spreadsheet would run as a formula (starting with = + - @ tab or CR) is
// prefixed with a single quote.
func WriteCSV(w io.Writer, m *Metric) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("WriteCSV: %w", err)
	}
	m = sanitizedMetric(m)
	ranks := quantileRanks(m)
	header := append([]string(nil), csvBaseColumns...)
	for _, rk := range ranks {
		p := rankLabel(rk)
		header = append(header, p, p+"_lower", p+"_upper")
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("WriteCSV: write %s: %w", m.Name, err)
	}
	for _, p := range m.Partitions {
		lower, upper := formatSig(p.Lower, significantDigits), formatSig(p.Upper, significantDigits)
		if p.NoIntervalReason != "" {
			lower, upper = "", "" // no interval: empty, never a number that looks like one
		}
		row := []string{
			spreadsheetSafe(p.Name),
			formatSig(p.Value, significantDigits),
			lower, upper,
			strconv.FormatBool(p.Clamped),
			optNum(p.Share), optNum(p.ShareLower), optNum(p.ShareUpper),
		}
		for _, rk := range ranks {
			q, ok := quantileAt(p, rk)
			if !ok {
				row = append(row, "", "", "")
				continue
			}
			row = append(row, formatSig(q.Value, significantDigits), optNum(q.Lower), optNum(q.Upper))
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("WriteCSV: write %s: %w", m.Name, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("WriteCSV: write %s: %w", m.Name, err)
	}
	return nil
}

func optNum(f *float64) string {
	if f == nil {
		return ""
	}
	return formatSig(*f, significantDigits)
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
