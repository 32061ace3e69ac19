package dp

import (
	"math"
	"strings"
	"testing"
)

func validCount() MetricOptions {
	return MetricOptions{Name: "codec", Kind: KindCount, Epsilon: 1, MaxPartitions: 2, MaxPerPartition: 3, Partitions: []string{"hevc", "av1"}}
}

func TestValidate(t *testing.T) {
	mod := func(f func(*MetricOptions)) MetricOptions { o := validCount(); f(&o); return o }
	num := func(k Kind, f func(*MetricOptions)) MetricOptions {
		o := MetricOptions{Name: "bitrate", Kind: k, Epsilon: 1, MaxPartitions: 1, MaxPerPartition: 1, Lower: 0, Upper: 10, Ranks: []float64{0.5}}
		f(&o)
		return o
	}
	tests := []struct {
		name string
		opt  MetricOptions
		want string // substring of the error; "" means valid
	}{
		{"valid count", validCount(), ""},
		{"valid users ignores linf", mod(func(o *MetricOptions) { o.Kind = KindUsers; o.MaxPerPartition = 0 }), ""},
		{"valid gaussian", mod(func(o *MetricOptions) { o.Noise = NoiseGaussian; o.Delta = 1e-6 }), ""},
		{"valid laplace with delta", mod(func(o *MetricOptions) { o.Delta = 1e-6 }), ""},
		{"valid selection", mod(func(o *MetricOptions) { o.Partitions = nil; o.SelectPartitions = true; o.Delta = 1e-6 }), ""},
		{"valid quantiles", num(KindQuantiles, func(o *MetricOptions) { o.Ranks = []float64{0.5, 0.9, 0.99} }), ""},
		{"empty name", mod(func(o *MetricOptions) { o.Name = "" }), "name is empty"},
		{"unknown kind", mod(func(o *MetricOptions) { o.Kind = "median" }), `kind "median" is unknown`},
		{"zero epsilon", mod(func(o *MetricOptions) { o.Epsilon = 0 }), "epsilon = 0, must be finite and > 0"},
		{"negative epsilon", mod(func(o *MetricOptions) { o.Epsilon = -1 }), "epsilon = -1"},
		{"inf epsilon", mod(func(o *MetricOptions) { o.Epsilon = math.Inf(1) }), "epsilon = +Inf"},
		{"nan epsilon", mod(func(o *MetricOptions) { o.Epsilon = math.NaN() }), "epsilon = NaN"},
		{"negative delta", mod(func(o *MetricOptions) { o.Delta = -0.1 }), "delta = -0.1, must be in [0, 1)"},
		{"delta one", mod(func(o *MetricOptions) { o.Delta = 1 }), "delta = 1, must be in [0, 1)"},
		{"gaussian without delta", mod(func(o *MetricOptions) { o.Noise = NoiseGaussian }), "gaussian noise needs delta > 0"},
		{"unknown noise", mod(func(o *MetricOptions) { o.Noise = "uniform" }), `noise "uniform" is unknown`},
		{"l0 zero", mod(func(o *MetricOptions) { o.MaxPartitions = 0 }), "max_partitions = 0, must be ≥ 1"},
		{"linf zero", mod(func(o *MetricOptions) { o.MaxPerPartition = 0 }), "max_per_partition = 0, must be ≥ 1"},
		{"lower above upper", num(KindSum, func(o *MetricOptions) { o.Lower, o.Upper = 5, 1 }), "lower = 5 must be < upper = 1"},
		{"equal bounds", num(KindMean, func(o *MetricOptions) { o.Lower, o.Upper = 1, 1 }), "lower = 1 must be < upper = 1"},
		{"infinite bound", num(KindSum, func(o *MetricOptions) { o.Upper = math.Inf(1) }), "must be finite"},
		{"no ranks", num(KindQuantiles, func(o *MetricOptions) { o.Ranks = nil }), "at least one rank"},
		{"rank one", num(KindQuantiles, func(o *MetricOptions) { o.Ranks = []float64{0.5, 1} }), "rank 1 must be in (0, 1)"},
		{"rank zero", num(KindQuantiles, func(o *MetricOptions) { o.Ranks = []float64{0} }), "rank 0 must be in (0, 1)"},
		{"selection without delta", mod(func(o *MetricOptions) { o.Partitions = nil; o.SelectPartitions = true }), "partition selection needs delta > 0"},
		{"selection with public list", mod(func(o *MetricOptions) { o.SelectPartitions = true; o.Delta = 1e-6 }), "use one or the other"},
		{"reserved other", mod(func(o *MetricOptions) { o.Partitions = []string{"a", "other"} }), `"other" is reserved`},
		{"duplicate partition", mod(func(o *MetricOptions) { o.Partitions = []string{"a", "a"} }), `"a" is listed twice`},
		{"confidence one", mod(func(o *MetricOptions) { o.ConfidenceLevel = 1 }), "confidence level = 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opt.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if _, err := NewAggregator(tc.opt); err != nil {
					t.Fatalf("NewAggregator() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want error containing %q", tc.want)
			}
			if got := err.Error(); !strings.Contains(got, tc.want) || !strings.Contains(got, tc.opt.Name) {
				t.Errorf("Validate() = %q, want it to contain %q and the metric name %q", got, tc.want, tc.opt.Name)
			}
			if _, err := NewAggregator(tc.opt); err == nil || !strings.HasPrefix(err.Error(), "NewAggregator: ") {
				t.Errorf("NewAggregator() = %v, want an error prefixed NewAggregator", err)
			}
		})
	}
}

func TestNewAggregatorRefusesLibraryOverflow(t *testing.T) {
	o := MetricOptions{Name: "huge", Kind: KindSum, Epsilon: 1, MaxPartitions: 1, MaxPerPartition: math.MaxInt32, Lower: 0, Upper: math.MaxFloat64 / 2}
	if _, err := NewAggregator(o); err == nil {
		t.Fatalf("NewAggregator(%+v) = nil error, want a sensitivity overflow error", o)
	}
}

func TestSplitBudget(t *testing.T) {
	tests := []struct {
		name    string
		total   Budget
		weights []float64
		want    []Budget
		wantErr string
	}{
		{"even", Budget{1, 1e-6}, []float64{1, 1}, []Budget{{0.5, 5e-7}, {0.5, 5e-7}}, ""},
		{"weighted", Budget{3, 0}, []float64{2, 1}, []Budget{{2, 0}, {1, 0}}, ""},
		{"single", Budget{0.7, 1e-9}, []float64{5}, []Budget{{0.7, 1e-9}}, ""},
		{"no weights", Budget{1, 0}, nil, nil, "no weights"},
		{"zero weight", Budget{1, 0}, []float64{1, 0}, nil, "weight 1 = 0"},
		{"negative weight", Budget{1, 0}, []float64{-1}, nil, "weight 0 = -1"},
		{"zero epsilon", Budget{0, 0}, []float64{1}, nil, "epsilon = 0"},
		{"bad delta", Budget{1, 1}, []float64{1}, nil, "delta = 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SplitBudget(tc.total, tc.weights)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "SplitBudget: ") {
					t.Fatalf("SplitBudget() error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("SplitBudget() = %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("len = %d, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if math.Abs(got[i].Epsilon-tc.want[i].Epsilon) > 1e-12 || math.Abs(got[i].Delta-tc.want[i].Delta) > 1e-18 {
					t.Errorf("part %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestSplitBudgetNeverExceedsTotal(t *testing.T) {
	for n := 1; n <= 50; n++ {
		w := make([]float64, n)
		for i := range w {
			w[i] = 1 / float64(i+3)
		}
		total := Budget{Epsilon: 0.1 * float64(n), Delta: 1e-7 * 3}
		parts, err := SplitBudget(total, w)
		if err != nil {
			t.Fatal(err)
		}
		var e, d float64
		for _, p := range parts {
			e += p.Epsilon
			d += p.Delta
		}
		if e > total.Epsilon || d > total.Delta {
			t.Errorf("n=%d: parts sum to (%v, %v), more than the total %+v", n, e, d, total)
		}
	}
}
