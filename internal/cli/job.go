package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/dpstats/dpstats/jobs"
)

// Flags shared by the commands that take a job spec.

func jobFlag() *cli.StringFlag {
	return &cli.StringFlag{
		Name: "job", Value: "playback-daily", EnvVars: []string{"DPSTATS_JOB"},
		Usage: "job spec: a YAML file, or the name of a built-in job (" + strings.Join(jobs.BuiltinSpecs(), ", ") + ")",
	}
}

func privacyFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.Float64Flag{Name: "epsilon", EnvVars: []string{"DPSTATS_EPSILON"}, Usage: "the run's ε (default: the spec's; never above its max_epsilon)"},
		&cli.Float64Flag{Name: "delta", EnvVars: []string{"DPSTATS_DELTA"}, Usage: "the run's δ (default: the spec's; never above its max_delta)"},
		&cli.StringFlag{Name: "noise", EnvVars: []string{"DPSTATS_NOISE"}, Usage: "laplace or gaussian (default: the spec's; gaussian needs δ > 0)"},
	}, accountingFlags()...)
}

// accountingFlags select the privacy accounting and, under zcdp, a run's ρ.
func accountingFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "accounting", EnvVars: []string{"DPSTATS_ACCOUNTING"}, Usage: "pure (ε's add up) or zcdp (zero-concentrated: ρ's add up; default: the spec's privacy.accounting)"},
		&cli.Float64Flag{Name: "rho", EnvVars: []string{"DPSTATS_RHO"}, Usage: "the run's ρ under zcdp accounting (default: the spec's, or derived from the ledger cap; never above its max_rho)"},
		&cli.IntFlag{Name: "runs-per-window", EnvVars: []string{"DPSTATS_RUNS_PER_WINDOW"}, Usage: "zcdp: runs planned in the ledger window, to derive ρ from the cap (default: the spec's, or window_days)"},
	}
}

// loadJob reads the job spec called name (a file or a built-in job) and
// applies the ε, δ and noise flags (or their environment variables) within
// the spec's ceiling.
func loadJob(c *cli.Context, name string) (*jobs.Spec, error) {
	spec, err := loadSpec(name)
	if err != nil {
		return nil, err
	}
	if spec, err = accountingOverrides(c, spec); err != nil {
		return nil, err
	}
	eps, delta := setFlag(c, "epsilon", c.Float64), setFlag(c, "delta", c.Float64)
	noise := setFlag(c, "noise", c.String)
	if eps == nil && delta == nil && noise == nil {
		return spec, nil
	}
	spec, err = spec.WithOverrides(eps, delta, noise)
	if err != nil {
		return nil, usageError{err}
	}
	return spec, nil
}

// loadSpec reads a spec file, or a built-in spec when no such file exists.
func loadSpec(name string) (*jobs.Spec, error) {
	if name == "" {
		return nil, usagef("--job is required: a job spec file or a built-in job (%s)", strings.Join(jobs.BuiltinSpecs(), ", "))
	}
	if _, err := os.Stat(name); err == nil {
		spec, err := jobs.LoadSpec(name)
		if err != nil {
			return nil, specError(err)
		}
		return spec, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, usagef("job spec %s: %v", name, err)
	}
	data, ok := jobs.BuiltinSpec(name)
	if !ok {
		return nil, usagef("job spec %s: no such file, and no built-in job of that name (built in: %s)",
			name, strings.Join(jobs.BuiltinSpecs(), ", "))
	}
	spec, err := jobs.ParseSpec(strings.TrimSuffix(name, ".yaml")+".yaml (built in)", bytes.NewReader(data))
	if err != nil {
		return nil, specError(err)
	}
	return spec, nil
}

// specError makes a spec's problems a usage error, one per line.
func specError(err error) error {
	return usageError{fmt.Errorf("invalid job spec:\n%w", err)}
}

// accountingOverrides applies the --accounting, --rho and --runs-per-window
// flags (or their environment variables), before the ε, δ and noise ones.
func accountingOverrides(c *cli.Context, spec *jobs.Spec) (*jobs.Spec, error) {
	accounting, rho := setFlag(c, "accounting", c.String), setFlag(c, "rho", c.Float64)
	runs := setFlag(c, "runs-per-window", c.Int)
	if accounting == nil && rho == nil && runs == nil {
		return spec, nil
	}
	spec, err := spec.WithAccounting(accounting, rho, runs)
	if err != nil {
		return nil, usageError{err}
	}
	return spec, nil
}

// setFlag returns the value of flag name (or its environment variable) when
// it is set, and nil when it is not: an override only where the user gave one.
func setFlag[T any](c *cli.Context, name string, get func(string) T) *T {
	if !c.IsSet(name) {
		return nil
	}
	v := get(name)
	return &v
}
