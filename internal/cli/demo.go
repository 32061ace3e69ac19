package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/datasets/sample"
	"github.com/dpstats/dpstats/jobs"
	"github.com/dpstats/dpstats/jobs/ledger"
)

// demoDays is how many days the demo releases by default: the embedded
// sample's day, then days generated like it, enough for the job's history
// (7-day rolling averages, week-on-week changes) to mean something. At the
// shipped job's ε = 0.3 a day, 14 days spend ε = 4.2 of the ledger's cap of
// 10 per 30 days; maxDemoDays (28) would spend 8.4.
const (
	demoDays    = 14
	maxDemoDays = 28
)

// movieNightWeights are the media type weights (movie, episode, track,
// photo, clip) of the demo's Fridays and Saturdays: more movies than the
// generator's default 0.30, 0.45, 0.13, 0.05, 0.07.
var movieNightWeights = []float64{0.42, 0.36, 0.11, 0.04, 0.07}

// demoCommand runs the shipped job on the sample embedded in the binary and
// on days generated like it, one day after the other, with a ledger next to
// the reports: what `make run` does, and what a container image can show
// with no data mounted.
func demoCommand() *cli.Command {
	last := sample.Start.AddDate(0, 0, demoDays-1)
	return withExitHelp(&cli.Command{
		Name:  "demo",
		Usage: fmt.Sprintf("run the playback-daily job on %d days of synthetic data (the embedded sample, then generated days)", demoDays),
		Description: fmt.Sprintf("demo releases %d days, %s to %s, with the built-in playback-daily job under the full\n"+
			"release protocol, with its own ledger at OUT/ledger.jsonl (created the first time), then builds the job's history across days\n"+
			"(OUT/<job>/index.html and history.csv). The first day is the synthetic sample embedded in the binary\n"+
			"(%d events of %d users); each later day is generated in memory by the same synthetic generator\n"+
			"(same size, its own seed), with a weekly pattern: Fridays and Saturdays have 20%% more events and\n"+
			"more movies. Running it again releases nothing new: the periods are already released.",
			demoDays, sample.Start.Format(time.DateOnly), last.Format(time.DateOnly), sample.Rows, sample.Users),
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "out", Value: "out", EnvVars: []string{"DPSTATS_OUT"}, Usage: "report directory (the demo's ledger goes there too)"},
			&cli.StringFlag{Name: "log-format", Value: "auto", EnvVars: []string{"DPSTATS_LOG_FORMAT"}, Usage: "auto, text or json"},
			&cli.IntFlag{Name: "days", Value: demoDays, Usage: fmt.Sprintf("number of days to release, 1 to %d, from %s", maxDemoDays, sample.Start.Format(time.DateOnly))},
		}, privacyFlags()...),
		Action: runDemo,
	})
}

func runDemo(c *cli.Context) error {
	tuneGC()
	logger, err := newLoggerFormat(c.App.ErrWriter, c.String("log-format"))
	if err != nil {
		return err
	}
	days := c.Int("days")
	if days < 1 || days > maxDemoDays {
		return usagef("demo: --days %d: want 1 to %d", days, maxDemoDays)
	}
	spec, err := loadJob(c, "playback-daily")
	if err != nil {
		return err
	}
	out := c.String("out")
	if out == "" {
		return usagef("demo: --out is required: the directory the reports and the demo's ledger go to")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return outputError{fmt.Errorf("demo: %w", err)}
	}
	// The demo's own ledger, created on purpose (as `dpstats ledger init`
	// does) the first time, kept afterwards.
	led, _, err := ledger.Init(filepath.Join(out, "ledger.jsonl"))
	if errors.Is(err, ledger.ErrCorrupt) {
		return fmt.Errorf("demo: %w", err)
	}
	if err != nil {
		return outputError{fmt.Errorf("demo: create its ledger: %w", err)}
	}
	// Days the ledger already records are not generated again: their run
	// reads nothing (already released).
	entries, err := led.Entries()
	if err != nil {
		return fmt.Errorf("demo: read ledger: %w", err)
	}
	released := map[string]bool{}
	for _, e := range entries {
		if e.Job == spec.Name {
			released[e.Period] = true
		}
	}
	sampleEvents := []datasets.Input{datasets.BytesInput(sample.EventsName, sample.Events())}
	sampleConsent := []datasets.Input{datasets.BytesInput(sample.ConsentName, sample.Consent())}
	var last *jobs.Result
	for i := 0; i < days; i++ {
		day := sample.Start.AddDate(0, 0, i)
		period := day.Format(time.DateOnly)
		events, consent := sampleEvents, sampleConsent
		if !day.Before(sample.End) && !released[period] {
			if events, consent, err = demoDay(day, i); err != nil {
				return fmt.Errorf("demo: generate %s: %w", period, err)
			}
		}
		res, err := jobs.Run(c.Context, jobs.Config{
			Spec: spec, Events: events, Consent: consent, Period: period,
			OutDir: out, Ledger: led, ToolVersion: version, Logger: logger,
		})
		if err != nil {
			return err
		}
		printResult(c.App.Writer, res)
		last = res
		// Hand the day's generated exports and the run's state back to
		// the system before the next day: the demo's peak memory stays
		// near one day's instead of creeping up over 14.
		debug.FreeOSMemory()
	}
	// The runs rebuilt the index after each publish; rebuild it once more
	// so that it exists even if every day had been released before.
	index, err := jobs.RegenerateIndex(out, spec.Name)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "\nOpen the newest report: %s\nOpen the job's history across days: %s\nSee the budget: dpstats budget --ledger %s\n",
		filepath.Join(last.Dir, "index.html"), index.HTML, led.Path())
	return nil
}

// demoDay generates day number i of the demo in memory (Arrow IPC): the
// sample's size and population shape, its own seed, and the weekly pattern.
func demoDay(day time.Time, i int) (events, consent []datasets.Input, err error) {
	opt := datasets.GenOptions{
		Rows: sample.Rows, Users: sample.Users, Days: 1, Start: day,
		Seed: sample.Seed + int64(i), NullUsers: sample.NullUsers, Format: datasets.FormatArrowFile,
	}
	if wd := day.Weekday(); wd == time.Friday || wd == time.Saturday {
		opt.Rows = sample.Rows * 6 / 5
		opt.MediaTypeWeights = movieNightWeights
	}
	var ev, co bytes.Buffer
	if err := datasets.Generate(opt, &ev, &co); err != nil {
		return nil, nil, err
	}
	name := "demo/" + day.Format(time.DateOnly)
	return []datasets.Input{datasets.BytesInput(name+"-events.arrow", ev.Bytes())},
		[]datasets.Input{datasets.BytesInput(name+"-consent.arrow", co.Bytes())}, nil
}
