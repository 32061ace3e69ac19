package jobs

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/dpstats/dpstats/dp"
	"github.com/dpstats/dpstats/jobs/ledger"
	"github.com/dpstats/dpstats/reports"
)

// The quality gate. A run whose data cannot support a meaningful report (a
// 0-row export, events all outside the period, consent categories that
// match no metric, user ids that never join the consent) would otherwise
// publish a frozen report of pure noise and charge ε for it. The gate
// withholds such a run, and it is itself differentially private:
//
//   - a small share of the run's budget (quality_gate.weight, split by weight
//     alongside the metrics) releases, through the library's noise, a count
//     of contributing users per consent category the metrics use: a user
//     contributes if they have at least one event in the period that passes
//     that category's consent (the same feed, grants and period filter as
//     the metrics). Each count has sensitivity 1; one user is in every
//     category's count at most once, so the counts compose to the gate's ε;
//   - the decision to publish compares those released, noisy counts with
//     quality_gate.min_users. It is post-processing of a DP release: it never
//     looks at an exact count, so publishing or withholding reveals nothing
//     beyond the noisy counts themselves, and the gate's ε bounds it;
//   - a withheld run publishes nothing and records the gate's ε and δ in the
//     ledger (ledger.Entry.Withheld). The metrics' values, never published,
//     cost nothing. A retry of a withheld period without --rerun reads
//     nothing, draws nothing and charges nothing; --rerun runs it again and
//     is charged again;
//   - a released run publishes the noisy counts in the report
//     (reports.Report.Population): they are the DP totals that the shares
//     of users metrics are divided by.

// Quality gate defaults, applied when the spec has no quality_gate key.
//
// At the shipped spec's ε = 0.3, with metric weights adding up to 15, the
// gate's weight of 1 gets ε = 0.3/16 = 0.01875, split over its 2 consent
// categories: ε = 0.009375 per count, Laplace noise of scale b = 1/ε ≈ 107
// users (standard deviation b·√2 ≈ 151, 95% interval ±b·ln 20 ≈ ±320).
// min_users = 2000 is 13 standard deviations above zero: a period without
// any user passes with probability ½·e^(−2000/b) ≈ 3.6·10⁻⁹ per category,
// while a period with 5000 users is withheld with probability below
// ½·e^(−3000/b) ≈ 3·10⁻¹³. A lower ε (or more categories) widens the noise:
// keep min_users at about 19/ε_count or more, or raise quality_gate.weight.
const (
	// DefaultGateWeight is the gate's weight, like a metric's weight.
	DefaultGateWeight = 1.0
	// DefaultMinUsers is the gate's threshold on each noisy count.
	DefaultMinUsers = 2000
	maxMinUsers     = 1_000_000_000
)

// PopulationPrefix names the gate's counts: "population:<category>" in the
// privacy tab, the report's "what we collect" list and the ledger.
const PopulationPrefix = "population:"

// QualityGate is the spec's quality_gate: what share of the budget the
// noisy user counts get, and the threshold a run must reach to publish.
type QualityGate struct {
	// Weight is the gate's relative share of the run's ε (and, with Gaussian
	// noise, δ), weighed against the metrics' weights: > 0. Default
	// DefaultGateWeight.
	Weight float64
	// MinUsers withholds a run if any category's noisy count of
	// contributing users is below it: ≥ 0. 0 never withholds (the counts
	// are still released, charged and shown). Default DefaultMinUsers.
	MinUsers int
}

// DefaultQualityGate is the gate of a spec without a quality_gate key.
func DefaultQualityGate() QualityGate {
	return QualityGate{Weight: DefaultGateWeight, MinUsers: DefaultMinUsers}
}

func (v *validator) gate() {
	g := v.s.Gate
	if !(g.Weight > 0) || math.IsInf(g.Weight, 0) {
		v.fail("quality_gate.weight", "must be > 0, got %s (the gate cannot be turned off; min_users: 0 never withholds)", formatNumber(g.Weight))
	}
	if g.MinUsers < 0 || g.MinUsers > maxMinUsers {
		v.fail("quality_gate.min_users", "must be between 0 and %d, got %d", maxMinUsers, g.MinUsers)
	}
}

// budgetShares splits the run's budget across the metrics and, as the last
// element, the quality gate: ε by weight over all of them, δ by weight over
// those that need it (the gate does with Gaussian noise). The parts never
// add up to more than the run's ε and δ.
func (s *Spec) budgetShares() []Share {
	n := len(s.Metrics)
	weight := func(i int) float64 {
		if i == n {
			return s.Gate.Weight
		}
		return s.Metrics[i].Weight
	}
	needsDelta := s.needsDelta
	shares := make([]Share, n+1)
	var wEps, wDelta float64
	for i := range n + 1 {
		wEps += weight(i)
		if needsDelta(i) {
			wDelta += weight(i)
		}
	}
	for i := range n + 1 {
		if wEps > 0 && !s.ZCDP() {
			shares[i].Epsilon = s.Privacy.Epsilon * weight(i) / wEps
		}
		if needsDelta(i) && wDelta > 0 {
			shares[i].Delta = s.Privacy.Delta * weight(i) / wDelta
		}
	}
	fitSum(shares, s.Privacy.Epsilon, func(sh *Share) *float64 { return &sh.Epsilon })
	fitSum(shares, s.Privacy.Delta, func(sh *Share) *float64 { return &sh.Delta })
	return shares
}

// rhoParts splits the run's ρ (zcdp accounting; all 0 under pure) across
// the metrics and, as the last element, the quality gate, by weight like
// ε. The parts never add up to more than the run's ρ.
func (s *Spec) rhoParts() []float64 {
	n := len(s.Metrics)
	parts := make([]float64, n+1)
	rho := s.RunRho()
	if rho == 0 {
		return parts
	}
	w := s.Gate.Weight
	for _, m := range s.Metrics {
		w += m.Weight
	}
	shares := make([]Share, n+1)
	for i := range shares {
		wi := s.Gate.Weight
		if i < n {
			wi = s.Metrics[i].Weight
		}
		shares[i].Epsilon = rho * wi / w
	}
	fitSum(shares, rho, func(sh *Share) *float64 { return &sh.Epsilon })
	for i := range shares {
		parts[i] = shares[i].Epsilon
	}
	return parts
}

// RhoShares returns every metric's ρ under zcdp accounting (0 under pure),
// in metric order.
func (s *Spec) RhoShares() []float64 { return s.rhoParts()[:len(s.Metrics)] }

// GateRho is the quality gate's ρ (0 under pure): what a withheld zcdp run
// charges.
func (s *Spec) GateRho() float64 {
	p := s.rhoParts()
	return p[len(p)-1]
}

// needsDelta reports whether budget part i (a metric, or the quality gate
// when i is len(s.Metrics)) consumes some of the run's δ: with Gaussian
// noise under pure accounting all do; otherwise only metrics that select
// their partitions (zcdp accounts Gaussian noise in ρ, without δ).
func (s *Spec) needsDelta(i int) bool {
	gauss := s.Privacy.Noise == NoiseGaussian && !s.ZCDP()
	if i == len(s.Metrics) {
		return gauss
	}
	return gauss || s.Metrics[i].SelectPartitions
}

// GateShare is the quality gate's part of the run's budget: what a withheld
// run charges.
func (s *Spec) GateShare() Share {
	sh := s.budgetShares()
	return sh[len(sh)-1]
}

// GateOptions returns the dp options of the gate's counts, one per consent
// category the metrics use (in ConsentCategories order), named
// PopulationPrefix+category: distinct users, a single total, each user
// counted once; the gate's share split evenly over the categories. seed is
// the test-only hook of MetricOptions.
func (s *Spec) GateOptions(seed *int64) []dp.MetricOptions {
	cats := s.ConsentCategories()
	if len(cats) == 0 {
		return nil
	}
	g := s.GateShare()
	parts := make([]Share, len(cats))
	gRho := s.GateRho()
	rhos := make([]Share, len(cats)) // ρ in the Epsilon field, to share fitSum
	for i := range parts {
		parts[i] = Share{Epsilon: g.Epsilon / float64(len(cats)), Delta: g.Delta / float64(len(cats))}
		rhos[i].Epsilon = gRho / float64(len(cats))
	}
	fitSum(parts, g.Epsilon, func(sh *Share) *float64 { return &sh.Epsilon })
	fitSum(parts, g.Delta, func(sh *Share) *float64 { return &sh.Delta })
	fitSum(rhos, gRho, func(sh *Share) *float64 { return &sh.Epsilon })
	opts := make([]dp.MetricOptions, len(cats))
	for i, c := range cats {
		opts[i] = dp.MetricOptions{
			Name:            PopulationPrefix + c,
			Kind:            dp.KindUsers,
			Epsilon:         parts[i].Epsilon,
			Delta:           parts[i].Delta,
			Rho:             rhos[i].Epsilon,
			Noise:           dp.NoiseKind(s.Privacy.Noise),
			MaxPartitions:   1,
			MaxPerPartition: 1,
			ConfidenceLevel: s.Privacy.Confidence,
		}
		if seed != nil {
			v := *seed + int64(len(s.Metrics)+i)
			opts[i].Seed = &v
		}
	}
	return opts
}

// gateNames are the names the gate's counts are recorded under.
func (s *Spec) gateNames() []string {
	var names []string
	for _, c := range s.ConsentCategories() {
		names = append(names, PopulationPrefix+c)
	}
	return names
}

// gateStatistics describes the gate's counts for the privacy tab and the
// report's "what we collect" list.
func (s *Spec) gateStatistics() []Statistic {
	opts := s.GateOptions(nil)
	out := make([]Statistic, len(opts))
	for i, o := range opts {
		c := strings.TrimPrefix(o.Name, PopulationPrefix)
		gate := fmt.Sprintf("It is the quality gate: if it is below %d, nothing is published.", s.Gate.MinUsers)
		if s.Gate.MinUsers == 0 {
			gate = "It is the quality gate, set never to withhold (min_users: 0)."
		}
		st := Statistic{
			Name:  o.Name,
			Title: "Users counted for " + c,
			Description: fmt.Sprintf("Number of distinct users with at least one event in the period that counts for consent category %s. "+
				"%s Users metrics of this category show their shares of it.", c, gate),
			Kind:            KindUsers,
			Measures:        "number of distinct users in total",
			Columns:         []string{s.Input.User, s.Input.Time},
			Consent:         c,
			Partitions:      []string{TotalPartition},
			Generalization:  "none: a single total",
			MaxPartitions:   1,
			MaxPerPartition: 1,
			Bounds:          "each user counted once",
			Weight:          s.Gate.Weight / float64(len(opts)),
			Epsilon:         o.Epsilon,
			Delta:           o.Delta,
		}
		if s.Privacy.Epsilon > 0 {
			st.EpsilonShare = o.Epsilon / s.Privacy.Epsilon
		}
		out[i] = st
	}
	return out
}

// writeGatePlan adds the quality gate to `dpstats plan`: the error of its
// counts, and how likely a period of the assumed users is withheld.
func (s *Spec) writeGatePlan(b *strings.Builder, users int) error {
	opts := s.GateOptions(nil)
	if len(opts) == 0 {
		return nil
	}
	e, err := dp.PlanError(opts[0], users)
	if err != nil {
		return fmt.Errorf("quality gate: %w", err)
	}
	budget := "ε = " + short(opts[0].Epsilon)
	if opts[0].Rho > 0 {
		budget = "ρ = " + short(opts[0].Rho)
	}
	fmt.Fprintf(b, "\nQuality gate: the users of each consent category (%s) are counted with %s each, ±%s users at 95%%; "+
		"a run is withheld (exit 69) if a count is below min_users = %d.\n",
		strings.Join(s.ConsentCategories(), ", "), budget, short(e.HalfWidth95), s.Gate.MinUsers)
	return nil
}

// addGate appends to p one feed per gate count, each with its aggregator:
// a single total ("other" index 0 with no partitions) fed by every event
// of the period whose user passes the category's consent. They are fed
// and granted exactly like the metrics.
func (p *readPlan) addGate(s *Spec, seed *int64) error {
	for _, o := range s.GateOptions(seed) {
		agg, err := dp.NewAggregator(o)
		if err != nil {
			return fmt.Errorf("%w: quality gate: %w", ErrConfig, err)
		}
		c := strings.TrimPrefix(o.Name, PopulationPrefix)
		p.feeds = append(p.feeds, &feed{agg: agg, dim: -1, bucketNum: -1, valueNum: -1, category: c})
		p.categories = append(p.categories, c)
	}
	return nil
}

// GateCount is one released count of the gate.
type GateCount struct {
	Category string
	// Value is the noisy count (negative values shown as 0, Clamped) and
	// [Lower, Upper] its confidence interval, from the library.
	Value, Lower, Upper float64
	Clamped             bool
}

func gateCounts(population []*dp.Released) []GateCount {
	out := make([]GateCount, 0, len(population))
	for _, r := range population {
		if len(r.Partitions) != 1 {
			continue
		}
		p := r.Partitions[0]
		out = append(out, GateCount{Category: strings.TrimPrefix(r.Name, PopulationPrefix), Value: p.Value, Lower: p.Lower, Upper: p.Upper, Clamped: p.Clamped})
	}
	return out
}

// checkGate is the gate's decision. It reads the released (noisy) counts
// only, never an exact count: a post-processing of the DP release. It
// returns nil if the run may publish.
func checkGate(cfg Config, start, end time.Time, population []*dp.Released) *WithheldError {
	spec := cfg.Spec
	var failed []GateCount
	for _, c := range gateCounts(population) {
		if c.Value < float64(spec.Gate.MinUsers) {
			failed = append(failed, c)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	w := newWithheldError(cfg, start, end)
	w.Failed = failed
	return w
}

// withhold records the gate's spend for a run the gate withheld, with
// Withheld set, and returns w (carrying what was charged) as the run's error.
func withhold(tx ledger.Tx, cfg Config, res *Result, now time.Time, w *WithheldError) (*Result, error) {
	spec := cfg.Spec
	share := spec.GateCharge()
	entry := ledger.Entry{Job: spec.Name, Period: cfg.Period, RunID: cfg.RunID, Epsilon: share.Epsilon, Delta: share.Delta, Rho: share.Rho,
		Metrics: spec.gateNames(), Time: now, Rerun: cfg.Rerun, Withheld: true}
	if err := tx.Append(entry); err != nil {
		return nil, &OutputError{fmt.Errorf("record the quality gate's spend in the ledger (the run was withheld): %w", err)}
	}
	res.Status, res.Epsilon, res.Delta, res.Rho = StatusWithheld, share.Epsilon, share.Delta, share.Rho
	if entries, err := tx.Entries(); err == nil {
		res.Window = ledger.Summarize(entries, cfg.Now().UTC(), res.Cap.Window, spec.Name)
	}
	w.RunID, w.At, w.Epsilon, w.Delta, w.Rho = cfg.RunID, now, share.Epsilon, share.Delta, share.Rho
	for _, c := range w.Failed {
		cfg.Logger.Warn("withheld by the quality gate: nothing published",
			append([]any{"category", c.Category, "noisy_users", c.Value, "min_users", spec.Gate.MinUsers}, spendAttrs(share)[:2]...)...)
	}
	return res, w
}

// withheldEarlier is the error of a retry of a period the gate withheld,
// without --rerun: nothing was read, drawn or charged.
func withheldEarlier(cfg Config, start, end time.Time, prev ledger.Entry) *WithheldError {
	w := newWithheldError(cfg, start, end)
	w.Earlier = true
	w.RunID, w.At, w.Epsilon, w.Delta, w.Rho = prev.RunID, prev.Time, prev.Epsilon, prev.Delta, prev.Rho
	if prev.Submitted {
		w.Engine = prev.Engine
	}
	return w
}

func newWithheldError(cfg Config, start, end time.Time) *WithheldError {
	s := cfg.Spec
	return &WithheldError{
		Job: s.Name, Period: cfg.Period, PeriodStart: start, PeriodEnd: end,
		MinUsers: s.Gate.MinUsers, Confidence: s.Privacy.Confidence, SpecFile: s.File(),
		Categories: s.ConsentCategories(), TimeColumn: s.Input.Time,
		UserColumn: s.Input.User, ConsentUserColumn: s.Consent.User, CategoryColumn: s.Consent.Category,
	}
}

// WithheldError says that the quality gate withheld the period: nothing was
// published. Everything in it is public (the spec, the period) or a DP
// release (the noisy counts).
type WithheldError struct {
	Job, Period            string
	PeriodStart, PeriodEnd time.Time
	// Earlier is set when an earlier run withheld the period and this one
	// (a retry without --rerun) read, drew and charged nothing.
	Earlier bool
	// RunID and At name the run that was withheld and when; Epsilon and
	// Delta are what it charged (Rho and Delta under zcdp accounting).
	RunID          string
	At             time.Time
	Epsilon, Delta float64
	Rho            float64
	// Engine, when set, is the engine whose run was charged in full when
	// its pipeline was submitted (remote.go): Epsilon, Delta and Rho are
	// then the whole run's charge, not the gate's share.
	Engine string
	// Failed are the categories whose noisy count was below MinUsers (this
	// run only).
	Failed     []GateCount
	MinUsers   int
	Confidence float64
	SpecFile   string
	// What to look at: the consent categories the metrics need and the
	// columns that carry the period, the categories and the user ids.
	Categories                                                []string
	TimeColumn, UserColumn, ConsentUserColumn, CategoryColumn string
}

func (e *WithheldError) Error() string {
	var b strings.Builder
	if e.Earlier {
		fmt.Fprintf(&b, "quality gate: %s %s was withheld at run %s (%s): nothing was published for it. "+
			"This retry read nothing, drew no noise and charged nothing.", e.Job, e.Period, e.RunID, e.At.UTC().Format(time.RFC3339))
	} else {
		fmt.Fprintf(&b, "quality gate failed for %s %s: nothing was published.", e.Job, e.Period)
		for _, c := range e.Failed {
			value := roundWhole(c.Value)
			if c.Clamped {
				value += " (the noise drew it below 0)"
			}
			fmt.Fprintf(&b, "\n  - consent category %s: the noisy count of contributing users is %s (%s%% interval %s to %s), below min_users = %d",
				c.Category, value, formatNumber(100*e.Confidence), roundWhole(c.Lower), roundWhole(c.Upper), e.MinUsers)
		}
		spec := "the job spec"
		if e.SpecFile != "" {
			spec = e.SpecFile
		}
		spent := fmt.Sprintf("ε = %s, δ = %s", short(e.Epsilon), short(e.Delta))
		if e.Rho > 0 {
			spent = fmt.Sprintf("ρ = %s, δ = %s", short(e.Rho), short(e.Delta))
		}
		if e.Engine != "" {
			fmt.Fprintf(&b, "\nThe run's %s was recorded in the ledger when the %s pipeline was submitted (run %s), and stays charged; "+
				"the ledger records the period as withheld. The threshold is quality_gate.min_users in %s.", spent, e.Engine, e.RunID, spec)
		} else {
			fmt.Fprintf(&b, "\nThe check's %s is recorded in the ledger as withheld (run %s); the threshold is quality_gate.min_users in %s.",
				spent, e.RunID, spec)
		}
	}
	fmt.Fprintf(&b, "\nLook at:\n"+
		"  - the period: %s selects events with %s in [%s, %s); do the event exports hold that day?\n"+
		"  - the consent categories: the job's metrics use %s; does the consent export's %s column hold them, as grants?\n"+
		"  - the user ids: events column %s and consent column %s must hold the same ids, of the same type;\n"+
		"  - `dpstats inspect` on the exports for exact row counts and schemas (operators only).",
		e.Period, e.TimeColumn, e.PeriodStart.UTC().Format(time.RFC3339), e.PeriodEnd.UTC().Format(time.RFC3339),
		strings.Join(e.Categories, ", "), e.CategoryColumn, e.UserColumn, e.ConsentUserColumn)
	return b.String()
}

func roundWhole(f float64) string { return formatWhole(math.Round(f)) }

// Hint says what to do next.
func (e *WithheldError) Hint() string {
	return "fix the exports, then run again with --rerun (charged again). " +
		"Without --rerun the period stays withheld: nothing is read or charged."
}

// addPopulation puts the gate's released counts into the report, and
// derives the share of users of each users metric from them.
func addPopulation(r *reports.Report, spec *Spec, released, population []*dp.Released) error {
	r.MinUsers = spec.Gate.MinUsers
	byCategory := map[string]*dp.Released{}
	for _, p := range population {
		if len(p.Partitions) != 1 {
			return fmt.Errorf("quality gate count %s: %d partitions, want 1", p.Name, len(p.Partitions))
		}
		c := strings.TrimPrefix(p.Name, PopulationPrefix)
		byCategory[c] = p
		v := p.Partitions[0]
		r.Population = append(r.Population, reports.PopulationCount{
			Category: c, Value: v.Value, Lower: v.Lower, Upper: v.Upper, Clamped: v.Clamped,
			Epsilon: p.Epsilon, Delta: p.Delta, ConfidenceLevel: p.ConfidenceLevel,
		})
		zcdpPopulation(&r.Population[len(r.Population)-1], spec, p)
	}
	for i, rel := range released {
		if spec.Metrics[i].Kind != KindUsers || i >= len(r.Metrics) {
			continue
		}
		total := byCategory[spec.Metrics[i].Consent]
		if total == nil {
			continue
		}
		rm := &r.Metrics[i]
		for j := range rm.Partitions {
			s, err := dp.ShareOfUsers(rel, j, total)
			if err != nil {
				return fmt.Errorf("metric %s: %w", spec.Metrics[i].Name, err)
			}
			p := &rm.Partitions[j]
			if s.OK {
				p.Share, p.ShareLower, p.ShareUpper = ptr(s.Share), ptr(s.Lower), ptr(s.Upper)
			} else {
				p.Share, p.ShareLower, p.ShareUpper = nil, nil, nil
			}
		}
	}
	return nil
}
