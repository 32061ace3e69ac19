package jobs

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/dpstats/dpstats/dp"
)

// PlanRow is the expected error of one metric at the run's ε and δ, before
// any data is read.
type PlanRow struct {
	Metric    string
	Kind      Kind
	Epsilon   float64
	Delta     float64
	Bounds    string
	Unit      string // of HalfWidth95: "events", "users" or the value's unit
	Error     dp.ExpectedError
	Published int // partitions always published (0 when selected from data)
}

// Plan returns the expected error of every metric of s for an assumed
// number of users. It reads no data and spends no budget: analysts use it
// to choose ε with flags before a run.
func Plan(s *Spec, users int) ([]PlanRow, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	stats := s.Statistics()
	var rows []PlanRow
	for i, opt := range s.MetricOptions(nil) {
		m := &s.Metrics[i]
		e, err := dp.PlanError(opt, users)
		if err != nil {
			return nil, fmt.Errorf("expected error of metric %s: %w", m.Name, err)
		}
		row := PlanRow{Metric: m.Name, Kind: m.Kind, Epsilon: opt.Epsilon, Delta: opt.Delta,
			Bounds: stats[i].Bounds, Error: e, Published: len(m.PublishedPartitions())}
		switch m.Kind {
		case KindCount:
			row.Unit = "events"
		case KindUsers:
			row.Unit = "users"
		default:
			if m.Generalize != nil {
				row.Unit = m.Generalize.Unit
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// WritePlan prints the plan of s at users users for people.
func WritePlan(w io.Writer, s *Spec, users int) error {
	rows, err := Plan(s, users)
	if err != nil {
		return err
	}
	eps, delta := s.Spend()
	var b strings.Builder
	fmt.Fprintf(&b, "%s: one run spends ε = %s, δ = %s (%s noise); the ledger allows ε = %s, δ = %s per %d days (%s runs at this ε).\n",
		s.Name, short(eps), short(delta), s.Privacy.Noise, short(s.Ledger.CapEpsilon), short(s.Ledger.CapDelta),
		s.Ledger.WindowDays, runsPerWindow(eps, s.Ledger.CapEpsilon))
	fmt.Fprintf(&b, "Expected error of each released value at 95%% confidence, assuming %d users; no data is read.\n", users)
	fmt.Fprintf(&b, "Noise does not depend on the data: ± is the same for a big partition and an empty one.\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "METRIC\tKIND\tε\tδ\t±95% VALUE\t±95% SHARE\tBOUNDS")
	for _, r := range rows {
		value, share := "–", "–"
		if r.Error.HalfWidth95 > 0 {
			value = fmt.Sprintf("±%s %s", short(r.Error.HalfWidth95), r.Unit)
		}
		if r.Error.ShareHalfWidthPP > 0 {
			share = fmt.Sprintf("±%.2g pp", r.Error.ShareHalfWidthPP)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Metric, r.Kind, short(r.Epsilon), short(r.Delta), value, share, r.Bounds)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var notes []string
	for _, r := range rows {
		if r.Error.Note != "" {
			notes = append(notes, fmt.Sprintf("  %s: %s", r.Metric, r.Error.Note))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(&b, "\nNotes:\n%s\n", strings.Join(notes, "\n"))
	}
	if err := s.writeGatePlan(&b, users); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nShares assume each user contributes one unit, spread evenly over the published partitions.\n"+
		"Raise ε (--epsilon, up to %s) or lower max_partitions / max_per_partition in the spec for less noise.\n", short(s.Privacy.MaxEpsilon))
	_, err = io.WriteString(w, b.String())
	return err
}

// runsPerWindow is how many runs at eps fit under the cap.
func runsPerWindow(eps, cap float64) string {
	if eps <= 0 {
		return "unlimited"
	}
	return fmt.Sprint(int(math.Floor(cap/eps + 1e-9)))
}
