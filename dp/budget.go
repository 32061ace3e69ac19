package dp

import (
	"fmt"
	"math"
)

// Budget is an (ε, δ) privacy budget.
type Budget struct{ Epsilon, Delta float64 }

// SplitBudget splits the run's total budget across metrics in proportion to
// their weights: metric i gets total×weights[i]/Σweights of both ε and δ. By
// basic composition the metrics together spend at most the total.
func SplitBudget(total Budget, weights []float64) ([]Budget, error) {
	if !finite(total.Epsilon) || total.Epsilon <= 0 {
		return nil, fmt.Errorf("SplitBudget: epsilon = %v, must be finite and > 0", total.Epsilon)
	}
	if math.IsNaN(total.Delta) || total.Delta < 0 || total.Delta >= 1 {
		return nil, fmt.Errorf("SplitBudget: delta = %v, must be in [0, 1)", total.Delta)
	}
	if len(weights) == 0 {
		return nil, fmt.Errorf("SplitBudget: no weights; give one weight per metric")
	}
	var sum float64
	for i, w := range weights {
		if !finite(w) || w <= 0 {
			return nil, fmt.Errorf("SplitBudget: weight %d = %v, must be finite and > 0", i, w)
		}
		sum += w
	}
	out := make([]Budget, len(weights))
	var usedE, usedD float64
	for i, w := range weights {
		out[i] = Budget{Epsilon: total.Epsilon * w / sum, Delta: total.Delta * w / sum}
		usedE += out[i].Epsilon
		usedD += out[i].Delta
	}
	// Floating-point rounding must never make the parts exceed the total.
	for usedE > total.Epsilon || usedD > total.Delta {
		usedE, usedD = 0, 0
		for i := range out {
			out[i].Epsilon = math.Nextafter(out[i].Epsilon, 0)
			out[i].Delta = math.Nextafter(out[i].Delta, 0)
			usedE += out[i].Epsilon
			usedD += out[i].Delta
		}
	}
	return out, nil
}
