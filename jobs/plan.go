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
	// Rho is the metric's ρ under zcdp accounting (then Epsilon is 0).
	Rho float64
}

// PlanOptions is what a plan assumes about the data.
type PlanOptions struct {
	// Users is the number of consenting users per period, ≥ 1.
	Users int
	// EventsPerUser is the expected number of events one user contributes
	// to a count metric (values to a mean or quantiles metric) in a period,
	// after the per-user caps; each metric caps it at its max_partitions ×
	// max_per_partition. 0 means each metric's max_per_partition (every
	// user fills the cap of one partition: the least noisy case). A past
	// report tells it: a count metric's total divided by the users its
	// caps-cut estimate says contributed.
	EventsPerUser float64
	// PartitionsPerUser is, for users metrics, the expected number of
	// partitions one user counts in (capped at max_partitions); 0 means 1.
	PartitionsPerUser float64
}

// Plan returns the expected error of every metric of s for an assumed
// number of users, each contributing its metric's max_per_partition. It
// reads no data and spends no budget: analysts use it to choose ε with
// flags before a run.
func Plan(s *Spec, users int) ([]PlanRow, error) {
	return PlanFor(s, PlanOptions{Users: users})
}

// PlanFor is Plan under po.
func PlanFor(s *Spec, po PlanOptions) ([]PlanRow, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	stats := s.Statistics()
	population := map[string]*dp.MetricOptions{} // consent category → the gate's count of its users
	for i, g := range s.GateOptions(nil) {
		population[s.ConsentCategories()[i]] = &g
	}
	var rows []PlanRow
	for i, opt := range s.MetricOptions(nil) {
		m := &s.Metrics[i]
		e, err := dp.PlanErrorFor(opt, dp.PlanInput{Users: po.Users, EventsPerUser: po.EventsPerUser, PartitionsPerUser: po.PartitionsPerUser,
			Population: population[m.Consent]})
		if err != nil {
			return nil, fmt.Errorf("expected error of metric %s: %w", m.Name, err)
		}
		row := PlanRow{Metric: m.Name, Kind: m.Kind, Epsilon: opt.Epsilon, Delta: opt.Delta,
			Bounds: stats[i].Bounds, Error: e, Published: len(m.PublishedPartitions()), Rho: opt.Rho}
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
	return WritePlanFor(w, s, PlanOptions{Users: users})
}

// WritePlanFor prints the plan of s under po for people.
func WritePlanFor(w io.Writer, s *Spec, po PlanOptions) error {
	users := po.Users
	rows, err := PlanFor(s, po)
	if err != nil {
		return err
	}
	eps, delta := s.Spend()
	var b strings.Builder
	budgetCol := "ε"
	if s.ZCDP() {
		budgetCol = "ρ"
		s.writeZCDPPlanHeader(&b)
	} else {
		fmt.Fprintf(&b, "%s: one run spends ε = %s, δ = %s (%s noise); the ledger allows ε = %s, δ = %s per %d days (%s runs at this ε).\n",
			s.Name, short(eps), short(delta), s.Privacy.Noise, short(s.Ledger.CapEpsilon), short(s.Ledger.CapDelta),
			s.Ledger.WindowDays, runsPerWindow(eps, s.Ledger.CapEpsilon))
	}
	fmt.Fprintf(&b, "Expected error of each released value at 95%% confidence, assuming %d users; no data is read.\n", users)
	fmt.Fprintf(&b, "Noise does not depend on the data: ± is the same for a big partition and an empty one.\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "METRIC\tKIND\t"+budgetCol+"\tδ\tEVENTS/USER\t±95% VALUE\t±95% SHARE\t±95% CAPS CUT\tBOUNDS")
	for _, r := range rows {
		value, share, caps, per := "–", "–", "–", "–"
		if r.Error.HalfWidth95 > 0 {
			value = fmt.Sprintf("±%s %s", short(r.Error.HalfWidth95), r.Unit)
		}
		if r.Error.RankHalfWidthPP > 0 {
			value = fmt.Sprintf("±%.2g percentiles", r.Error.RankHalfWidthPP)
		}
		if r.Error.ShareHalfWidthPP > 0 {
			share = fmt.Sprintf("±%.2g pp", r.Error.ShareHalfWidthPP)
		}
		if r.Error.CapsCutHalfWidthPP > 0 {
			caps = fmt.Sprintf("±%.2g pp", r.Error.CapsCutHalfWidthPP)
		}
		switch r.Kind {
		case KindCount, KindMean, KindQuantiles:
			per = short(r.Error.EventsPerUser)
		case KindUsers:
			per = short(r.Error.EventsPerUser) + " partitions"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Metric, r.Kind, short(r.Epsilon+r.Rho), short(r.Delta), per, value, share, caps, r.Bounds)
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
	if s.ZCDP() {
		if err := s.writeZCDPComparison(&b, po, rows); err != nil {
			return err
		}
	}
	assume := "each user contributes its metric's max_per_partition events (the most one partition lets through: the least noisy case)"
	if po.EventsPerUser > 0 {
		n := short(po.EventsPerUser) + " events (or values)"
		if po.EventsPerUser == 1 {
			n = "1 event (or value)"
		}
		assume = fmt.Sprintf("each user contributes %s to a metric, at most its max_partitions × max_per_partition", n)
	}
	budget, raise := "ε", fmt.Sprintf("Raise ε (--epsilon, up to %s)", short(s.Privacy.MaxEpsilon))
	if s.ZCDP() {
		budget, raise = "ρ", fmt.Sprintf("Raise ρ (--rho, up to %s), plan fewer runs per window (--runs-per-window),", short(s.Privacy.MaxRho))
	}
	fmt.Fprintf(&b, "\nShares assume %s, spread evenly over the published partitions;\n"+
		"a users metric counts each user in --partitions-per-user partitions (default 1). Set both from a past\n"+
		"report: a metric's released total divided by the users its caps-cut estimate says contributed.\n"+
		"CAPS CUT is the share of users the per-user caps cut, estimated with a tenth of each metric's %s.\n"+
		"%s or lower max_partitions / max_per_partition in the spec for less noise.\n", assume, budget, raise)
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
