package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/urfave/cli/v2"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/jobs"
)

// indexCommand rebuilds a job's index by hand: after a failed regeneration
// (the runner only logs those), or for reports published by an older
// dpstats.
func indexCommand() *cli.Command {
	return withExitHelp(&cli.Command{
		Name:  "index",
		Usage: "rebuild a job's history across periods (OUT/<job>/index.html and history.csv) from its published reports",
		Description: "index reads the report.json of every published period under OUT/<job>/ and writes the job's\n" +
			"index.html (every period with its downloads, a time series per statistic with intervals, a 7-day\n" +
			"rolling average, changes marked against the noise) and history.csv, each replaced atomically.\n" +
			"It reads no data and spends no privacy budget. Every run rebuilds it after a publish; use this\n" +
			"command when that failed (the run logs a warning) or for reports of an older dpstats.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "job", Value: "playback-daily", EnvVars: []string{"DPSTATS_JOB"},
				Usage: "the job: a job spec file, a built-in job, or the job's name as in OUT/<job>"},
			&cli.StringFlag{Name: "out", Value: "out", EnvVars: []string{"DPSTATS_OUT"}, Usage: "report directory: reports are under OUT/<job>/<period>/"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("index: unexpected arguments %q", c.Args().Slice())
			}
			job, err := indexJobName(c.String("job"), c.String("out"))
			if err != nil {
				return err
			}
			res, err := jobs.RegenerateIndex(c.String("out"), job)
			if errors.Is(err, jobs.ErrNoReports) {
				return fmt.Errorf("index: %w: %w", datasets.ErrInputMissing, err)
			}
			if err != nil {
				return fmt.Errorf("index: %w", err)
			}
			fmt.Fprintf(c.App.Writer, "indexed %s: %d periods released", job, res.Released)
			if gaps := res.Periods - res.Released; gaps > 0 {
				fmt.Fprintf(c.App.Writer, ", %d without a report", gaps)
			}
			if res.Problems > 0 {
				fmt.Fprintf(c.App.Writer, ", %d unreadable (listed on the page)", res.Problems)
			}
			fmt.Fprintf(c.App.Writer, "\njob index: %s\nhistory:   %s\n", res.HTML, res.CSV)
			return nil
		},
	})
}

var jobName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// indexJobName resolves --job: a spec file or built-in job gives its name;
// a plain name with a directory under out is taken as it is, so a job can
// be indexed without its spec.
func indexJobName(job, out string) (string, error) {
	if jobName.MatchString(job) {
		if st, err := os.Stat(filepath.Join(out, job)); err == nil && st.IsDir() {
			return job, nil
		}
	}
	spec, err := loadSpec(job)
	if err != nil {
		return "", err
	}
	return spec.Name, nil
}
