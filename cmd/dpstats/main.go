// Command dpstats computes differentially private usage statistics from
// consented telemetry exports and publishes only the noisy results.
//
// main is deliberately small: it wires signals to a context, runs the CLI
// and maps the error that comes back to a documented exit code (exitcode.go).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
