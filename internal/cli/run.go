package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/jobs"
	"github.com/dpstats/dpstats/jobs/ledger"
)

func runCommand() *cli.Command {
	return withExitHelp(&cli.Command{
		Name:  "run",
		Usage: "release one period of a job: read consented events, add noise, publish the report",
		Description: "run follows the release protocol: it locks the ledger, refuses a period that was already\n" +
			"released (exit 0, nothing to do) or a spend that would cross the ledger's cap (exit 77, nothing\n" +
			"read), then reads and aggregates in memory, records the spend durably, and only then publishes\n" +
			"OUT/<job>/<period>/ atomically. A crash at any point leaves no report, or a whole report whose\n" +
			"spend is recorded. The quality gate withholds a period whose noisy count of contributing users\n" +
			"is below the spec's quality_gate.min_users (exit 69, nothing published, the gate's small ε\n" +
			"charged). Every flag can also be set by the environment variable shown.",
		Flags: append([]cli.Flag{
			jobFlag(),
			&cli.StringSliceFlag{Name: "input", Aliases: []string{"i"}, EnvVars: []string{"DPSTATS_INPUT"}, Usage: "event exports: Parquet or Arrow IPC files, directories or globs (repeat, or comma-separate); with --engine beam also URIs (gs://…), one per file"},
			&cli.StringSliceFlag{Name: "consent", EnvVars: []string{"DPSTATS_CONSENT"}, Usage: "consent exports: files, directories or globs; with --engine beam also URIs (gs://…), one per file"},
			&cli.StringFlag{Name: "period", Value: "yesterday", EnvVars: []string{"DPSTATS_PERIOD"}, Usage: "the UTC day to release, YYYY-MM-DD, or \"yesterday\""},
			&cli.StringFlag{Name: "out", Value: "out", EnvVars: []string{"DPSTATS_OUT"}, Usage: "report directory: reports go to OUT/<job>/<period>/"},
			&cli.StringFlag{Name: "ledger", EnvVars: []string{"DPSTATS_LEDGER"}, Usage: "the privacy budget ledger file; it must exist (create it once with `dpstats ledger init`)"},
			&cli.BoolFlag{Name: "rerun", EnvVars: []string{"DPSTATS_RERUN"}, Usage: "deliberately release an already released period again (fresh noise, charged again)"},
			&cli.DurationFlag{Name: "lock-wait", EnvVars: []string{"DPSTATS_LOCK_WAIT"}, Usage: "wait this long for another run's ledger lock (0: exit 75 at once)"},
			&cli.StringFlag{Name: "log-format", Value: "auto", EnvVars: []string{"DPSTATS_LOG_FORMAT"}, Usage: "auto (text on a terminal, JSON otherwise), text or json"},
			&cli.StringFlag{Name: "metrics-push", EnvVars: []string{"DPSTATS_METRICS_PUSH"}, Usage: "Prometheus Pushgateway URL to push run status, duration and ε spent to on exit"},
			&cli.StringFlag{Name: "metrics-textfile", EnvVars: []string{"DPSTATS_METRICS_TEXTFILE"}, Usage: "write the same metrics to this node-exporter textfile (*.prom) on exit"},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile to this file"},
			&cli.StringFlag{Name: "memprofile", Usage: "write a heap profile to this file at the end"},
		}, append(privacyFlags(), engineFlags()...)...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("run: unexpected arguments %q (inputs go in --input)", c.Args().Slice())
			}
			return runRun(c)
		},
	})
}

// runRun wires flags to jobs.Run and reports the outcome to the scheduler's
// monitoring.
func runRun(c *cli.Context) (err error) {
	started := time.Now()
	logger, err := newLoggerFormat(c.App.ErrWriter, c.String("log-format"))
	if err != nil {
		return err
	}
	outcome := runOutcome{Job: c.String("job"), Period: c.String("period")}
	defer func() {
		outcome.Duration = time.Since(started)
		outcome.Finished = time.Now()
		outcome.ExitCode = exitCode(err)
		outcome.Status = statusOf(err, outcome.Status)
		mopt := metricsOptions{PushURL: c.String("metrics-push"), Textfile: c.String("metrics-textfile")}
		if merr := exportMetrics(context.WithoutCancel(c.Context), mopt, outcome); merr != nil {
			logger.Warn("could not export run metrics", "err", merr.Error())
		}
	}()

	tuneGC()
	if p := c.String("cpuprofile"); p != "" {
		stop, err := startCPUProfile(p)
		if err != nil {
			return err
		}
		defer stop()
	}
	spec, err := loadJob(c, c.String("job"))
	if err != nil {
		return err
	}
	outcome.Job = spec.Name
	period, err := resolvePeriod(c.String("period"), time.Now())
	if err != nil {
		return err
	}
	outcome.Period = period
	if len(c.StringSlice("input")) == 0 {
		return usagef("run: --input is required (event exports: files, directories or globs)")
	}
	if len(c.StringSlice("consent")) == 0 {
		return usagef("run: --consent is required (consent exports): without consent records nobody counts")
	}
	if c.String("ledger") == "" {
		return usagef("run: --ledger is required: the file that records every release's privacy spend")
	}
	if c.String("out") == "" {
		return usagef("run: --out is required: the directory reports are published to")
	}
	for _, flag := range []string{"input", "consent"} {
		if slices.Contains(c.StringSlice(flag), "") {
			return usagef("run: --%s holds an empty path (a stray comma?): %q", flag, strings.Join(c.StringSlice(flag), ","))
		}
	}
	engine, err := newEngine(c)
	if err != nil {
		return err
	}
	if err := refuseRemote("run", c, engine == nil); err != nil {
		return err
	}
	events, dups, err := datasets.FileInputsDedup(c.StringSlice("input"))
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	logDuplicates(logger, "events", dups)
	consent, dups, err := datasets.FileInputsDedup(c.StringSlice("consent"))
	if err != nil {
		return fmt.Errorf("consent: %w", err)
	}
	logDuplicates(logger, "consent", dups)
	// Never created here: a missing ledger is a lost or misplaced one (exit
	// 73) until an operator creates it with `dpstats ledger init`.
	led, err := ledger.Open(c.String("ledger"))
	if err != nil {
		return outputError{fmt.Errorf("open ledger: %w", err)}
	}
	cfg := jobs.Config{
		Spec: spec, Events: events, Consent: consent, Period: period,
		OutDir: c.String("out"), Ledger: led, Rerun: c.Bool("rerun"), LockWait: c.Duration("lock-wait"),
		ToolVersion: version, Logger: logger, Engine: engine,
	}
	if isTerminal(c.App.ErrWriter) {
		cfg.Progress = progressPrinter(c.App.ErrWriter)
	}
	res, err := jobs.Run(c.Context, cfg)
	if cfg.Progress != nil {
		fmt.Fprint(c.App.ErrWriter, "\r\033[K") // clear the progress line
	}
	if res != nil {
		outcome.Status = string(res.Status)
		outcome.Epsilon, outcome.Delta = res.Epsilon, res.Delta
		outcome.WindowEpsilonSpent, _ = res.Window.Guarantee(res.Cap)
		outcome.WindowEpsilonCap = res.Cap.Epsilon
		if res.Rho > 0 {
			outcome.Rho = res.Rho
			outcome.Epsilon, outcome.Delta = spec.Alone(res.Rho, res.Delta)
		}
		if res.Window.ZCDP > 0 {
			outcome.WindowRhoSpent = res.Window.Rho
		}
	}
	if err != nil {
		return err
	}
	if p := c.String("memprofile"); p != "" {
		if err := writeHeapProfile(p); err != nil {
			return err
		}
	}
	printResult(c.App.Writer, res)
	return nil
}

// printResult says what happened and where the report is, in one or two
// lines a person or a script can read.
func printResult(w io.Writer, res *jobs.Result) {
	index := filepath.Join(res.Dir, "index.html")
	switch res.Status {
	case jobs.StatusAlreadyReleased:
		fmt.Fprintf(w, "%s %s was already released: nothing to do (no data read, no budget spent)\nreport: %s\n", res.Job, res.Period, index)
	case jobs.StatusPublishedStaged:
		fmt.Fprintf(w, "published %s %s: the report staged by run %s, whose spend the ledger had recorded; no data read, "+
			"no new noise, no budget spent\nreport: %s\n", res.Job, res.Period, res.RunID, index)
	case jobs.StatusReleased:
		if res.Rho > 0 || res.Window.ZCDP > 0 {
			printZCDPResult(w, res, index)
			return
		}
		fallthrough
	default:
		fmt.Fprintf(w, "released %s %s with ε = %s, δ = %s; ledger: ε = %s of %s spent in the last %d days, ε = %s all time\nreport: %s\n",
			res.Job, res.Period, num(res.Epsilon), num(res.Delta), num(res.Window.Epsilon), num(res.Cap.Epsilon),
			int(res.Cap.Window/(24*time.Hour)), num(res.Window.EpsilonAllTime), index)
	}
}

func num(f float64) string { return fmt.Sprintf("%.4g", f) }

// gcPercent is the garbage collector's target for a run unless GOGC says
// otherwise. A run's live heap is mostly per-user state and the batches in
// flight, while arrow-go leaves each decoded batch's buffers as garbage at
// a high rate; with Go's default of 100 the heap peaks near twice the live
// set, and that peak, not the live set, grows with the number of events
// until the collector reaches its steady state. 60 keeps the peak near 1.6×
// live: make bench measured 10M events of 200k users at 611 MiB instead of
// 780, at a cost of a few percent of CPU.
const gcPercent = 60

// tuneGC applies gcPercent when the operator did not set GOGC.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// resolvePeriod accepts YYYY-MM-DD or "yesterday" (UTC).
func resolvePeriod(p string, now time.Time) (string, error) {
	if p == "yesterday" {
		return now.UTC().AddDate(0, 0, -1).Format(time.DateOnly), nil
	}
	if _, err := time.Parse(time.DateOnly, p); err != nil {
		return "", usagef("--period %q: want a UTC day like 2026-11-01, or \"yesterday\"", p)
	}
	return p, nil
}

// newLoggerFormat returns the logger for --log-format.
func newLoggerFormat(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "auto", "":
		return newLogger(w), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, logHandlerOptions)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, logHandlerOptions)), nil
	default:
		return nil, usagef("--log-format %q: want auto, text or json", format)
	}
}

// progressPrinter draws one updating line on a terminal: files and batches
// read. Operator information only; it never goes to a log.
func progressPrinter(w io.Writer) func(jobs.Progress) {
	last := time.Time{}
	return func(p jobs.Progress) {
		if now := time.Now(); now.Sub(last) >= 200*time.Millisecond {
			last = now
			fmt.Fprintf(w, "\rreading events: file %d of %d, %d batches ", p.FilesDone, p.Files, p.Batches)
		}
	}
}

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, outputError{fmt.Errorf("cpuprofile: %w", err)}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return outputError{fmt.Errorf("memprofile: %w", err)}
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		return outputError{fmt.Errorf("memprofile: %w", err)}
	}
	return nil
}

// printZCDPResult is printResult for a release accounted in ρ, or into a
// window that holds such releases.
func printZCDPResult(w io.Writer, res *jobs.Result, index string) {
	spent := fmt.Sprintf("ε = %s, δ = %s", num(res.Epsilon), num(res.Delta))
	if res.Rho > 0 {
		spent = fmt.Sprintf("ρ = %s, δ = %s (zero-concentrated)", num(res.Rho), num(res.Delta))
	}
	eps, delta := res.Window.Guarantee(res.Cap)
	allEps, allDelta := res.Window.AllTimeGuarantee(res.Cap)
	fmt.Fprintf(w, "released %s %s with %s; ledger: ρ = %s in the last %d days, together (ε = %s, δ = %s) of a cap of ε = %s; all time ρ = %s (ε = %s at δ = %s)\nreport: %s\n",
		res.Job, res.Period, spent, num(res.Window.Rho), int(res.Cap.Window/(24*time.Hour)), num(eps), num(delta), num(res.Cap.Epsilon),
		num(res.Window.RhoAllTime), num(allEps), num(allDelta), index)
}
