package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/dpstats/dpstats/datasets"
)

func genCommand() *cli.Command {
	return withExitHelp(&cli.Command{
		Name:  "gen",
		Usage: "write a synthetic events export and its consent export (for demos and benchmarks)",
		Description: "gen writes OUT/events.parquet (or events.arrow with --format arrow) and OUT/consent.parquet.\n" +
			"The data is synthetic but shaped like a media server's playback telemetry: Zipf-like device\n" +
			"types, codecs correlated with device and resolution, heavy-tailed activity per user, evening\n" +
			"peaks, and about 23% of users without a playback_stats grant. The same --seed gives the same files.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "output directory", Value: "gen", EnvVars: []string{"DPSTATS_GEN_OUT"}},
			&cli.IntFlag{Name: "rows", Usage: "number of events", Value: 1_000_000, EnvVars: []string{"DPSTATS_GEN_ROWS"}},
			&cli.IntFlag{Name: "users", Usage: "number of users", Value: 20_000, EnvVars: []string{"DPSTATS_GEN_USERS"}},
			&cli.IntFlag{Name: "days", Usage: "number of UTC days the events span", Value: 1, EnvVars: []string{"DPSTATS_GEN_DAYS"}},
			&cli.StringFlag{Name: "start", Usage: "first UTC day, YYYY-MM-DD", Value: "2026-11-01", EnvVars: []string{"DPSTATS_GEN_START"}},
			&cli.Int64Flag{Name: "seed", Usage: "random seed (same seed, same files)", Value: 1, EnvVars: []string{"DPSTATS_GEN_SEED"}},
			&cli.StringFlag{Name: "format", Usage: "events format: parquet or arrow (Arrow IPC file)", Value: "parquet", EnvVars: []string{"DPSTATS_GEN_FORMAT"}},
		},
		Action: func(c *cli.Context) error {
			start, err := time.Parse(time.DateOnly, c.String("start"))
			if err != nil {
				return usagef("gen: --start %q: want a date like 2026-11-01", c.String("start"))
			}
			opt := datasets.GenOptions{
				Rows:  c.Int("rows"),
				Users: c.Int("users"),
				Days:  c.Int("days"),
				Start: start,
				Seed:  c.Int64("seed"),
			}
			ext := "parquet"
			switch c.String("format") {
			case "parquet":
				opt.Format = datasets.FormatParquet
			case "arrow":
				opt.Format = datasets.FormatArrowFile
				ext = "arrow"
			default:
				return usagef("gen: --format %q: want parquet or arrow", c.String("format"))
			}
			if opt.Rows < 0 || opt.Users < 1 || opt.Days < 1 || opt.Days > maxGenDays {
				return usagef("gen: --rows must be ≥ 0, --users ≥ 1 and --days between 1 and %d", maxGenDays)
			}
			return runGen(c.App.Writer, c.String("out"), ext, opt)
		},
	})
}

// maxGenDays is the most days datasets.Generate spreads events over.
const maxGenDays = 3660

// runGen writes both files next to each other, each through a temporary
// name and a rename, so an interrupted run leaves no half-written export.
func runGen(w interface{ Write([]byte) (int, error) }, dir, ext string, opt datasets.GenOptions) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return outputError{fmt.Errorf("gen: %w", err)}
	}
	eventsPath := filepath.Join(dir, "events."+ext)
	consentPath := filepath.Join(dir, "consent.parquet")
	ev, err := os.CreateTemp(dir, ".events-*")
	if err != nil {
		return outputError{fmt.Errorf("gen: %w", err)}
	}
	defer os.Remove(ev.Name())
	defer ev.Close()
	co, err := os.CreateTemp(dir, ".consent-*")
	if err != nil {
		return outputError{fmt.Errorf("gen: %w", err)}
	}
	defer os.Remove(co.Name())
	defer co.Close()
	if err := datasets.Generate(opt, ev, co); err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	for _, f := range []*os.File{ev, co} {
		if err := f.Sync(); err != nil {
			return outputError{fmt.Errorf("gen: %w", err)}
		}
	}
	if err := os.Rename(ev.Name(), eventsPath); err != nil {
		return outputError{fmt.Errorf("gen: %w", err)}
	}
	if err := os.Rename(co.Name(), consentPath); err != nil {
		return outputError{fmt.Errorf("gen: %w", err)}
	}
	fmt.Fprintf(w, "wrote %s\nwrote %s\n", eventsPath, consentPath)
	return nil
}
