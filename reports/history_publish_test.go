package reports

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// publishDays publishes the fixture reports of the given days under out.
func publishDays(t *testing.T, out string, days ...int) {
	t.Helper()
	for _, d := range days {
		if _, err := Publish(out, historyFixtureReport(d)); err != nil {
			t.Fatal(err)
		}
	}
}

func leftovers(t *testing.T, jobDir string) []string {
	t.Helper()
	entries, err := os.ReadDir(jobDir)
	if err != nil {
		t.Fatal(err)
	}
	var tmp []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			tmp = append(tmp, e.Name())
		}
	}
	return tmp
}

func TestPublishIndex(t *testing.T) {
	out := t.TempDir()
	publishDays(t, out, 0, 1, 2, 4)
	res, err := PublishIndex(out, historyJob)
	if err != nil {
		t.Fatal(err)
	}
	jobDir := filepath.Join(out, historyJob)
	if res.HTML != filepath.Join(jobDir, "index.html") || res.CSV != filepath.Join(jobDir, "history.csv") {
		t.Errorf("paths %+v", res)
	}
	if res.Periods != 5 || res.Released != 4 || res.Problems != 0 {
		t.Errorf("result %+v, want 5 periods (one gap), 4 released, no problems", res)
	}
	for _, p := range []string{res.HTML, res.CSV} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o644 {
			t.Errorf("%s has mode %v, want 0644 like the reports", p, st.Mode().Perm())
		}
	}
	if tmp := leftovers(t, jobDir); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	// What was written is what the writers give for the same history.
	h, err := LoadHistory(os.DirFS(jobDir), historyJob)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path  string
		write func(io.Writer) error
	}{{res.HTML, func(w io.Writer) error { return WriteHistoryHTML(w, h) }}, {res.CSV, func(w io.Writer) error { return WriteHistoryCSV(w, h) }}} {
		var want bytes.Buffer
		if err := f.write(&want); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(f.path)
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s differs from the writer's output", f.path)
		}
	}
	// The page links every period's report and downloads, and they exist.
	html, _ := os.ReadFile(res.HTML)
	for _, d := range []int{0, 1, 2, 4} {
		p := historyFixtureReport(d).Period
		for _, f := range []string{"index.html", "report.json", "device_share.csv", "session_length.csv"} {
			href := `href="` + p + "/" + f + `"`
			if !bytes.Contains(html, []byte(href)) {
				t.Errorf("index lacks the link %s", href)
			}
			if _, err := os.Stat(filepath.Join(jobDir, p, f)); err != nil {
				t.Error(err)
			}
		}
	}
	// Rebuilding with nothing new gives the same bytes.
	before, _ := os.ReadFile(res.HTML)
	if _, err := PublishIndex(out, historyJob); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(res.HTML); !bytes.Equal(before, after) {
		t.Error("a second PublishIndex with nothing new changed index.html")
	}
}

func TestPublishIndexNoReports(t *testing.T) {
	out := t.TempDir()
	if _, err := PublishIndex(out, historyJob); !errors.Is(err, ErrNoReports) {
		t.Errorf("no job directory: %v, want ErrNoReports", err)
	}
	if err := os.MkdirAll(filepath.Join(out, historyJob, ".tmp-2026-01-01-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := PublishIndex(out, historyJob); !errors.Is(err, ErrNoReports) {
		t.Errorf("only a temporary directory: %v, want ErrNoReports", err)
	}
	for _, f := range []string{"index.html", "history.csv"} {
		if _, err := os.Stat(filepath.Join(out, historyJob, f)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s written without any report (err %v)", f, err)
		}
	}
	if _, err := PublishIndex(out, "../x"); err == nil {
		t.Error("job ../x accepted")
	}
}

// TestPublishIndexFailures: a failure while writing or before a rename
// leaves the published files as they were, and no temporary file.
func TestPublishIndexFailures(t *testing.T) {
	boom := errors.New("injected failure")
	for _, tt := range []struct {
		name              string
		hooks             indexHooks
		wantCSV, wantHTML string // "old" or "new"
	}{
		{"rendering the page fails", indexHooks{wrapWriter: func(name string, w io.Writer) io.Writer {
			if name == IndexHTMLName {
				return failWriter{}
			}
			return w
		}}, "old", "old"},
		{"rendering the CSV fails", indexHooks{wrapWriter: func(name string, w io.Writer) io.Writer {
			if name == HistoryCSVName {
				return failWriter{}
			}
			return w
		}}, "old", "old"},
		{"renaming the CSV fails", indexHooks{beforeRename: func(name string) error {
			if name == HistoryCSVName {
				return boom
			}
			return nil
		}}, "old", "old"},
		// The files are replaced one after the other: each stays whole.
		{"renaming the page fails", indexHooks{beforeRename: func(name string) error {
			if name == IndexHTMLName {
				return boom
			}
			return nil
		}}, "new", "old"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			publishDays(t, out, 0)
			jobDir := filepath.Join(out, historyJob)
			old := map[string][]byte{IndexHTMLName: []byte("<!DOCTYPE html>old</html>\n"), HistoryCSVName: []byte("old\n")}
			for n, b := range old {
				if err := os.WriteFile(filepath.Join(jobDir, n), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := publishIndex(out, historyJob, tt.hooks); err == nil {
				t.Fatal("publishIndex succeeded despite the injected failure")
			}
			for n, want := range map[string]string{HistoryCSVName: tt.wantCSV, IndexHTMLName: tt.wantHTML} {
				got, _ := os.ReadFile(filepath.Join(jobDir, n))
				if isOld := bytes.Equal(got, old[n]); isOld != (want == "old") {
					t.Errorf("%s: old content kept = %v, want %s", n, isOld, want)
				}
			}
			if tmp := leftovers(t, jobDir); len(tmp) > 0 {
				t.Errorf("temporary files left: %v", tmp)
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("injected write failure") }

func stat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestPublishIndexAtomic checks that the index is replaced by a rename,
// never rewritten in place: its inode changes, and a reader that reads it
// over and over while it is regenerated (with a period coming and going)
// always sees a whole page.
func TestPublishIndexAtomic(t *testing.T) {
	out := t.TempDir()
	publishDays(t, out, 0, 1)
	res, err := PublishIndex(out, historyJob)
	if err != nil {
		t.Fatal(err)
	}
	// Hold the first index open: its inode cannot be reused while it is,
	// so a new file at the path is told apart from the same file rewritten.
	held, err := os.Open(res.HTML)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	heldContent, err := io.ReadAll(held)
	if err != nil {
		t.Fatal(err)
	}
	first, err := held.Stat()
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var reads, partial atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			b, err := os.ReadFile(res.HTML)
			if err != nil {
				partial.Add(1) // never missing either
				continue
			}
			reads.Add(1)
			if !bytes.HasPrefix(b, []byte("<!DOCTYPE html>")) || !bytes.HasSuffix(b, []byte("</html>\n")) {
				partial.Add(1)
			}
		}
	}()
	day2 := filepath.Join(out, historyJob, historyFixtureReport(2).Period)
	for i := 0; i < 16; i++ {
		if i%2 == 0 {
			publishDays(t, out, 2)
		} else if err := os.RemoveAll(day2); err != nil {
			t.Fatal(err)
		}
		if _, err := PublishIndex(out, historyJob); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if partial.Load() > 0 {
		t.Errorf("%d of %d reads saw a missing or partial index.html", partial.Load(), reads.Load()+partial.Load())
	}
	if reads.Load() == 0 {
		t.Error("the reader never read the index")
	}
	if os.SameFile(first, stat(t, res.HTML)) {
		t.Error("index.html kept its inode: it was rewritten in place, not replaced")
	}
	if _, err := held.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if again, err := io.ReadAll(held); err != nil || !bytes.Equal(again, heldContent) {
		t.Errorf("the first index.html changed under a reader that had it open (err %v)", err)
	}
}

// TestPublishIndexSerialized: a regeneration waits for one under way (the
// lock on the job directory), so an older view cannot replace a newer one,
// and leaves no lock file behind.
func TestPublishIndexSerialized(t *testing.T) {
	out := t.TempDir()
	publishDays(t, out, 0)
	jobDir := filepath.Join(out, historyJob)
	unlock, err := lockIndex(jobDir)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := PublishIndex(out, historyJob)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("PublishIndex finished (err %v) while another regeneration held the lock", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := os.Stat(filepath.Join(jobDir, IndexHTMLName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("index.html written while the lock was held (err %v)", err)
	}
	unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("PublishIndex did not finish after the lock was released")
	}
	entries, _ := os.ReadDir(jobDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("hidden entry %s left in the job directory", e.Name())
		}
	}
}
