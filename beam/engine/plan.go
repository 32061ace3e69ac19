package engine

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/dp"
	"github.com/dpstats/dpstats/jobs"
)

// plan is the compiled job spec the pipeline's DoFns carry (serialized as
// JSON with them, hence the exported fields): what to read and, per
// metric, how an event maps to a partition and a value. It follows the
// local engine's compile (jobs/compile.go) rule for rule.
type plan struct {
	User, Time string
	Dims       []string
	Numbers    []numSpec
	// Start and End bound the period, unix nanoseconds: [Start, End).
	Start, End int64
	// AsOf is the run's instant (consent), unix nanoseconds.
	AsOf int64
	// Consent columns.
	ConsentUser, ConsentCategory, ConsentGranted, ConsentUpdatedAt string
	// Categories are the consent categories the metrics need.
	Categories []string
	// Metrics: the spec's metrics, then the quality gate's counts.
	Metrics []metricPlan
}

type numSpec struct {
	Column         string
	Step, Min, Max int64
	Edges          []int64
}

func (n numSpec) gen() datasets.Generalizer {
	return datasets.Generalizer{Step: n.Step, Min: n.Min, Max: n.Max, Edges: n.Edges}
}

type metricPlan struct {
	Name     string
	Kind     string
	Category int // index in plan.Categories
	// Partition source: a dimension (Dim ≥ 0), a bucketed number
	// (BucketNum ≥ 0), or neither: the single partition Total.
	Dim, BucketNum int
	Selected       bool
	Public         []string // public partitions (dimension) or bucket labels
	Other          string   // "other", or "total" without a dimension; "" with buckets
	// Value source (sum, mean, quantiles), or -1.
	ValueNum     int
	Lower, Upper float64
	L0, Linf     int
}

// excluded marks an event that is not part of a metric (null or empty
// dimension or value): no partition name is empty (spec validation).
const excluded = ""

// compile turns the spec into a plan; metrics and gate are the dp options
// Run computed (in.Metrics, in.Gate).
func compile(in jobs.EngineInput) (*plan, error) {
	s := in.Spec
	if len(in.Metrics) != len(s.Metrics) {
		return nil, fmt.Errorf("%d metric options for %d metrics", len(in.Metrics), len(s.Metrics))
	}
	p := &plan{User: s.Input.User, Time: s.Input.Time, Start: in.Start.UnixNano(), End: in.End.UnixNano(), AsOf: in.Now.UnixNano(),
		ConsentUser: s.Consent.User, ConsentCategory: s.Consent.Category, ConsentGranted: s.Consent.Granted, ConsentUpdatedAt: s.Consent.UpdatedAt}
	dims := map[string]int{}
	dim := func(col string) int {
		if i, ok := dims[col]; ok {
			return i
		}
		dims[col] = len(p.Dims)
		p.Dims = append(p.Dims, col)
		return dims[col]
	}
	nums := map[string]int{}
	num := func(n numSpec) (int, error) {
		if err := n.gen().Validate(); err != nil {
			return 0, fmt.Errorf("column %q: %w", n.Column, err)
		}
		k := fmt.Sprint(n)
		if i, ok := nums[k]; ok {
			return i, nil
		}
		nums[k] = len(p.Numbers)
		p.Numbers = append(p.Numbers, n)
		return nums[k], nil
	}
	cats := map[string]int{}
	cat := func(c string) int {
		if i, ok := cats[c]; ok {
			return i
		}
		cats[c] = len(p.Categories)
		p.Categories = append(p.Categories, c)
		return cats[c]
	}
	for i := range s.Metrics {
		m := &s.Metrics[i]
		o := in.Metrics[i]
		mp := metricPlan{Name: m.Name, Kind: string(m.Kind), Category: cat(m.Consent), Dim: -1, BucketNum: -1, ValueNum: -1,
			L0: o.MaxPartitions, Linf: o.MaxPerPartition, Lower: o.Lower, Upper: o.Upper}
		if o.Kind == dp.KindUsers {
			mp.Linf = 1
		}
		switch {
		case m.Dimension == "":
			mp.Other = dp.TotalName
		case m.Buckets != nil:
			edges := make([]int64, len(m.Buckets.Edges))
			for j, e := range m.Buckets.Edges {
				edges[j] = int64(e)
			}
			// Values below the first edge count in the first bucket.
			n, err := num(numSpec{Column: m.Dimension, Edges: edges, Min: edges[0], Max: math.MaxInt64})
			if err != nil {
				return nil, fmt.Errorf("metric %s: %w", m.Name, err)
			}
			mp.BucketNum = n
			mp.Public = o.Partitions
		default:
			mp.Dim = dim(m.Dimension)
			mp.Selected = m.SelectPartitions
			mp.Public = o.Partitions
			mp.Other = dp.OtherName
			if mp.Selected {
				mp.Other = ""
			}
		}
		if m.Kind.HasValue() {
			n := numSpec{Column: m.Value, Min: int64(math.Floor(m.Lower)), Max: int64(math.Ceil(m.Upper))}
			if m.Generalize != nil {
				n.Step = int64(m.Generalize.Step)
			}
			v, err := num(n)
			if err != nil {
				return nil, fmt.Errorf("metric %s: %w", m.Name, err)
			}
			mp.ValueNum = v
		}
		p.Metrics = append(p.Metrics, mp)
	}
	for _, o := range in.Gate {
		c := strings.TrimPrefix(o.Name, jobs.PopulationPrefix)
		p.Metrics = append(p.Metrics, metricPlan{Name: o.Name, Kind: string(dp.KindUsers), Category: cat(c), Dim: -1, BucketNum: -1,
			ValueNum: -1, Other: dp.TotalName, L0: 1, Linf: 1})
	}
	return p, nil
}

// eventSpec is the reader's projection.
func (p *plan) eventSpec() datasets.EventSpec {
	es := datasets.EventSpec{User: p.User, Time: p.Time, Dimensions: p.Dims, Times: true, CodesOnly: true,
		Start: timeOf(p.Start), End: timeOf(p.End)}
	for _, n := range p.Numbers {
		es.Numbers = append(es.Numbers, datasets.NumberSpec{Column: n.Column, Gen: n.gen()})
	}
	return es
}

// unsupported returns why the Beam engine cannot run the metric exactly
// as the local engine does, or nil.
func unsupported(o dp.MetricOptions) error {
	if o.Rho > 0 {
		return errors.New("zCDP accounting (privacy.accounting: zcdp): Privacy on Beam accounts (ε, δ) only and cannot calibrate its noise from ρ")
	}
	return nil
}
