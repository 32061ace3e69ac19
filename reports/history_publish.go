package reports

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// File names of the job index, in OUT/<job>/.
const (
	IndexHTMLName  = "index.html"
	HistoryCSVName = "history.csv"
)

// IndexResult is what PublishIndex wrote.
type IndexResult struct {
	HTML, CSV string // paths of index.html and history.csv
	Periods   int    // periods on the timeline, gaps included
	Released  int    // periods with a report
	Problems  int    // period directories whose report.json could not be read
}

// indexHooks inject failures in tests.
type indexHooks struct {
	wrapWriter   func(name string, w io.Writer) io.Writer
	beforeRename func(name string) error
}

// PublishIndex regenerates the job index, OUT/<job>/index.html, and
// OUT/<job>/history.csv from the published report.json files of job under
// outDir (see LoadHistory): it reads nothing else, and spends no budget.
// Each file is written to a temporary file in OUT/<job>, fsynced and renamed
// over the old one, then the directory is fsynced: a reader sees the old
// file or the new one, whole. The two files are replaced one after the
// other (history.csv first); a crash between the renames leaves a new
// history.csv beside the previous index.html, each whole, until the next
// regeneration. Regenerations of one job are serialized by a lock (flock)
// on the directory OUT/<job>, so that an older view never replaces a newer
// one.
//
// It fails with an error wrapping ErrNoReports when the job has no readable
// report; a report.json that cannot be read is left out and listed on the
// page.
func PublishIndex(outDir, job string) (*IndexResult, error) {
	return publishIndex(outDir, job, indexHooks{})
}

func publishIndex(outDir, job string, hooks indexHooks) (*IndexResult, error) {
	if err := checkName("job", job); err != nil {
		return nil, fmt.Errorf("PublishIndex: %w", err)
	}
	jobDir := filepath.Join(outDir, job)
	if st, err := os.Stat(jobDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("PublishIndex: %s: %w for job %s", jobDir, ErrNoReports, job)
	}
	unlock, err := lockIndex(jobDir)
	if err != nil {
		return nil, fmt.Errorf("PublishIndex: lock %s: %w", jobDir, err)
	}
	defer unlock()

	h, err := LoadHistory(os.DirFS(jobDir), job)
	if err != nil {
		return nil, fmt.Errorf("PublishIndex: %s: %w", jobDir, err)
	}
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{HistoryCSVName, func(w io.Writer) error { return WriteHistoryCSV(w, h) }},
		{IndexHTMLName, func(w io.Writer) error { return WriteHistoryHTML(w, h) }},
	}
	// Render both before replacing either: a rendering error changes nothing.
	bufs := make([][]byte, len(files))
	for i, f := range files {
		var buf bytes.Buffer
		var w io.Writer = &buf
		if hooks.wrapWriter != nil {
			w = hooks.wrapWriter(f.name, w)
		}
		if err := f.write(w); err != nil {
			return nil, fmt.Errorf("PublishIndex: %s: %w", f.name, err)
		}
		bufs[i] = buf.Bytes()
	}
	for i, f := range files {
		if err := replaceFile(jobDir, f.name, bufs[i], hooks.beforeRename); err != nil {
			return nil, fmt.Errorf("PublishIndex: %w", err)
		}
	}
	if err := syncDir(jobDir); err != nil {
		return nil, fmt.Errorf("PublishIndex: %w", err)
	}
	res := &IndexResult{
		HTML: filepath.Join(jobDir, IndexHTMLName), CSV: filepath.Join(jobDir, HistoryCSVName),
		Periods: len(h.Periods), Released: h.Released(), Problems: len(h.Problems),
	}
	return res, nil
}

// replaceFile atomically replaces dir/name with data: a temporary file
// (named ".tmp-…", which RemoveStale clears after a crash), fsync, rename.
func replaceFile(dir, name string, data []byte, beforeRename func(string) error) (err error) {
	tmp, err := os.CreateTemp(dir, ".tmp-"+name+"-*")
	if err != nil {
		return fmt.Errorf("create temporary %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	if beforeRename != nil {
		if err := beforeRename(name); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("replace %s: %w", name, err)
	}
	return nil
}
