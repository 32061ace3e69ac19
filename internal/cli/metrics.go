package cli

// Run metrics for the scheduler's monitoring: on exit, `dpstats run` can push
// a few gauges to a Prometheus Pushgateway (--metrics-push) and/or write them
// to a node-exporter textfile (--metrics-textfile). A batch job lives too
// short to be scraped, so these are the two ways Prometheus documents for it.
//
// Only DP-safe values leave the process: what happened (status, exit code),
// when, how long it took, and the privacy budget — ε and δ are public
// parameters of the release, and the ledger's window spend is the sum of such
// parameters. Nothing computed from the data is exported: no row, event,
// user or partition counts, no per-metric values, not even the process's
// memory or CPU figures (they grow with the input, so the Go and process
// collectors of client_golang are deliberately not registered). The one
// data-dependent figure is the run's duration: it grows with the volume of
// the export, and one heavy user can add seconds to it. It is published in
// whole minutes (coarseDuration), and so are the timestamps (coarseTime),
// which would otherwise give the duration away as "finished minus the
// schedule's start". docs/privacy-channels.md explains what remains.
//
// The official client library (github.com/prometheus/client_golang) does
// the encoding, the Pushgateway protocol (grouping key in the URL path,
// base64 for awkward label values) and the atomic textfile write, so none of
// that is reimplemented here.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// runOutcome is what `dpstats run` reports to monitoring when it exits.
// Every field is DP-safe by construction: do not add one that is computed
// from the data (TestMetricsRunOutcomeFieldsAreDPSafe lists the allowed fields so
// that such an addition has to be argued for).
type runOutcome struct {
	// Job is the job's name (or the --job value if the spec did not load).
	Job string
	// Period is the released period, YYYY-MM-DD; not exported as a label
	// (it would create a new series every day), kept for the caller's logs.
	Period string
	// Status is one of the status* constants below; empty means "derive it
	// from ExitCode".
	Status   string
	ExitCode int
	Duration time.Duration
	// Epsilon and Delta were spent by this run: 0 unless Status is
	// "released" or "withheld" (the quality gate's share).
	Epsilon, Delta float64
	// WindowEpsilonSpent and WindowEpsilonCap describe the ledger's rolling
	// window after the run; both 0 if unknown (the ledger was not read).
	// Spent may be +Inf (a torn ledger record of unknown size).
	WindowEpsilonSpent, WindowEpsilonCap float64
	// Rho and WindowRhoSpent are set under zero-concentrated accounting:
	// the ρ this run spent (Epsilon and Delta are then what the run
	// promises on its own) and the window's total ρ (WindowEpsilonSpent is
	// then the window's ε guarantee at the cap's δ).
	Rho, WindowRhoSpent float64
	// Finished is when the run ended.
	Finished time.Time
}

// metricsOptions says where exportMetrics sends the metrics; both empty
// means nowhere.
type metricsOptions struct {
	// PushURL is the Pushgateway's base URL (http://host:9091, without
	// /metrics/...). Credentials in it (http://user:pass@host) are sent as
	// basic auth and kept out of error messages.
	PushURL string
	// Textfile is the node-exporter textfile to (re)write atomically, e.g.
	// /var/lib/node_exporter/textfile/dpstats-playback-daily.prom: one file
	// per job.
	Textfile string
}

// Run statuses, the values of the status label of dpstats_last_run_status.
const (
	statusReleased        = "released"
	statusAlreadyReleased = "already_released"
	statusBudgetRefused   = "budget_refused"
	statusLocked          = "locked"
	statusInputError      = "input_error"
	statusUsageError      = "usage_error"
	statusOutputError     = "output_error"
	statusInternalError   = "internal_error"
	statusInterrupted     = "interrupted"
	// The ledger recorded the period earlier; its staged report was
	// published now (exit 0), or none survives (exit 74).
	statusPublishedStaged = "published_staged"
	statusReportMissing   = "report_missing"
	statusWithheld        = "withheld" // the quality gate withheld the period (exit 69)
)

// runStatuses are all statuses, in a stable order. Every one is exported
// (0 or 1) so that an alert on `dpstats_last_run_status{status="locked"} == 1`
// sees a value whatever happened.
var runStatuses = []string{
	statusReleased, statusAlreadyReleased, statusBudgetRefused, statusLocked,
	statusInputError, statusUsageError, statusOutputError, statusInternalError,
	statusInterrupted, statusPublishedStaged, statusReportMissing, statusWithheld,
}

// Metric names. The "sticky" ones are only set by some runs (a success, a
// release, a run that read the ledger); other runs leave their previous
// value in place so that "time since the last success" can be alerted on.
const (
	metricLastRunTimestamp     = "dpstats_last_run_timestamp_seconds"
	metricLastRunDuration      = "dpstats_last_run_duration_seconds"
	metricLastRunExitCode      = "dpstats_last_run_exit_code"
	metricLastRunSuccess       = "dpstats_last_run_success"
	metricLastRunStatus        = "dpstats_last_run_status"
	metricBuildInfo            = "dpstats_build_info"
	metricLastSuccessTimestamp = "dpstats_last_success_timestamp_seconds" // sticky
	metricLastReleaseTimestamp = "dpstats_last_release_timestamp_seconds" // sticky
	metricLastReleaseEpsilon   = "dpstats_last_release_epsilon"           // sticky
	metricLastReleaseDelta     = "dpstats_last_release_delta"             // sticky
	metricWindowEpsilonSpent   = "dpstats_budget_window_epsilon_spent"    // sticky
	metricWindowEpsilonCap     = "dpstats_budget_window_epsilon_cap"      // sticky
	metricLastReleaseRho       = "dpstats_last_release_rho"               // sticky; zCDP only
	metricWindowRhoSpent       = "dpstats_budget_window_rho_spent"        // sticky; zCDP only
)

// stickyMetrics are carried over from the previous textfile when this run
// does not set them. (On the Pushgateway the same happens by itself: a POST
// only replaces the metric names it sends.)
var stickyMetrics = map[string]bool{
	metricLastSuccessTimestamp: true,
	metricLastReleaseTimestamp: true,
	metricLastReleaseEpsilon:   true,
	metricLastReleaseDelta:     true,
	metricWindowEpsilonSpent:   true,
	metricWindowEpsilonCap:     true,
	metricLastReleaseRho:       true,
	metricWindowRhoSpent:       true,
}

// jobLabel names the job in the textfile. On the Pushgateway it is part of
// the grouping key instead (the Pushgateway adds it to every metric, and
// refuses metrics that carry it themselves); "job" itself is reserved for
// job="dpstats".
const jobLabel = "dpstats_job"

// pushTimeout bounds the push: the caller passes a context without a
// deadline (the run's own may be cancelled already), and a Pushgateway that
// hangs must not keep a finished batch job alive.
const pushTimeout = 15 * time.Second

// exportMetrics pushes o to opt.PushURL and/or writes it to opt.Textfile. It
// is a no-op when both are empty. Errors are returned (joined when both
// fail), never fatal: the caller logs them as a warning and keeps the run's
// exit code.
func exportMetrics(ctx context.Context, opt metricsOptions, o runOutcome) error {
	if opt.PushURL == "" && opt.Textfile == "" {
		return nil
	}
	if o.Status == "" {
		o.Status = statusOfOutcome(o)
	}
	var errs []error
	if opt.PushURL != "" {
		if err := pushMetrics(ctx, opt.PushURL, o); err != nil {
			errs = append(errs, err)
		}
	}
	if opt.Textfile != "" {
		if err := writeMetricsTextfile(opt.Textfile, o); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// pushMetrics sends o to the Pushgateway at rawURL under the grouping key
// job="dpstats", dpstats_job=o.Job, with POST: it replaces the metric names
// this run sends and keeps the others (the sticky ones a failed run does
// not send), which is what makes "time since the last success" work.
func pushMetrics(ctx context.Context, rawURL string, o runOutcome) error {
	base, user, pass, hasAuth := splitUserinfo(rawURL)
	reg, err := outcomeRegistry(o, nil)
	if err != nil {
		return fmt.Errorf("push metrics to %s: %w", base, err)
	}
	p := push.New(base, "dpstats").
		Grouping(jobLabel, o.Job).
		Gatherer(reg).
		// Text rather than the default protobuf: a person reading the
		// Pushgateway's logs or a capture can see what was sent.
		Format(expfmt.NewFormat(expfmt.TypeTextPlain))
	if hasAuth {
		p = p.BasicAuth(user, pass)
	}
	ctx, cancel := context.WithTimeout(ctx, pushTimeout)
	defer cancel()
	if err := p.AddContext(ctx); err != nil {
		return fmt.Errorf("push metrics to %s: %w", base, err)
	}
	return nil
}

// splitUserinfo removes user:password from rawURL so that it never appears
// in an error message (client_golang quotes the URL in its errors), and
// returns them for basic auth.
func splitUserinfo(rawURL string) (base, user, pass string, ok bool) {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		// No credentials, or not a URL url.Parse understands (e.g.
		// host:port, which push.New accepts): pass it on as it is.
		return rawURL, "", "", false
	}
	user = u.User.Username()
	pass, _ = u.User.Password()
	u.User = nil
	return u.String(), user, pass, true
}

// writeMetricsTextfile rewrites path atomically (temporary file in the same
// directory, then rename, by prometheus.WriteToTextfile) so that the node
// exporter never reads half a file. The directory must exist. Sticky metrics
// this run does not set are carried over from the file being replaced.
func writeMetricsTextfile(path string, o runOutcome) error {
	reg, err := outcomeRegistry(o, prometheus.Labels{jobLabel: o.Job})
	if err != nil {
		return fmt.Errorf("metrics textfile %s: %w", path, err)
	}
	current, err := reg.Gather()
	if err != nil {
		return fmt.Errorf("metrics textfile %s: %w", path, err)
	}
	have := map[string]bool{}
	for _, mf := range current {
		have[mf.GetName()] = true
	}
	var keep []*dto.MetricFamily
	for _, mf := range previousSticky(path, o.Job) {
		if !have[mf.GetName()] {
			keep = append(keep, mf)
		}
	}
	g := prometheus.Gatherers{reg, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return keep, nil })}
	if err := prometheus.WriteToTextfile(path, g); err != nil {
		return fmt.Errorf("metrics textfile %s: %w", path, err)
	}
	return nil
}

// previousSticky reads the sticky metrics of job from the textfile at path.
// A missing or unreadable file yields none: the file is monitoring data that
// this run rewrites anyway, and losing an old "last success" can only make an
// alert fire early, never hide a failure.
func previousSticky(path, job string) []*dto.MetricFamily {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(f)
	if err != nil {
		return nil
	}
	var out []*dto.MetricFamily
	for name, mf := range families {
		if !stickyMetrics[name] || mf.GetType() != dto.MetricType_GAUGE {
			continue
		}
		var ms []*dto.Metric
		for _, m := range mf.GetMetric() {
			if labelValue(m, jobLabel) == job && len(m.GetLabel()) == 1 {
				ms = append(ms, m)
			}
		}
		if len(ms) == 1 {
			mf.Metric = ms
			out = append(out, mf)
		}
	}
	return out
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// outcomeRegistry builds a fresh registry (never the global one: nothing
// else in the process may leak into the export) holding o's gauges, each
// with constLabels.
func outcomeRegistry(o runOutcome, constLabels prometheus.Labels) (*prometheus.Registry, error) {
	reg := prometheus.NewPedanticRegistry()
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: constLabels})
		g.Set(v)
		reg.MustRegister(g)
	}
	success := o.ExitCode == exitOK

	gauge(metricLastRunTimestamp, "When the last dpstats run finished (Unix time, rounded down to the minute).", unixSeconds(o.Finished))
	gauge(metricLastRunDuration, "How long the last dpstats run took, rounded down to whole minutes (in seconds).", coarseDuration(o.Duration).Seconds())
	gauge(metricLastRunExitCode, "Exit code of the last dpstats run (0 ok, 64 usage, 65 data, 66 no input, 69 withheld by the quality gate, 70 internal, 73 cannot write, 74 charged period without its report, 75 ledger locked, 77 budget refused, 130 interrupted).", float64(o.ExitCode))
	gauge(metricLastRunSuccess, "1 if the last dpstats run succeeded (exit 0: released, or already released), else 0.", boolFloat(success))

	status := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: metricLastRunStatus, Help: "1 for the outcome of the last dpstats run, 0 for the others.", ConstLabels: constLabels,
	}, []string{"status"})
	known := false
	for _, s := range runStatuses {
		status.WithLabelValues(s).Set(boolFloat(s == o.Status))
		known = known || s == o.Status
	}
	if !known {
		status.WithLabelValues(o.Status).Set(1)
	}
	reg.MustRegister(status)

	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: metricBuildInfo, Help: "Version of the dpstats binary of the last run (always 1).", ConstLabels: constLabels,
	}, []string{"version"})
	info.WithLabelValues(version).Set(1)
	reg.MustRegister(info)

	if success {
		gauge(metricLastSuccessTimestamp, "When a dpstats run last succeeded (Unix time, rounded down to the minute).", unixSeconds(o.Finished))
	}
	if o.Status == statusReleased {
		gauge(metricLastReleaseTimestamp, "When dpstats last released a report (Unix time, rounded down to the minute).", unixSeconds(o.Finished))
		gauge(metricLastReleaseEpsilon, "Privacy budget ε spent by the last release.", o.Epsilon)
		gauge(metricLastReleaseDelta, "Privacy budget δ spent by the last release.", o.Delta)
		if o.Rho > 0 {
			gauge(metricLastReleaseRho, "Privacy budget ρ spent by the last release, under zero-concentrated accounting (its ε and δ are then what it promises on its own).", o.Rho)
		}
	}
	if o.WindowEpsilonCap > 0 {
		gauge(metricWindowEpsilonSpent, "ε spent by all jobs sharing the ledger in its rolling window, as of the last run that read the ledger (+Inf: a torn ledger line of unknown spend).", o.WindowEpsilonSpent)
		gauge(metricWindowEpsilonCap, "The ledger's ε cap per rolling window, as of the last run that read the ledger.", o.WindowEpsilonCap)
		if o.WindowRhoSpent > 0 {
			gauge(metricWindowRhoSpent, "Total ρ of the ledger's rolling window when it holds zero-concentrated releases (pure ones as ε²/2); the ε spent is then what that ρ promises.", o.WindowRhoSpent)
		}
	}
	// Gather once here so that an invalid metric (say, a label value that is
	// not UTF-8) is reported as an error, not as a panic later.
	if _, err := reg.Gather(); err != nil {
		return nil, err
	}
	return reg, nil
}

// statusOfOutcome is the status of a run whose caller did not set one.
func statusOfOutcome(o runOutcome) string {
	switch o.ExitCode {
	case exitOK:
		// A release always spends ε > 0; a success that spent nothing
		// found the period released already.
		if o.Epsilon > 0 {
			return statusReleased
		}
		return statusAlreadyReleased
	case exitUsage:
		return statusUsageError
	case exitDataErr, exitNoInput:
		return statusInputError
	case exitCantCreate:
		return statusOutputError
	case exitLocked:
		return statusLocked
	case exitBudget:
		return statusBudgetRefused
	case exitWithheld:
		return statusWithheld
	case exitInterrupted:
		return statusInterrupted
	default:
		return statusInternalError
	}
}

// unixSeconds is t (now if zero) in Unix seconds, rounded down to the
// minute (coarseTime).
func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		t = time.Now()
	}
	return float64(coarseTime(t).Unix())
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
