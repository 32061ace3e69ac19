package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	_ "github.com/golang/glog" // registers the flags routeGlogToStderr sets
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

// run is the whole program minus os.Exit, so tests can call it in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		// A panic is a bug whatever the input: say so in one line and exit 70,
		// rather than dumping a stack trace at an operator.
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "dpstats: internal error: %v\n%s", r, debug.Stack())
			code = exitInternal
		}
	}()
	routeGlogToStderr()
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, args)
	if err != nil {
		reportError(stderr, err)
	}
	return exitCode(err)
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:  "dpstats",
		Usage: "differentially private usage statistics from consented telemetry exports",
		Description: "dpstats reads Parquet / Arrow IPC event exports, keeps only the events of users who\n" +
			"opted in to each statistic's consent category, bounds every user's contribution, adds\n" +
			"calibrated noise and publishes nothing but the noisy aggregates.",
		Version:               version,
		Writer:                stdout,
		ErrWriter:             stderr,
		HideHelpCommand:       true,
		CustomAppHelpTemplate: cli.AppHelpTemplate + "\n" + exitCodeHelp,
		// Library code never exits: errors come back to run, which maps them.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
		Commands: []*cli.Command{
			runCommand(),
			demoCommand(),
			planCommand(),
			explainCommand(),
			budgetCommand(),
			ledgerCommand(),
			inspectCommand(),
			genCommand(),
			indexCommand(),
		},
	}
}

// withExitHelp appends the exit status list to a command's help.
func withExitHelp(c *cli.Command) *cli.Command {
	c.CustomHelpTemplate = cli.CommandHelpTemplate + "\n" + exitCodeHelp
	if c.OnUsageError == nil {
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	}
	return c
}

// routeGlogToStderr stops github.com/golang/glog (used by the DP library) from
// writing log files into the temp directory — and from aborting the process
// when it cannot, as in a pod with a read-only root filesystem.
func routeGlogToStderr() {
	for name, value := range map[string]string{"logtostderr": "true", "stderrthreshold": "ERROR"} {
		if f := flag.Lookup(name); f != nil {
			_ = f.Value.Set(value)
		}
	}
}

// newLogger logs text on a terminal and JSON otherwise (cron, Kubernetes).
func newLogger(w io.Writer) *slog.Logger {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}
