package reports

import "strings"

// clean replaces invalid UTF-8 with U+FFFD. Partition names come from data
// and config; every writer sees only cleaned strings.
func clean(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

func cleanAll(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = clean(s)
	}
	return out
}

// sanitized returns a deep copy of r whose strings are valid UTF-8.
func sanitized(r *Report) *Report {
	c := *r
	c.Job, c.Period, c.RunID, c.ToolVersion, c.Noise = clean(r.Job), clean(r.Period), clean(r.RunID), clean(r.ToolVersion), clean(r.Noise)
	c.Title = clean(r.Title)
	c.Warnings = cleanAll(r.Warnings)
	c.Population = sanitizedPopulation(r.Population)
	c.Metrics = make([]Metric, len(r.Metrics))
	for i := range r.Metrics {
		c.Metrics[i] = *sanitizedMetric(&r.Metrics[i])
	}
	c.Collected = make([]Statistic, len(r.Collected))
	for i, s := range r.Collected {
		s.Name, s.Description, s.Kind, s.ConsentCategory, s.Generalization = clean(s.Name), clean(s.Description), clean(s.Kind), clean(s.ConsentCategory), clean(s.Generalization)
		s.Columns = cleanAll(s.Columns)
		c.Collected[i] = s
	}
	return &c
}

// sanitizedMetric returns a deep copy of m whose strings are valid UTF-8.
func sanitizedMetric(m *Metric) *Metric {
	c := *m
	c.Name, c.Title, c.Description, c.Kind, c.Dimension = clean(m.Name), clean(m.Title), clean(m.Description), clean(m.Kind), clean(m.Dimension)
	c.ConsentCategory, c.Generalization, c.Unit, c.Display = clean(m.ConsentCategory), clean(m.Generalization), clean(m.Unit), clean(m.Display)
	c.BucketUnit = clean(m.BucketUnit)
	c.Warnings = cleanAll(m.Warnings)
	c.Partitions = make([]Partition, len(m.Partitions))
	for i, p := range m.Partitions {
		p.Name, p.IntervalNote = clean(p.Name), clean(p.IntervalNote)
		p.Quantiles = append([]Quantile(nil), p.Quantiles...)
		for j := range p.Quantiles {
			p.Quantiles[j].IntervalNote = clean(p.Quantiles[j].IntervalNote)
		}
		c.Partitions[i] = p
	}
	return &c
}
