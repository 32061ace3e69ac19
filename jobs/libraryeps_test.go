package jobs

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dpstats/dpstats/dp"
)

// hugeSpec is the base spec with room for a huge ε (and ρ) under its
// ceilings, edited by repl, with extra lines appended.
func hugeSpec(t *testing.T, repl map[int]string, extra string) *Spec {
	t.Helper()
	r := map[int]string{11: "  max_epsilon: 1e7", 16: "  cap_epsilon: 1e8"}
	for k, v := range repl {
		r[k] = v
	}
	return mustParse(t, edit(baseSpec(t), r)+extra)
}

var needsBelow = regexp.MustCompile(`this job needs (ε|ρ) ≤ ([0-9.e+-]+)`)

// TestLibraryLimits: a run budget that would hand the noise library's
// Gaussian noise or partition selection (max_partitions > 3) an ε it never
// returns from is refused up front, naming the metric and the largest run
// budget that works; that budget is accepted and gives every mechanism at
// most dp.MaxGaussianEpsilon. What never hangs (Laplace noise over public
// partitions) stays allowed at ε = 10⁶.
func TestLibraryLimits(t *testing.T) {
	selection := map[int]string{25: "    select_partitions: true", 26: "    max_partitions: 4"}
	tests := []struct {
		name      string
		spec      func(t *testing.T) *Spec
		noise     string
		zcdp      bool
		huge      float64
		wantField string
		wantName  string // the metric or gate count named
		wantWhat  string // the mechanism named
	}{
		{name: "selection, laplace", spec: func(t *testing.T) *Spec { return hugeSpec(t, selection, "") }, huge: 1e6,
			wantField: "privacy.epsilon (set by epsilon override)", wantName: "metric device_share", wantWhat: "partition selection (max_partitions > 3)"},
		{name: "gaussian noise", spec: func(t *testing.T) *Spec { return hugeSpec(t, nil, "") }, noise: NoiseGaussian, huge: 1e6,
			wantField: "privacy.epsilon (set by epsilon override)", wantName: "metric duration_quantiles", wantWhat: "Gaussian noise"},
		{name: "gaussian, the gate's share the largest", noise: NoiseGaussian, huge: 1e4,
			spec:      func(t *testing.T) *Spec { return hugeSpec(t, nil, "quality_gate: {weight: 100, min_users: 10}\n") },
			wantField: "privacy.epsilon (set by epsilon override)", wantName: "the quality gate's count of users per consent category", wantWhat: "Gaussian noise"},
		{name: "zcdp", zcdp: true, huge: 1e6,
			spec:      func(t *testing.T) *Spec { return hugeSpec(t, map[int]string{13: "  max_rho: 1e6"}, "") },
			wantField: "privacy.rho (set by rho override)", wantName: "metric duration_quantiles", wantWhat: "above the 100 the noise library can be calibrated for"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.spec(t)
			with := func(v float64) (*Spec, error) {
				if tt.zcdp {
					return s.WithAccounting(ptr(AccountingZCDP), &v, nil)
				}
				var n *string
				if tt.noise != "" {
					n = &tt.noise
				}
				return s.WithOverrides(&v, nil, n)
			}
			_, err := with(tt.huge)
			if err == nil {
				t.Fatalf("budget %g accepted", tt.huge)
			}
			msg := err.Error()
			for _, want := range []string{"job.yaml: " + tt.wantField + ": ", "is too large", tt.wantName, tt.wantWhat} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			m := needsBelow.FindStringSubmatch(msg)
			if m == nil {
				t.Fatalf("error %q names no largest budget", msg)
			}
			largest, err := strconv.ParseFloat(m[2], 64)
			if err != nil || !(largest > 0 && largest < tt.huge) {
				t.Fatalf("largest budget %q: %v", m[2], err)
			}
			ok, err := with(largest)
			if err != nil {
				t.Fatalf("the largest budget %g is refused: %v", largest, err)
			}
			// At it, every mechanism is within what the library computes
			// (dp's own Validate agrees), and close to the limit: the
			// suggestion is not needlessly low (3 significant digits).
			most := 0.0
			for _, o := range append(ok.MetricOptions(nil), ok.GateOptions(nil)...) {
				if err := o.Validate(); err != nil {
					t.Errorf("at %g: %v", largest, err)
				}
				eps, _ := o.GaussianEpsilon()
				if eps > dp.MaxGaussianEpsilon {
					t.Errorf("at %g: %s gets ε = %g", largest, o.Name, eps)
				}
				if tt.zcdp {
					most = math.Max(most, dp.MaxPartRho/o.RhoScale())
				} else {
					most = math.Max(most, eps)
				}
			}
			limit := float64(dp.MaxGaussianEpsilon)
			if tt.zcdp {
				limit = dp.MaxPartRho
			}
			if !(most > 0.99*limit) {
				t.Errorf("at the suggested %g the largest part is %g, want within 1%% of %g", largest, most, limit)
			}
			if _, err := with(largest * 1.01); err == nil || !strings.Contains(err.Error(), "is too large") {
				t.Errorf("1%% above the largest budget: %v, want refused", err)
			}
		})
	}
	// Laplace noise over public partitions never hangs: ε = 10⁶ stays
	// allowed (the exact-release tests rely on it).
	if _, err := hugeSpec(t, nil, "").WithOverrides(ptr(1e6), nil, nil); err != nil {
		t.Errorf("laplace at ε = 1e6: %v", err)
	}
}
