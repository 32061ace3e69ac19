package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/datasets/sample"
	"github.com/dpstats/dpstats/jobs"
	"github.com/dpstats/dpstats/jobs/ledger"
)

// demoCommand runs the shipped job on the sample embedded in the binary,
// one day after the other, with a ledger next to the reports: what `make
// run` does, and what a container image can show with no data mounted.
func demoCommand() *cli.Command {
	return withExitHelp(&cli.Command{
		Name:  "demo",
		Usage: "run the playback-daily job on the synthetic sample embedded in the binary, day by day",
		Description: fmt.Sprintf("demo releases each day of the embedded synthetic sample (%d events of %d users, %s to %s)\n"+
			"with the built-in playback-daily job, under the full release protocol, with the ledger at\n"+
			"OUT/ledger.jsonl. Running it again releases nothing new: the periods are already released.",
			sample.Rows, sample.Users, sample.Start.Format(time.DateOnly), sample.End.AddDate(0, 0, -1).Format(time.DateOnly)),
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "out", Value: "out", EnvVars: []string{"DPSTATS_OUT"}, Usage: "report directory (the demo's ledger goes there too)"},
			&cli.StringFlag{Name: "log-format", Value: "auto", EnvVars: []string{"DPSTATS_LOG_FORMAT"}, Usage: "auto, text or json"},
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
	led, err := ledger.Open(filepath.Join(out, "ledger.jsonl"))
	if err != nil {
		return outputError{fmt.Errorf("demo: open ledger: %w", err)}
	}
	events := []datasets.Input{datasets.BytesInput(sample.EventsName, sample.Events())}
	consent := []datasets.Input{datasets.BytesInput(sample.ConsentName, sample.Consent())}
	var last *jobs.Result
	for day := sample.Start; day.Before(sample.End); day = day.AddDate(0, 0, 1) {
		res, err := jobs.Run(c.Context, jobs.Config{
			Spec: spec, Events: events, Consent: consent, Period: day.Format(time.DateOnly),
			OutDir: out, Ledger: led, ToolVersion: version, Logger: logger,
		})
		if err != nil {
			return err
		}
		printResult(c.App.Writer, res)
		last = res
	}
	fmt.Fprintf(c.App.Writer, "\nOpen the newest report: %s\nSee the budget: dpstats budget --ledger %s\n",
		filepath.Join(last.Dir, "index.html"), led.Path())
	return nil
}
