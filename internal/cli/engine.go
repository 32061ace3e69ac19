package cli

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/dpstats/dpstats/jobs"
)

// The engine that computes a run's releases: the local, in-process one
// (the default), or another built into the binary (the Privacy on Beam
// engine of bin/dpstats-beam), with its runner's options.

// beamEngine is the name of the Privacy on Beam engine (jobs.NewEngine).
const beamEngine = "beam"

// beamFlag is one of the Beam runner's options: --beam-<name>, passed to
// the engine under its Beam pipeline option name (dashes as underscores).
type beamFlag struct{ name, usage string }

var beamFlags = []beamFlag{
	{"runner", "the Beam runner: direct, prism (local, for tests), universal (a portable job server: Flink, Spark) or dataflow"},
	{"endpoint", "the job endpoint of a portable job server (host:port), for --beam-runner universal"},
	{"environment-type", "how the runner starts the SDK workers: DOCKER, PROCESS, EXTERNAL or LOOPBACK"},
	{"environment-config", "the worker environment's configuration: a container image, or a process or external address"},
	{"project", "the Google Cloud project, for --beam-runner dataflow"},
	{"region", "the Dataflow region, e.g. europe-west1"},
	{"temp-location", "where the pipeline keeps temporary files (gs://… on Dataflow); its noisy staging output goes there too"},
	{"staging-location", "where the runner stages the worker binary (gs://… on Dataflow)"},
}

// beamOptionEnv holds --beam-option pairs, separated by spaces or newlines.
const beamOptionEnv = "DPSTATS_BEAM_OPTIONS"

// beamOptionKey is what a Beam pipeline option's name looks like.
var beamOptionKey = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// envName is the environment variable of a --beam-<name> flag.
func envName(name string) string {
	return "DPSTATS_BEAM_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// optionKey is the Beam pipeline option a --beam-<name> flag sets.
func optionKey(name string) string { return strings.ReplaceAll(name, "-", "_") }

// engineFlags are run's --engine and the Beam runner's flags.
func engineFlags() []cli.Flag {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "engine", Value: jobs.LocalEngine, EnvVars: []string{"DPSTATS_ENGINE"},
			Usage: "what computes the releases: local (in this process) or beam (Privacy on Beam, in bin/dpstats-beam, built by make beam); " +
				"this binary has: " + strings.Join(jobs.Engines(), ", ")},
	}
	for _, f := range beamFlags {
		flags = append(flags, &cli.StringFlag{Name: "beam-" + f.name, EnvVars: []string{envName(f.name)},
			Usage: f.usage + " (--engine beam only)"})
	}
	return append(flags, &cli.GenericFlag{Name: "beam-option", Value: &keyValues{},
		Usage: "any other Beam pipeline option, as key=value (repeat the flag; or $" + beamOptionEnv + ": pairs separated by spaces), " +
			"e.g. --beam-option service_account_email=dpstats@project.iam.gserviceaccount.com (--engine beam only)"})
}

// keyValues is a repeatable key=value flag. Unlike a string slice flag it
// does not split values at commas, which Beam options may hold.
type keyValues struct{ pairs []string }

func (k *keyValues) Set(v string) error { k.pairs = append(k.pairs, v); return nil }
func (k *keyValues) String() string     { return strings.Join(k.pairs, " ") }

// newEngine builds the engine --engine names, with the --beam-* options.
// nil is the local engine. Errors are usage errors (exit 64): an engine
// this binary was built without, Beam options without --engine beam, a
// malformed or repeated option.
func newEngine(c *cli.Context) (jobs.Engine, error) {
	name := c.String("engine")
	var pairs []string
	if kv, ok := c.Generic("beam-option").(*keyValues); ok {
		pairs = kv.pairs
	}
	if len(pairs) == 0 {
		pairs = strings.Fields(os.Getenv(beamOptionEnv))
	}
	var set []string
	for _, f := range beamFlags {
		if c.IsSet("beam-" + f.name) {
			set = append(set, "--beam-"+f.name)
		}
	}
	if len(pairs) > 0 {
		set = append(set, "--beam-option")
	}
	if name != beamEngine {
		if len(set) > 0 {
			shown := name
			if shown == "" {
				shown = jobs.LocalEngine
			}
			return nil, usagef("run: %s: the Beam runner's options need --engine beam (env DPSTATS_ENGINE=beam, in bin/dpstats-beam), "+
				"and the engine is %s; add --engine beam or drop them (their env: DPSTATS_BEAM_*)",
				strings.Join(set, ", "), shown)
		}
		e, err := jobs.NewEngine(name, nil)
		if err != nil {
			return nil, usageError{fmt.Errorf("--engine %s: %w", name, err)}
		}
		return e, nil
	}
	options := map[string]string{}
	for _, f := range beamFlags {
		if v := c.String("beam-" + f.name); v != "" {
			options[optionKey(f.name)] = v
		}
	}
	for _, p := range pairs {
		key, value, ok := strings.Cut(p, "=")
		switch {
		case !ok || !beamOptionKey.MatchString(key):
			return nil, usagef("--beam-option %q: want key=value, with key a Beam pipeline option name like max_num_workers", p)
		case slices.ContainsFunc(beamFlags, func(f beamFlag) bool { return optionKey(f.name) == key }):
			return nil, usagef("--beam-option %s: use --beam-%s", key, strings.ReplaceAll(key, "_", "-"))
		}
		if _, dup := options[key]; dup {
			return nil, usagef("--beam-option %s is given twice", key)
		}
		options[key] = value
	}
	e, err := jobs.NewEngine(name, options)
	if err != nil {
		return nil, usageError{fmt.Errorf("--engine %s: %w", name, err)}
	}
	return e, nil
}

// versionString is the version --version prints, with the engines built in.
func versionString() string {
	return fmt.Sprintf("%s (engines: %s)", version, strings.Join(jobs.Engines(), ", "))
}
