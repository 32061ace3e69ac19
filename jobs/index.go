package jobs

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/dpstats/dpstats/reports"
)

// The job index: OUT/<job>/index.html and OUT/<job>/history.csv, the
// history across periods. It is rebuilt after every publish, from the
// published report.json files only (reports.PublishIndex): no data is read
// and no budget is spent. It is a view of the releases, not a release: a
// failure to rebuild it never undoes or fails a release.

// ErrNoReports means the job has no published report to index.
var ErrNoReports = reports.ErrNoReports

// regenerateIndex rebuilds the job index after a publish and returns the
// path of index.html, or "" if it failed; the failure is logged as a
// warning, because the report is published and its spend recorded whatever
// happens to the index. A later publish, or `dpstats index`, rebuilds it.
func regenerateIndex(outDir, job string, log *slog.Logger) string {
	res, err := reports.PublishIndex(outDir, job)
	if err != nil {
		log.Warn("report published, but the job index (index.html, history.csv) was not regenerated; "+
			"the next publish, or `dpstats index --out OUT --job JOB`, regenerates it", "err", err.Error())
		return ""
	}
	log.Info("job index regenerated", "dir", res.HTML)
	return res.HTML
}

// RegenerateIndex rebuilds OUT/<job>/index.html and OUT/<job>/history.csv
// from the job's published report.json files (what `dpstats index` runs).
// Errors: ErrNoReports when the job has no readable report under outDir,
// or an *OutputError when the files cannot be written.
func RegenerateIndex(outDir, job string) (*reports.IndexResult, error) {
	res, err := reports.PublishIndex(outDir, job)
	if errors.Is(err, reports.ErrNoReports) {
		return nil, err
	}
	if err != nil {
		return nil, &OutputError{fmt.Errorf("regenerate the job index: %w", err)}
	}
	return res, nil
}
