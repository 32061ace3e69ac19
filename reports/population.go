package reports

import "fmt"

// PopulationCount is the released (noisy) number of users who contributed
// to one consent category in the period: users with at least one event in
// the period that counts for the category. The job's quality gate released
// it and published the report only because it reached Report.MinUsers; the
// share of users of a users metric is its count divided by this one.
type PopulationCount struct {
	Category string // the consent category; required
	// Value is the noisy count and [Lower, Upper] its confidence interval,
	// at ConfidenceLevel.
	Value, Lower, Upper float64
	// Clamped reports that a negative noisy count was raised to 0.
	Clamped bool
	// Epsilon and Delta were spent on this count (part of the report's).
	Epsilon, Delta  float64
	ConfidenceLevel float64
	// ZCDP is set under zero-concentrated accounting: the count spent
	// ZCDP.Rho, and Epsilon and Delta are what it promises on its own.
	ZCDP *ZCDP
}

func (p *PopulationCount) validate() error {
	where := "population count of " + p.Category
	if p.Category == "" {
		return fmt.Errorf("%w: population count without a category", ErrInvalidReport)
	}
	if !finite(p.Value) || !finite(p.Lower) || !finite(p.Upper) || p.Lower > p.Upper {
		return fmt.Errorf("%w: %s: value %v and interval [%v, %v] must be finite, lower ≤ upper", ErrInvalidReport, where, p.Value, p.Lower, p.Upper)
	}
	if err := checkBudget(where, p.Epsilon, p.Delta); err != nil {
		return err
	}
	if err := p.ZCDP.validate(where); err != nil {
		return err
	}
	if !(p.ConfidenceLevel > 0 && p.ConfidenceLevel < 1) {
		return fmt.Errorf("%w: %s: confidence level %v, want 0 < level < 1", ErrInvalidReport, where, p.ConfidenceLevel)
	}
	return nil
}

func (r *Report) validatePopulation() error {
	if r.MinUsers < 0 {
		return fmt.Errorf("%w: min users %d is negative", ErrInvalidReport, r.MinUsers)
	}
	seen := map[string]bool{}
	for i := range r.Population {
		p := &r.Population[i]
		if seen[p.Category] {
			return fmt.Errorf("%w: population count of %q appears twice", ErrInvalidReport, p.Category)
		}
		seen[p.Category] = true
		if err := p.validate(); err != nil {
			return err
		}
	}
	return nil
}

// jsonPopulation is the wire form of a PopulationCount.
type jsonPopulation struct {
	Category        string `json:"category"`
	Value           num    `json:"value"`
	Lower           num    `json:"lower"`
	Upper           num    `json:"upper"`
	Clamped         bool   `json:"clamped"`
	Epsilon         num    `json:"epsilon"`
	Delta           num    `json:"delta"`
	ConfidenceLevel num    `json:"confidence_level"`
	// Since 1.2.0; omitted under pure accounting.
	ZCDP *jsonZCDP `json:"zcdp,omitempty"`
}

func populationJSON(r *Report) ([]jsonPopulation, *int) {
	if len(r.Population) == 0 {
		return nil, nil
	}
	out := make([]jsonPopulation, len(r.Population))
	for i, p := range r.Population {
		out[i] = jsonPopulation{p.Category, num(p.Value), num(p.Lower), num(p.Upper), p.Clamped, num(p.Epsilon), num(p.Delta), num(p.ConfidenceLevel), zcdpJSON(p.ZCDP)}
	}
	min := r.MinUsers
	return out, &min
}

// populationView is one row of the "Users counted" table of index.html.
type populationView struct {
	Category, Value, Interval, Eps, Delta string
	Clamped                               bool
	Rho, RhoDelta                         string // under zCDP
}

func buildPopulation(v *pageView, r *Report) {
	for _, p := range r.Population {
		v.Population = append(v.Population, populationView{
			Category: p.Category,
			Value:    fmtInt(max(p.Value, 0)),
			Interval: fmtInt(max(p.Lower, 0)) + " – " + fmtInt(max(p.Upper, 0)),
			Eps:      fmtEps(p.Epsilon),
			Delta:    fmtDelta(p.Delta),
			Clamped:  p.Clamped || p.Value < 0,
			Rho:      rhoOf(p.ZCDP),
			RhoDelta: rhoDeltaOf(p.ZCDP),
		})
	}
	if r.MinUsers > 0 {
		v.MinUsers = fmtInt(float64(r.MinUsers))
	}
}

func sanitizedPopulation(ps []PopulationCount) []PopulationCount {
	if ps == nil {
		return nil
	}
	out := make([]PopulationCount, len(ps))
	for i, p := range ps {
		p.Category = clean(p.Category)
		out[i] = p
	}
	return out
}
