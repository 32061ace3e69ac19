// Command dpstats-beam is dpstats with the Privacy on Beam engine built in:
// `dpstats-beam run --engine beam --beam-runner direct|prism|universal|dataflow`
// runs a job's aggregation as an Apache Beam pipeline, while this process
// stays the driver of the release protocol (ledger, budget, publishing).
//
// It lives in its own Go module (github.com/dpstats/dpstats/beam) so that the
// core build never compiles the Beam SDK.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/dpstats/dpstats/beam/engine"
	"github.com/dpstats/dpstats/internal/cli"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// A Beam worker (portable runners, Dataflow) starts this same binary
	// with the SDK harness flags: engine.Main runs it as a worker then.
	engine.WorkerMain()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, version, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
