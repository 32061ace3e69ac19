package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"runtime/debug"
	"strings"

	_ "github.com/golang/glog" // registers the flags routeGlogToStderr sets
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// version is the binary's version: cmd/dpstats stamps it at build time
// (-ldflags "-X main.version=...") and passes it to Main.
var version = "dev"

// Main is the whole program minus os.Exit: the dpstats command line, for
// cmd/dpstats and for binaries that add an engine (bin/dpstats-beam). It
// returns the exit code.
func Main(ctx context.Context, v string, args []string, stdout, stderr io.Writer) int {
	if v != "" {
		version = v
	}
	return run(ctx, args, stdout, stderr)
}

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
	app := newApp(stdoutWriter{stdout}, stderr)
	// urfave/cli answers an unknown command (`dpstats frobnicate`, `dpstats
	// help frobnicate`) with "No help topic" and an exit code of its own;
	// it is a usage error.
	var unknown string
	app.CommandNotFound = func(_ *cli.Context, name string) { unknown = name }
	err := app.RunContext(ctx, args)
	if err == nil && unknown != "" {
		err = usagef("unknown command %q; the commands are %s (dpstats --help describes them)", unknown, commandNames(app))
	}
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
		Version:               versionString(),
		Writer:                stdout,
		ErrWriter:             stderr,
		CustomAppHelpTemplate: cli.AppHelpTemplate + "\n" + exitCodeHelp,
		// Library code never exits: errors come back to run, which maps them.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{plainUsage(err)}
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

// commandNames lists the app's visible commands.
func commandNames(app *cli.App) string {
	var names []string
	for _, c := range app.VisibleCommands() {
		if c.Name != "help" {
			names = append(names, c.Name)
		}
	}
	return strings.Join(names, ", ")
}

// strconvSuffix is how urfave/cli ends a message about a flag or an
// environment variable that does not parse: with strconv's own words.
var strconvSuffix = regexp.MustCompile(`: strconv\.Parse[A-Za-z]+: parsing "[^"]*": (invalid syntax|value out of range)$`)

// plainUsage rewords urfave/cli's flag errors that end in strconv's
// message ("strconv.ParseFloat: parsing "x": invalid syntax") in ours.
func plainUsage(err error) error {
	msg := err.Error()
	m := strconvSuffix.FindStringSubmatch(msg)
	if m == nil {
		return err
	}
	what := "not a valid value"
	if m[1] == "value out of range" {
		what = "out of range"
	}
	return errors.New(strings.TrimSuffix(msg, m[0]) + ": " + what)
}

// withExitHelp appends the exit status list to a command's help.
func withExitHelp(c *cli.Command) *cli.Command {
	c.CustomHelpTemplate = cli.CommandHelpTemplate + "\n" + exitCodeHelp
	if c.OnUsageError == nil {
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{plainUsage(err)} }
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
		return slog.New(slog.NewTextHandler(w, logHandlerOptions))
	}
	return slog.New(slog.NewJSONHandler(w, logHandlerOptions))
}
