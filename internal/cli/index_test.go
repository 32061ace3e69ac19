package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIndexCommand rebuilds the job index of a 2-day demo by hand, and
// checks the exit codes of what can go wrong.
func TestIndexCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	if code, _, errOut := runCLI(t, "demo", "--out", out, "--days", "2"); code != exitOK {
		t.Fatalf("demo --days 2: exit %d: %s", code, errOut)
	}
	jobDir := filepath.Join(out, "playback-daily")
	for _, f := range []string{"index.html", "history.csv"} {
		if err := os.Remove(filepath.Join(jobDir, f)); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, errOut := runCLI(t, "index", "--out", out, "--job", "playback-daily")
	if code != exitOK || !strings.Contains(stdout, "2 periods released") || !strings.Contains(stdout, filepath.Join(jobDir, "index.html")) {
		t.Errorf("index: exit %d, stdout %q, stderr %q", code, stdout, errOut)
	}
	for _, f := range []string{"index.html", "history.csv"} {
		if _, err := os.Stat(filepath.Join(jobDir, f)); err != nil {
			t.Error(err)
		}
	}
	for _, tt := range []struct {
		name string
		args []string
		want int
	}{
		{"no reports under OUT", []string{"index", "--out", t.TempDir(), "--job", "playback-daily"}, exitNoInput},
		{"unknown job", []string{"index", "--out", out, "--job", "no-such-job"}, exitUsage},
		{"stray argument", []string{"index", "--out", out, "extra"}, exitUsage},
		{"demo with too many days", []string{"demo", "--out", out, "--days", "29"}, exitUsage},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code, _, errOut := runCLI(t, tt.args...); code != tt.want {
				t.Errorf("%v: exit %d (%s), want %d", tt.args, code, errOut, tt.want)
			}
		})
	}
}
