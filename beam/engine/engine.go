// Package engine is dpstats' Privacy on Beam engine: it compiles a job spec
// into an Apache Beam pipeline that reads the exports, applies consent and
// the spec's partitions, bounds every user's contributions and adds noise
// with Privacy on Beam (the same noise library as the local engine), and
// writes only the noisy per-partition results to a staging location. The
// driver (jobs.Run) keeps the release protocol. It registers itself as the
// "beam" engine (jobs.RegisterEngine). See beam/README.md for what it
// supports and what it refuses.
package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/dp"
	"github.com/dpstats/dpstats/jobs"
)

// Name is the engine's name for --engine.
const Name = "beam"

func init() {
	jobs.RegisterEngine(Name, New)
}

// Reasons the report gives for what this engine cannot release.
const (
	meanNoInterval = "none, because the Beam engine's mean (Privacy on Beam's MeanPerKey) does not expose the noisy count and sum " +
		"the library's interval for a mean is computed from"
	quantileNoInterval = "none, because the Beam engine's quantiles (Privacy on Beam's QuantilesPerKey) release only the asked ranks, " +
		"not the quantile tree that intervals are derived from"
)

var initOnce sync.Once

// WorkerMain runs this binary as a Beam SDK worker when a runner started
// it as one (with --worker and the harness flags), and does not return
// then. Otherwise it returns at once. Call it first in main.
func WorkerMain() {
	for _, a := range os.Args[1:] {
		if a == "--worker" || strings.HasPrefix(a, "--worker=") || a == "-worker" || strings.HasPrefix(a, "-worker=") {
			flag.Parse()
			beam.Init() // runs the worker harness and exits
			os.Exit(0)
		}
	}
}

// Engine runs jobs on a Beam runner. Make it with New.
type Engine struct {
	options map[string]string
}

// New makes the engine from its options: Beam's own flag names ("runner",
// "endpoint", "project", "region", "temp_location", "staging_location",
// "environment_type", "environment_config", or any other flag a Beam
// runner registers) with their values. An unknown name is an error. The
// runner defaults to "direct".
func New(options map[string]string) (jobs.Engine, error) {
	initOnce.Do(beam.Init)
	opts := maps.Clone(options)
	if opts == nil {
		opts = map[string]string{}
	}
	if opts["runner"] == "" {
		opts["runner"] = "direct"
	}
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		if flag.Lookup(k) == nil {
			return nil, fmt.Errorf("unknown Beam option %q (use the Beam pipeline option's flag name, e.g. runner, endpoint, project, region, temp_location)", k)
		}
		if err := flag.Set(k, opts[k]); err != nil {
			return nil, fmt.Errorf("Beam option %s=%q: %w", k, opts[k], err)
		}
	}
	switch r := opts["runner"]; r {
	case "direct", "prism", "universal", "dataflow", "flink", "spark", "samza":
	default:
		return nil, fmt.Errorf("Beam runner %q is not supported (use direct, prism, universal, dataflow, flink or spark)", r)
	}
	return &Engine{options: opts}, nil
}

// Name implements jobs.Engine.
func (e *Engine) Name() string { return Name }

// ChargesBeforeCompute implements jobs.Engine: the pipeline's noisy
// results are written to a staging location before Aggregate reads them,
// and a runner may keep them (or its own temporary files) after a failure.
func (e *Engine) ChargesBeforeCompute() bool { return true }

// Check refuses, before anything is charged, a run this engine cannot do
// as the local engine would: a spec it cannot express (jobs.ErrConfig) or
// inputs it cannot read: in memory, or a remote input (gs://…) on a
// filesystem it lacks or that is not there (checkRemote). It reads no rows
// and draws no noise.
func (e *Engine) Check(ctx context.Context, in jobs.EngineInput) error {
	for _, o := range append(slices.Clone(in.Metrics), in.Gate...) {
		if err := unsupported(o); err != nil {
			return fmt.Errorf("%w: the beam engine cannot run metric %s: %w", jobs.ErrConfig, o.Name, err)
		}
		// Privacy on Beam stops the process on parameters its library
		// refuses: refuse them here, with the local engine's checks.
		if _, err := dp.NewAggregator(o); err != nil {
			return fmt.Errorf("%w: %w", jobs.ErrConfig, err)
		}
	}
	for _, set := range [][]datasets.Input{in.Events, in.Consent} {
		for _, f := range set {
			if f.Data != nil {
				return fmt.Errorf("%w: input %s is in memory; the beam engine reads files the runner's workers can reach", jobs.ErrConfig, f.Name)
			}
		}
	}
	if _, err := compile(in); err != nil {
		return fmt.Errorf("%w: %w", jobs.ErrConfig, err)
	}
	for _, set := range [][]datasets.Input{in.Events, in.Consent} {
		if err := checkRemote(ctx, set); err != nil {
			return err
		}
	}
	if !e.sharesDriverFiles() && e.options["temp_location"] == "" {
		return fmt.Errorf("%w: the beam engine on runner %s needs --beam-temp-location: a location the workers write the noisy "+
			"results to and this process reads them from (gs://… on Dataflow, a shared file system on Flink or Spark)",
			jobs.ErrConfig, e.options["runner"])
	}
	return nil
}

// sharesDriverFiles says whether the workers run on this machine (the
// direct and prism runners, or a portable runner with LOOPBACK workers),
// so that a local staging directory works.
func (e *Engine) sharesDriverFiles() bool {
	switch e.options["runner"] {
	case "direct", "prism":
		return true
	case "dataflow":
		return false
	}
	return strings.EqualFold(e.options["environment_type"], "LOOPBACK")
}

// Aggregate implements jobs.Engine: it runs the pipeline, reads the noisy
// results back from the staging location, removes them and returns the
// releases.
func (e *Engine) Aggregate(ctx context.Context, in jobs.EngineInput) ([]*dp.Released, error) {
	if err := e.Check(ctx, in); err != nil {
		return nil, err
	}
	p, err := compile(in)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", jobs.ErrConfig, err)
	}
	dir, err := e.stagingDir(in)
	if err != nil {
		return nil, err
	}
	defer removeStaging(ctx, dir)
	staged := joinPath(dir, "results.jsonl")
	pipe, err := build(p, in, staged)
	if err != nil {
		return nil, err
	}
	setBeamLogger(in.Logger)
	if in.Logger != nil {
		in.Logger.Info("beam pipeline submitted", "runner", e.options["runner"])
	}
	if err := beamx.Run(ctx, pipe); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("beam pipeline (runner %s) failed: %w", e.options["runner"], rootCause(err))
	}
	results, err := readResults(ctx, staged)
	if err != nil {
		return nil, err
	}
	return releases(in, results)
}

// rootCause is the innermost error of a runner's error (the SDK wraps it
// in a dump of the whole execution plan), or its last line.
func rootCause(err error) error {
	for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
		err = u
	}
	if msg := strings.TrimSpace(err.Error()); strings.Contains(msg, "\n") {
		return errors.New(msg[strings.LastIndex(msg, "\n")+1:])
	}
	return err
}

// stagingDir returns a new, private directory for the run's noisy
// results: under the runner's temp_location if set (Dataflow: gs://), else
// under the system's temporary directory.
func (e *Engine) stagingDir(in jobs.EngineInput) (string, error) {
	name := ".engine-" + in.Spec.Name + "-" + in.RunID
	if t := e.options["temp_location"]; t != "" {
		return joinPath(t, name), nil
	}
	d, err := os.MkdirTemp("", name+"-")
	if err != nil {
		return "", &jobs.OutputError{Err: fmt.Errorf("create the beam engine's staging directory: %w", err)}
	}
	return d, nil
}

func joinPath(dir, name string) string {
	if strings.Contains(dir, "://") {
		return strings.TrimSuffix(dir, "/") + "/" + name
	}
	return filepath.Join(dir, name)
}

// removeStaging removes the staged results (they are noisy, but nothing
// else should read them: the report is the release).
func removeStaging(ctx context.Context, dir string) {
	if !strings.Contains(dir, "://") {
		os.RemoveAll(dir)
		return
	}
	fs, err := filesystem.New(ctx, dir)
	if err != nil {
		return
	}
	defer fs.Close()
	if r, ok := fs.(filesystem.Remover); ok {
		files, _ := fs.List(ctx, joinPath(dir, "*"))
		for _, f := range files {
			_ = r.Remove(ctx, f)
		}
	}
}

// build constructs the pipeline.
func build(p *plan, in jobs.EngineInput, staged string) (*beam.Pipeline, error) {
	pipe, s := beam.NewPipelineWithRoot()
	var events, consent []string
	for _, f := range in.Events {
		events = append(events, f.Name)
	}
	for _, f := range in.Consent {
		consent = append(consent, f.Name)
	}
	files := beam.Reshuffle(s, beam.CreateList(s, events))
	rows := beam.ParDo(s, &readEventsFn{Plan: p}, files)
	grants := beam.ParDo(s, &readConsentFn{Plan: p, Paths: consent}, beam.Impulse(s))
	opts := append(slices.Clone(in.Metrics), in.Gate...)
	caps := make([]bool, len(opts))
	for i, o := range opts {
		caps[i] = o.CapsCutFraction > 0
	}
	contribs := beam.ParDo(s, &joinFn{Plan: p, CapsCut: caps}, beam.CoGroupByKey(s, rows, grants))
	slots := beam.Partition(s, 2*len(opts), slotOf, contribs)
	var lines []beam.PCollection
	for i, o := range opts {
		out, err := addMetric(s, slots[2*i], slots[2*i+1], i, o)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", jobs.ErrConfig, err)
		}
		lines = append(lines, out...)
	}
	textio.Write(s, staged, beam.Flatten(s, lines...))
	return pipe, nil
}

// readResults reads the staged results.
func readResults(ctx context.Context, path string) ([]result, error) {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("read the beam engine's staged results: %w", err)
	}
	defer fs.Close()
	rc, err := fs.OpenRead(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("read the beam engine's staged results: %w", err)
	}
	defer rc.Close()
	var out []result
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 1<<16), 1<<26)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("read the beam engine's staged results %s: %w", path, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read the beam engine's staged results %s: %w", path, err)
	}
	return out, nil
}

// releases turns the staged noisy results into the releases Run expects:
// the metrics in spec order, then the gate's counts.
func releases(in jobs.EngineInput, results []result) ([]*dp.Released, error) {
	opts := append(slices.Clone(in.Metrics), in.Gate...)
	type acc struct {
		parts map[string]*dp.ExternalPartition
		order []string
		caps  *dp.ExternalCapsCut
	}
	accs := make([]acc, len(opts))
	for i := range accs {
		accs[i].parts = map[string]*dp.ExternalPartition{}
	}
	part := func(a *acc, name string) *dp.ExternalPartition {
		p := a.parts[name]
		if p == nil {
			p = &dp.ExternalPartition{Name: name}
			a.parts[name] = p
			a.order = append(a.order, name)
		}
		return p
	}
	for _, r := range results {
		if r.Metric < 0 || r.Metric >= len(opts) {
			return nil, fmt.Errorf("beam engine: staged result for metric %d of %d", r.Metric, len(opts))
		}
		a := &accs[r.Metric]
		switch r.What {
		case whatValue:
			p := part(a, r.Part)
			p.Value, p.Quantiles = r.Value, r.Quant
		case whatValues:
			p := part(a, r.Part)
			p.Values, p.HasValues = r.Value, true
		case whatCaps:
			if a.caps == nil {
				a.caps = &dp.ExternalCapsCut{}
			}
			switch r.Part {
			case capsCut:
				a.caps.Cut = r.Value
			case capsKept:
				a.caps.Kept = r.Value
			}
		default:
			return nil, fmt.Errorf("beam engine: staged result of unknown kind %q", r.What)
		}
	}
	out := make([]*dp.Released, len(opts))
	for i, o := range opts {
		a := &accs[i]
		ext := dp.ExternalRelease{CapsCut: a.caps, MeanNoInterval: meanNoInterval, QuantileNoInterval: quantileNoInterval}
		for _, n := range a.order {
			ext.Partitions = append(ext.Partitions, *a.parts[n])
		}
		rel, err := dp.ReleaseExternal(o, ext)
		if err != nil {
			return nil, fmt.Errorf("beam engine: %w", err)
		}
		out[i] = rel
	}
	return out, nil
}
