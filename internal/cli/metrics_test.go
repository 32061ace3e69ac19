package cli

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var finished = time.Date(2026, 11, 2, 3, 4, 5, 0, time.UTC)

func releasedOutcome() runOutcome {
	return runOutcome{
		Job: "playback-daily", Period: "2026-11-01", Status: statusReleased, ExitCode: exitOK,
		Duration: 83*time.Second + 400*time.Millisecond, Epsilon: 0.3, Delta: 1e-7,
		WindowEpsilonSpent: 2.7, WindowEpsilonCap: 10, Finished: finished,
	}
}

func refusedOutcome() runOutcome {
	return runOutcome{
		Job: "playback-daily", Period: "2026-11-01", Status: statusBudgetRefused, ExitCode: exitBudget,
		Duration: 200 * time.Millisecond, WindowEpsilonSpent: 9.9, WindowEpsilonCap: 10, Finished: finished.Add(24 * time.Hour),
	}
}

// parseText parses the Prometheus text format and fails the test if it is
// not valid.
func parseText(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("parse metrics text: %v", err)
	}
	return mfs
}

// value returns the value of the single series of name whose labels include
// want, and whether there is one.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		match := true
		for k, v := range want {
			if labelValue(m, k) != v {
				match = false
			}
		}
		if match {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// checkValues compares the metrics in mfs with want; a NaN in want means
// "must be absent".
func checkValues(t *testing.T, mfs map[string]*dto.MetricFamily, labels map[string]string, want map[string]float64) {
	t.Helper()
	for name, w := range want {
		got, ok := value(mfs, name, labels)
		switch {
		case math.IsNaN(w) && ok:
			t.Errorf("%s = %v, want absent", name, got)
		case math.IsNaN(w):
		case !ok:
			t.Errorf("%s%v missing", name, labels)
		case got != w:
			t.Errorf("%s%v = %v, want %v", name, labels, got, w)
		}
	}
}

var absent = math.NaN()

func TestExportMetricsNoopWithoutDestinations(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := exportMetrics(context.Background(), metricsOptions{}, releasedOutcome()); err != nil {
		t.Fatalf("exportMetrics with no destination = %v, want nil", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(entries), 0; got != want {
		t.Errorf("files written = %d, want %d", got, want)
	}
}

// pushRequest is what the fake Pushgateway received.
type pushRequest struct {
	Method, Path, ContentType, Auth string
	Body                            string
}

// fakePushgateway records requests and answers with status.
func fakePushgateway(t *testing.T, status int) (*httptest.Server, func() []pushRequest) {
	t.Helper()
	var (
		mu   sync.Mutex
		reqs []pushRequest
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, pushRequest{
			Method: r.Method, Path: r.URL.EscapedPath(), ContentType: r.Header.Get("Content-Type"),
			Auth: r.Header.Get("Authorization"), Body: string(body),
		})
		mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server at %s, want loopback 127.0.0.1", srv.URL)
	}
	return srv, func() []pushRequest {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(reqs)
	}
}

func TestExportMetricsPush(t *testing.T) {
	tests := []struct {
		name     string
		outcome  runOutcome
		wantPath string
		want     map[string]float64
		status   string
	}{
		{
			name:     "released",
			outcome:  releasedOutcome(),
			wantPath: "/metrics/job/dpstats/dpstats_job/playback-daily",
			status:   statusReleased,
			want: map[string]float64{
				metricLastRunTimestamp:     float64(finished.Truncate(time.Minute).Unix()),
				metricLastRunDuration:      60,
				metricLastRunExitCode:      0,
				metricLastRunSuccess:       1,
				metricLastSuccessTimestamp: float64(finished.Truncate(time.Minute).Unix()),
				metricLastReleaseTimestamp: float64(finished.Truncate(time.Minute).Unix()),
				metricLastReleaseEpsilon:   0.3,
				metricLastReleaseDelta:     1e-7,
				metricWindowEpsilonSpent:   2.7,
				metricWindowEpsilonCap:     10,
			},
		},
		{
			// A failed run must not send the sticky metrics: the POST then
			// keeps the last success and release on the Pushgateway.
			name:     "budget refused",
			outcome:  refusedOutcome(),
			wantPath: "/metrics/job/dpstats/dpstats_job/playback-daily",
			status:   statusBudgetRefused,
			want: map[string]float64{
				metricLastRunExitCode:      77,
				metricLastRunSuccess:       0,
				metricLastRunDuration:      0,
				metricLastSuccessTimestamp: absent,
				metricLastReleaseTimestamp: absent,
				metricLastReleaseEpsilon:   absent,
				metricLastReleaseDelta:     absent,
				metricWindowEpsilonSpent:   9.9,
				metricWindowEpsilonCap:     10,
			},
		},
		{
			// Already released: a success that spent nothing.
			name: "already released, status derived from the exit code",
			outcome: runOutcome{Job: "playback-daily", ExitCode: exitOK, Finished: finished,
				WindowEpsilonSpent: 3, WindowEpsilonCap: 10},
			wantPath: "/metrics/job/dpstats/dpstats_job/playback-daily",
			status:   statusAlreadyReleased,
			want: map[string]float64{
				metricLastRunSuccess:       1,
				metricLastSuccessTimestamp: float64(finished.Truncate(time.Minute).Unix()),
				metricLastReleaseEpsilon:   absent,
			},
		},
		{
			// The spec did not load: no ledger was read, so the budget
			// gauges keep their last known values.
			name:     "usage error with a job file path",
			outcome:  runOutcome{Job: "/etc/dpstats/job.yaml", Status: statusUsageError, ExitCode: exitUsage, Finished: finished},
			wantPath: "/metrics/job/dpstats/dpstats_job@base64/L2V0Yy9kcHN0YXRzL2pvYi55YW1s",
			status:   statusUsageError,
			want: map[string]float64{
				metricLastRunExitCode:    64,
				metricLastRunSuccess:     0,
				metricWindowEpsilonSpent: absent,
				metricWindowEpsilonCap:   absent,
			},
		},
		{
			name:     "torn ledger record: spent is +Inf",
			outcome:  runOutcome{Job: "playback-daily", Status: statusBudgetRefused, ExitCode: exitBudget, Finished: finished, WindowEpsilonSpent: math.Inf(1), WindowEpsilonCap: 10},
			wantPath: "/metrics/job/dpstats/dpstats_job/playback-daily",
			status:   statusBudgetRefused,
			want:     map[string]float64{metricWindowEpsilonSpent: math.Inf(1)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, requests := fakePushgateway(t, http.StatusOK)
			if err := exportMetrics(context.Background(), metricsOptions{PushURL: srv.URL}, tt.outcome); err != nil {
				t.Fatalf("exportMetrics = %v", err)
			}
			reqs := requests()
			if got, want := len(reqs), 1; got != want {
				t.Fatalf("requests = %d, want %d", got, want)
			}
			r := reqs[0]
			// POST, not PUT: replace only the metrics sent, keep the sticky
			// ones a failed run does not send.
			if got, want := r.Method, http.MethodPost; got != want {
				t.Errorf("method = %s, want %s", got, want)
			}
			if got, want := r.Path, tt.wantPath; got != want {
				t.Errorf("path = %s, want %s", got, want)
			}
			if got, want := r.ContentType, "text/plain"; !strings.HasPrefix(got, want) {
				t.Errorf("Content-Type = %q, want %s…", got, want)
			}
			if r.Auth != "" {
				t.Errorf("Authorization = %q, want none", r.Auth)
			}
			// The grouping key carries the job: the Pushgateway refuses
			// pushed metrics that have the grouping labels themselves.
			if strings.Contains(r.Body, jobLabel) || strings.Contains(r.Body, `job="`) {
				t.Errorf("body has job labels:\n%s", r.Body)
			}
			mfs := parseText(t, strings.NewReader(r.Body))
			checkValues(t, mfs, nil, tt.want)
			for _, s := range runStatuses {
				got, ok := value(mfs, metricLastRunStatus, map[string]string{"status": s})
				if want := boolFloat(s == tt.status); !ok || got != want {
					t.Errorf("%s{status=%q} = %v (present %v), want %v", metricLastRunStatus, s, got, ok, want)
				}
			}
			if got, ok := value(mfs, metricBuildInfo, map[string]string{"version": version}); !ok || got != 1 {
				t.Errorf("%s{version=%q} = %v (present %v), want 1", metricBuildInfo, version, got, ok)
			}
		})
	}
}

func TestExportMetricsPushErrors(t *testing.T) {
	t.Run("server error is returned", func(t *testing.T) {
		srv, _ := fakePushgateway(t, http.StatusInternalServerError)
		err := exportMetrics(context.Background(), metricsOptions{PushURL: srv.URL}, releasedOutcome())
		if err == nil || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "push metrics") {
			t.Errorf("exportMetrics = %v, want an error naming the push and status 500", err)
		}
	})
	t.Run("connection refused is returned", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		if err := exportMetrics(context.Background(), metricsOptions{PushURL: url}, releasedOutcome()); err == nil {
			t.Error("exportMetrics to a closed port = nil, want an error")
		}
	})
	t.Run("hanging gateway times out", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := exportMetrics(ctx, metricsOptions{PushURL: srv.URL}, releasedOutcome())
		if err == nil {
			t.Fatal("exportMetrics to a hanging gateway = nil, want an error")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("exportMetrics took %v to give up", d)
		}
	})
	t.Run("credentials become basic auth and stay out of errors", func(t *testing.T) {
		srv, requests := fakePushgateway(t, http.StatusBadGateway)
		u := strings.Replace(srv.URL, "http://", "http://ops:s3cret@", 1)
		err := exportMetrics(context.Background(), metricsOptions{PushURL: u}, releasedOutcome())
		if err == nil {
			t.Fatal("exportMetrics = nil, want the 502 as an error")
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error leaks the password: %v", err)
		}
		reqs := requests()
		if len(reqs) != 1 {
			t.Fatalf("requests = %d, want 1", len(reqs))
		}
		req := http.Request{Header: http.Header{"Authorization": {reqs[0].Auth}}}
		user, pass, ok := req.BasicAuth()
		if !ok || user != "ops" || pass != "s3cret" {
			t.Errorf("basic auth = %q, %q, %v; want ops, s3cret", user, pass, ok)
		}
	})
}

func TestExportMetricsTextfile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dpstats-playback-daily.prom")
	if err := exportMetrics(context.Background(), metricsOptions{Textfile: path}, releasedOutcome()); err != nil {
		t.Fatalf("exportMetrics = %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// The node exporter usually runs as another user: it must be able to
	// read the file.
	if got, want := fi.Mode().Perm(), os.FileMode(0o644); got != want {
		t.Errorf("mode = %v, want %v", got, want)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mfs := parseText(t, f)
	job := map[string]string{jobLabel: "playback-daily"}
	checkValues(t, mfs, job, map[string]float64{
		metricLastRunTimestamp:     float64(finished.Truncate(time.Minute).Unix()),
		metricLastRunDuration:      60,
		metricLastRunExitCode:      0,
		metricLastRunSuccess:       1,
		metricLastSuccessTimestamp: float64(finished.Truncate(time.Minute).Unix()),
		metricLastReleaseEpsilon:   0.3,
		metricLastReleaseDelta:     1e-7,
		metricWindowEpsilonSpent:   2.7,
		metricWindowEpsilonCap:     10,
	})
	for name, mf := range mfs {
		if got, want := mf.GetType(), dto.MetricType_GAUGE; got != want {
			t.Errorf("%s is a %v, want %v", name, got, want)
		}
		for _, m := range mf.GetMetric() {
			if got, want := labelValue(m, jobLabel), "playback-daily"; got != want {
				t.Errorf("%s{%s=%q}, want %q on every series", name, jobLabel, got, want)
			}
		}
	}
	// The write is atomic: a temporary file renamed into place, none left.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(entries), 1; got != want {
		t.Errorf("files in the textfile directory = %d, want %d", got, want)
	}
}

// A failed run must not erase when the job last succeeded and released: that
// is what "no success for 26 h" alerts on.
func TestExportMetricsTextfileKeepsLastSuccess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dpstats.prom")
	opt := metricsOptions{Textfile: path}
	if err := exportMetrics(context.Background(), opt, releasedOutcome()); err != nil {
		t.Fatal(err)
	}
	refused := refusedOutcome()
	refused.WindowEpsilonSpent, refused.WindowEpsilonCap = 0, 0 // the ledger was not read
	if err := exportMetrics(context.Background(), opt, refused); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mfs := parseText(t, f)
	checkValues(t, mfs, map[string]string{jobLabel: "playback-daily"}, map[string]float64{
		metricLastRunTimestamp:     float64(refused.Finished.Truncate(time.Minute).Unix()),
		metricLastRunExitCode:      77,
		metricLastRunSuccess:       0,
		metricLastSuccessTimestamp: float64(finished.Truncate(time.Minute).Unix()),
		metricLastReleaseTimestamp: float64(finished.Truncate(time.Minute).Unix()),
		metricLastReleaseEpsilon:   0.3,
		metricWindowEpsilonSpent:   2.7,
		metricWindowEpsilonCap:     10,
	})
	if got, _ := value(mfs, metricLastRunStatus, map[string]string{"status": statusBudgetRefused}); got != 1 {
		t.Errorf("status budget_refused = %v, want 1", got)
	}
	if got, _ := value(mfs, metricLastRunStatus, map[string]string{"status": statusReleased}); got != 0 {
		t.Errorf("status released = %v, want 0", got)
	}

	// Another job's old values are not carried over into this job's file.
	other := refusedOutcome()
	other.Job = "other-job"
	if err := exportMetrics(context.Background(), opt, other); err != nil {
		t.Fatal(err)
	}
	f2, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	mfs = parseText(t, f2)
	if _, ok := mfs[metricLastSuccessTimestamp]; ok {
		t.Errorf("%s carried over from another job", metricLastSuccessTimestamp)
	}
}

func TestExportMetricsTextfileErrors(t *testing.T) {
	t.Run("missing directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "no-such-dir", "dpstats.prom")
		err := exportMetrics(context.Background(), metricsOptions{Textfile: path}, releasedOutcome())
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("exportMetrics = %v, want an error naming %s", err, path)
		}
	})
	t.Run("garbage old file is replaced", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "dpstats.prom")
		if err := os.WriteFile(path, []byte("not { metrics\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := exportMetrics(context.Background(), metricsOptions{Textfile: path}, refusedOutcome()); err != nil {
			t.Fatalf("exportMetrics = %v", err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		checkValues(t, parseText(t, f), nil, map[string]float64{metricLastRunExitCode: 77})
	})
	t.Run("push fails, textfile still written", func(t *testing.T) {
		srv, _ := fakePushgateway(t, http.StatusServiceUnavailable)
		path := filepath.Join(t.TempDir(), "dpstats.prom")
		err := exportMetrics(context.Background(), metricsOptions{PushURL: srv.URL, Textfile: path}, releasedOutcome())
		if err == nil {
			t.Error("exportMetrics = nil, want the push error")
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("textfile not written after a failed push: %v", err)
		}
	})
}

// TestMetricsAreDPSafe guards the promise that monitoring never sees
// anything computed from the data: no metric name, label or help text may
// speak of rows, events, users, records or partitions.
func TestMetricsAreDPSafe(t *testing.T) {
	forbidden := []string{"row", "event", "user", "record", "partition", "count", "consent", "bytes", "memory"}
	outcomes := []runOutcome{
		releasedOutcome(), refusedOutcome(),
		{Job: "playback-daily", Status: "unexpected", ExitCode: exitInternal},
	}
	for _, o := range outcomes {
		for _, labels := range []map[string]string{nil, {jobLabel: o.Job}} {
			reg, err := outcomeRegistry(o, labels)
			if err != nil {
				t.Fatal(err)
			}
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range mfs {
				if !strings.HasPrefix(mf.GetName(), "dpstats_") {
					t.Errorf("metric %s: want only dpstats_ metrics (no Go or process collectors)", mf.GetName())
				}
				texts := []string{mf.GetName(), mf.GetHelp()}
				for _, m := range mf.GetMetric() {
					for _, l := range m.GetLabel() {
						texts = append(texts, l.GetName())
						if l.GetName() == "status" {
							texts = append(texts, l.GetValue())
						}
					}
				}
				for _, s := range texts {
					for _, f := range forbidden {
						if strings.Contains(strings.ToLower(s), f) {
							t.Errorf("metric %s: %q mentions %q", mf.GetName(), s, f)
						}
					}
				}
			}
		}
	}
}

// TestMetricsRunOutcomeFieldsAreDPSafe fails when a field is added to runOutcome:
// whoever adds one must check it is not computed from the data (a row,
// user or event count is not DP) and then add it here.
func TestMetricsRunOutcomeFieldsAreDPSafe(t *testing.T) {
	want := []string{
		"Job", "Period", "Status", "ExitCode", "Duration", "Epsilon", "Delta",
		"WindowEpsilonSpent", "WindowEpsilonCap",
		"Rho", "WindowRhoSpent", // zCDP: the run's ρ (a parameter) and the ledger's window total: no data
		"Finished",
	}
	var got []string
	for _, f := range reflect.VisibleFields(reflect.TypeFor[runOutcome]()) {
		got = append(got, f.Name)
	}
	if !slices.Equal(got, want) {
		t.Errorf("runOutcome fields = %v, want %v", got, want)
	}
}

func TestMetricsStatusOfOutcome(t *testing.T) {
	tests := []struct {
		o    runOutcome
		want string
	}{
		{runOutcome{ExitCode: exitOK, Epsilon: 0.3}, statusReleased},
		{runOutcome{ExitCode: exitOK}, statusAlreadyReleased},
		{runOutcome{ExitCode: exitUsage}, statusUsageError},
		{runOutcome{ExitCode: exitDataErr}, statusInputError},
		{runOutcome{ExitCode: exitNoInput}, statusInputError},
		{runOutcome{ExitCode: exitInternal}, statusInternalError},
		{runOutcome{ExitCode: exitCantCreate}, statusOutputError},
		{runOutcome{ExitCode: exitLocked}, statusLocked},
		{runOutcome{ExitCode: exitBudget}, statusBudgetRefused},
		{runOutcome{ExitCode: exitInterrupted}, statusInterrupted},
		{runOutcome{ExitCode: exitWithheld, Epsilon: 0.01875}, statusWithheld},
		{runOutcome{ExitCode: exitWithheld}, statusWithheld},
		{runOutcome{ExitCode: 1}, statusInternalError},
	}
	for _, tt := range tests {
		if got, want := statusOfOutcome(tt.o), tt.want; got != want {
			t.Errorf("statusOfOutcome(exit %d, ε %v) = %q, want %q", tt.o.ExitCode, tt.o.Epsilon, got, want)
		}
	}
}
