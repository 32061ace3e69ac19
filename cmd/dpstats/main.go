// Command dpstats computes differentially private usage statistics from
// consented telemetry exports and publishes only the noisy results.
//
// main is deliberately small: it wires signals to a context and runs the
// command line (internal/cli), which maps the error that comes back to a
// documented exit code.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/dpstats/dpstats/internal/cli"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, version, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
