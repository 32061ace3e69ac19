package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrUnreadableReport is wrapped by ReadJSON's errors: the bytes are not a
// report.json this version of dpstats can read.
var ErrUnreadableReport = errors.New("unreadable report.json")

// maxReportJSON bounds how much of a report.json ReadJSON reads: a real one
// is tens of kilobytes, and the index must not be made to swallow a huge file.
const maxReportJSON = 64 << 20

// ReadJSON reads a report.json written by WriteJSON back into a Report,
// through the same wire types. Fields this version does not know are
// ignored (a newer minor version only adds optional fields); a different
// major schema version, a malformed time or a report that fails Validate is
// an error wrapping ErrUnreadableReport. Values are as published: 6
// significant digits.
func ReadJSON(r io.Reader) (*Report, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxReportJSON+1))
	if err != nil {
		return nil, fmt.Errorf("ReadJSON: %w", err)
	}
	if len(data) > maxReportJSON {
		return nil, fmt.Errorf("ReadJSON: %w: larger than %d bytes", ErrUnreadableReport, maxReportJSON)
	}
	var jr jsonReport
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&jr); err != nil {
		return nil, fmt.Errorf("ReadJSON: %w: %w", ErrUnreadableReport, err)
	}
	if major(jr.SchemaVersion) != major(SchemaVersion) {
		return nil, fmt.Errorf("ReadJSON: %w: schema_version %q, this dpstats reads %s.x", ErrUnreadableReport, jr.SchemaVersion, major(SchemaVersion))
	}
	r2, err := fromJSON(&jr)
	if err != nil {
		return nil, fmt.Errorf("ReadJSON: %w: %w", ErrUnreadableReport, err)
	}
	if err := r2.Validate(); err != nil {
		return nil, fmt.Errorf("ReadJSON: %w: %w", ErrUnreadableReport, err)
	}
	return r2, nil
}

// major returns the major part of a semver string ("1.2.0" → "1").
func major(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] == '.' {
			return v[:i]
		}
	}
	return v
}

func floatPtr(n *num) *float64 {
	if n == nil {
		return nil
	}
	f := float64(*n)
	return &f
}

func fromJSON(j *jsonReport) (*Report, error) {
	var times [3]time.Time
	for i, s := range []struct{ name, v string }{{"period_start", j.PeriodStart}, {"period_end", j.PeriodEnd}, {"generated_at", j.GeneratedAt}} {
		t, err := time.Parse(time.RFC3339, s.v)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", s.name, err)
		}
		times[i] = t.UTC()
	}
	r := &Report{
		Job: j.Job, Period: j.Period, RunID: j.RunID, ToolVersion: j.ToolVersion,
		PeriodStart: times[0], PeriodEnd: times[1], GeneratedAt: times[2],
		Epsilon: float64(j.Epsilon), Delta: float64(j.Delta), Noise: j.Noise,
		Ledger: LedgerSummary{
			WindowDays:   j.Ledger.WindowDays,
			EpsilonSpent: float64(j.Ledger.EpsilonSpent), EpsilonCap: float64(j.Ledger.EpsilonCap),
			DeltaSpent: float64(j.Ledger.DeltaSpent), DeltaCap: float64(j.Ledger.DeltaCap),
			EpsilonAllTime: float64(j.Ledger.EpsilonAllTime), DeltaAllTime: float64(j.Ledger.DeltaAllTime),
			UnknownAllTime: j.Ledger.UnknownAllTime,
			ZCDP:           ledgerZCDPFromJSON(j.Ledger.ZCDP),
		},
		ZCDP:     zcdpFromJSON(j.ZCDP),
		Title:    j.Title,
		Warnings: j.Warnings,
	}
	if j.MinUsers != nil {
		r.MinUsers = *j.MinUsers
	}
	for _, jp := range j.Population {
		r.Population = append(r.Population, PopulationCount{
			Category: jp.Category, Value: float64(jp.Value), Lower: float64(jp.Lower), Upper: float64(jp.Upper),
			Clamped: jp.Clamped, Epsilon: float64(jp.Epsilon), Delta: float64(jp.Delta), ConfidenceLevel: float64(jp.ConfidenceLevel),
			ZCDP: zcdpFromJSON(jp.ZCDP),
		})
	}
	for _, jm := range j.Metrics {
		m := Metric{
			Name: jm.Name, Title: jm.Title, Description: jm.Description, Kind: jm.Kind,
			Dimension: jm.Dimension, ConsentCategory: jm.ConsentCategory, Generalization: jm.Generalization,
			Unit: jm.Unit, Display: jm.Display, BucketUnit: jm.BucketUnit,
			MaxPartitions: jm.Bounds.MaxPartitions, MaxPerPartition: jm.Bounds.MaxPerPartition,
			Lower: float64(jm.Bounds.Lower), Upper: float64(jm.Bounds.Upper),
			Epsilon: float64(jm.Epsilon), Delta: float64(jm.Delta), ConfidenceLevel: float64(jm.ConfidenceLevel),
			Warnings: jm.Warnings,
			ZCDP:     zcdpFromJSON(jm.ZCDP),
		}
		if c := jm.CapsCut; c != nil {
			m.CapsCut = &CapsCut{Epsilon: float64(c.Epsilon), Delta: float64(c.Delta),
				Users: float64(c.Users), UsersLower: float64(c.UsersLower), UsersUpper: float64(c.UsersUpper),
				Contributing: float64(c.Contributing), ContributingLower: float64(c.ContributingLower), ContributingUpper: float64(c.ContributingUpper),
				Share: float64(c.Share), ShareLower: float64(c.ShareLower), ShareUpper: float64(c.ShareUpper)}
			if c.Rho != nil {
				m.CapsCut.Rho = float64(*c.Rho)
			}
		}
		for _, jp := range jm.Partitions {
			p := Partition{
				Name: jp.Name, Value: float64(jp.Value), Lower: float64(jp.Value), Upper: float64(jp.Value), Clamped: jp.Clamped,
				IntervalNote: jp.IntervalNote,
				Share:        floatPtr(jp.Share), ShareLower: floatPtr(jp.ShareLower), ShareUpper: floatPtr(jp.ShareUpper),
				BucketLower: floatPtr(jp.BucketLower), BucketUpper: floatPtr(jp.BucketUpper),
				ValueCount: floatPtr(jp.ValueCount), ValueCountLower: floatPtr(jp.CountLower), ValueCountUpper: floatPtr(jp.CountUpper),
			}
			if jp.Lower != nil && jp.Upper != nil {
				p.Lower, p.Upper = float64(*jp.Lower), float64(*jp.Upper)
			}
			for _, q := range jp.Quantiles {
				p.Quantiles = append(p.Quantiles, Quantile{Rank: float64(q.Rank), Value: float64(q.Value), Lower: floatPtr(q.Lower), Upper: floatPtr(q.Upper), IntervalNote: q.IntervalNote})
			}
			m.Partitions = append(m.Partitions, p)
		}
		r.Metrics = append(r.Metrics, m)
	}
	for _, js := range j.Collected {
		r.Collected = append(r.Collected, Statistic{
			Name: js.Name, Description: js.Description, Kind: js.Kind, Columns: js.Columns,
			ConsentCategory: js.ConsentCategory, Generalization: js.Generalization,
			Bounds:       Bounds{js.Bounds.MaxPartitions, js.Bounds.MaxPerPartition, float64(js.Bounds.Lower), float64(js.Bounds.Upper)},
			EpsilonShare: float64(js.EpsilonShare),
		})
	}
	return r, nil
}
