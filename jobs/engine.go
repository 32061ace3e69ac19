package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/dp"
)

// An Engine computes a run's noisy releases. The local engine (the
// default, Config.Engine nil) reads, bounds and aggregates in this process
// (aggregate, in run.go). Other engines, such as the Privacy on Beam one
// built into bin/dpstats-beam, register themselves with RegisterEngine and
// run the same job spec elsewhere. Whatever the engine, Run keeps the
// release protocol: it locks the ledger, refuses before any engine runs,
// records the spend and publishes.
type Engine interface {
	// Name is the engine's name as given to --engine ("beam").
	Name() string
	// Aggregate reads the inputs and returns the noisy releases: one per
	// metric, in spec order, with the options in in.Metrics, then one per
	// quality-gate population count, with the options in in.Gate. It has
	// the local engine's semantics (consent, forbidden columns,
	// generalization, partitions, bounds, ε/δ split). Errors are those of
	// the local engine where they mean the same (*datasets.InputError,
	// datasets.ErrInputMissing, ErrConfig for a spec the engine cannot
	// express), or wrapped.
	Aggregate(ctx context.Context, in EngineInput) ([]*dp.Released, error)
	// ChargesBeforeCompute says that the engine's noisy output can outlive
	// a failed or interrupted Aggregate (a pipeline that writes noisy
	// results to a staging location others can read): Run must then
	// record the spend before it calls Aggregate, so that the ledger never
	// under-counts. The local engine's noise lives only in this process.
	ChargesBeforeCompute() bool
}

// EngineInput is everything an engine needs for one run.
type EngineInput struct {
	Spec            *Spec
	Events, Consent []datasets.Input
	Period          string
	// Start and End bound the period's events: [Start, End).
	Start, End time.Time
	// Now is the run's time: consent is read as of Now.
	Now time.Time
	// RunID names the run (e.g. for the engine's staging location).
	RunID string
	// Metrics and Gate are the dp options of every metric (Spec.MetricOptions)
	// and of the quality gate's counts (Spec.GateOptions).
	Metrics, Gate []dp.MetricOptions
	Logger        *slog.Logger
}

// EngineFactory makes an engine from its command-line options, keyed by
// option name without the engine's prefix (for --beam-runner: "runner").
type EngineFactory func(options map[string]string) (Engine, error)

var (
	enginesMu sync.Mutex
	engines   = map[string]EngineFactory{}
)

// LocalEngine is the name of the in-process engine.
const LocalEngine = "local"

// RegisterEngine makes an engine available to NewEngine under name. It
// panics on a duplicate or reserved name (a programming error at init).
func RegisterEngine(name string, f EngineFactory) {
	enginesMu.Lock()
	defer enginesMu.Unlock()
	if name == "" || name == LocalEngine || engines[name] != nil {
		panic(fmt.Sprintf("jobs: engine %q registered twice or reserved", name))
	}
	engines[name] = f
}

// Engines lists the engines this binary has, "local" first.
func Engines() []string {
	enginesMu.Lock()
	defer enginesMu.Unlock()
	names := make([]string, 0, len(engines))
	for n := range engines {
		names = append(names, n)
	}
	sort.Strings(names)
	return append([]string{LocalEngine}, names...)
}

// NewEngine returns the named engine; nil (the local engine) for "" or
// "local". An engine this binary was built without is an ErrConfig.
func NewEngine(name string, options map[string]string) (Engine, error) {
	if name == "" || name == LocalEngine {
		return nil, nil
	}
	enginesMu.Lock()
	f := engines[name]
	enginesMu.Unlock()
	if f == nil {
		return nil, fmt.Errorf("%w: engine %q is not built into this binary (engines: %v); the Beam engine is in bin/dpstats-beam, built by `make beam`",
			ErrConfig, name, Engines())
	}
	e, err := f(options)
	if err != nil {
		return nil, fmt.Errorf("%w: engine %s: %w", ErrConfig, name, err)
	}
	return e, nil
}
