package reports

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// findPandas returns a Python interpreter that can import pandas. Without
// one the test skips, except under CI (CI set), where it must run: .ci/run
// installs Debian's python3-pandas.
func findPandas(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if exec.Command(p, "-c", "import pandas").Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no python3 with pandas, and CI is set: install python3-pandas (apt-get install -y python3-pandas, as .ci/run does)")
	}
	t.Skip("no python3 with pandas (apt-get install python3-pandas); set CI=true to make this a failure")
	return ""
}

// TestPandasReadsReportFiles publishes a report and reads its files the way
// a notebook does, with pandas (testdata/pandas_check.py): report.csv has
// exactly the promised columns with numeric, boolean and text dtypes,
// matches report.json number for number, every number has an interval or a
// note, a quantile's interval is never the clamping range, the per-metric
// CSVs are typed too, and report.json's $schema resolves beside it.
// Partition names that pandas would read as missing by default ("NA",
// "null") and one that looks like a formula survive the documented read.
func TestPandasReadsReportFiles(t *testing.T) {
	python := findPandas(t)
	r := fixture()
	hostile := []string{"NA", "null", "=1+1"}
	for i, n := range hostile {
		r.Metrics[1].Partitions[2+i].Name = n
	}
	dir, err := Publish(t.TempDir(), r)
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "pandas_check.py"))
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{script, dir}, "NA", "null", "'=1+1")
	out, err := exec.Command(python, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("pandas check failed (%v):\n%s", err, out)
	}
	if string(out) != "ok\n" {
		t.Errorf("pandas check printed %q, want ok", out)
	}

	// The check can fail: a report.csv whose numbers are text is refused.
	bad := filepath.Join(dir, TidyCSVName)
	b, err := os.ReadFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, append(b, []byte("2026-01-05,x,count,d,p,n/a,,,,,,,,events,,,0.95,false,false,\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(python, args...).CombinedOutput(); err == nil {
		t.Errorf("pandas check passed a report.csv with a text value:\n%s", out)
	}
}
