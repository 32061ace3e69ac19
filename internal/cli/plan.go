package cli

import (
	"math"

	"github.com/urfave/cli/v2"

	"github.com/dpstats/dpstats/jobs"
)

func planCommand() *cli.Command {
	return withExitHelp(&cli.Command{
		Name:  "plan",
		Usage: "show the expected error of every statistic at the chosen ε, before reading any data",
		Description: "plan reads no data and spends no budget: it prints, per metric, the ε and δ it gets, its\n" +
			"contribution bounds and the expected 95% error of each released value (and of each share, at\n" +
			"--users users who each contribute --events-per-user events; by default each metric's\n" +
			"max_per_partition). Try different --epsilon values to choose one before a run.",
		Flags: append([]cli.Flag{
			jobFlag(),
			&cli.IntFlag{Name: "users", Value: 100_000, EnvVars: []string{"DPSTATS_PLAN_USERS"}, Usage: "assumed number of consenting users per period"},
			&cli.Float64Flag{Name: "events-per-user", Value: 0, EnvVars: []string{"DPSTATS_PLAN_EVENTS_PER_USER"},
				Usage: "expected events (values) one user contributes to a metric per period, after the caps; 0: each metric's max_per_partition"},
			&cli.Float64Flag{Name: "partitions-per-user", Value: 0, EnvVars: []string{"DPSTATS_PLAN_PARTITIONS_PER_USER"},
				Usage: "for users metrics: expected partitions one user counts in, after the caps; 0: 1"},
		}, privacyFlags()...),
		Action: func(c *cli.Context) error {
			if c.Int("users") < 1 {
				return usagef("plan: --users must be ≥ 1")
			}
			for _, f := range []string{"events-per-user", "partitions-per-user"} {
				if e := c.Float64(f); !(e >= 0) || math.IsInf(e, 0) {
					return usagef("plan: --%s must be a number ≥ 0 (0: the default)", f)
				}
			}
			spec, err := loadJob(c, c.String("job"))
			if err != nil {
				return err
			}
			return jobs.WritePlanFor(c.App.Writer, spec, jobs.PlanOptions{Users: c.Int("users"),
				EventsPerUser: c.Float64("events-per-user"), PartitionsPerUser: c.Float64("partitions-per-user")})
		},
	})
}

func explainCommand() *cli.Command {
	return withExitHelp(&cli.Command{
		Name:  "explain",
		Usage: "print every statistic a job collects: what, from which columns, consent, generalization, bounds, ε",
		Description: "explain is the privacy tab: the full list of what a job releases, printed from the spec\n" +
			"alone, without reading any data. --format markdown suits a public web page, json a program.",
		Flags: append([]cli.Flag{
			jobFlag(),
			&cli.StringFlag{Name: "format", Value: "text", EnvVars: []string{"DPSTATS_EXPLAIN_FORMAT"}, Usage: "text, markdown or json"},
		}, privacyFlags()...),
		Action: func(c *cli.Context) error {
			switch c.String("format") {
			case "text", "markdown", "md", "json":
			default:
				return usagef("explain: --format %q: want text, markdown or json", c.String("format"))
			}
			spec, err := loadJob(c, c.String("job"))
			if err != nil {
				return err
			}
			return jobs.Explain(c.App.Writer, spec, c.String("format"))
		},
	})
}
