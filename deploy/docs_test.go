package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestOperationsGuide keeps docs/operations.md in step with the code it
// describes: every exit code has a row, every exported metric is listed,
// every DPSTATS_* name it mentions exists, and it answers the questions the
// operations issue asked.
func TestOperationsGuide(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)

	t.Run("exit codes", func(t *testing.T) {
		var got []string
		for _, m := range regexp.MustCompile(`(?m)^\| (\d+) \|`).FindAllStringSubmatch(doc, -1) {
			got = append(got, m[1])
		}
		want := []string{"0", "64", "65", "66", "69", "70", "73", "74", "75", "77", "130"}
		if !slices.Equal(got, want) {
			t.Errorf("exit code rows %v, want %v", got, want)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		src, err := os.ReadFile(filepath.Join("..", "internal", "cli", "metrics.go"))
		if err != nil {
			t.Fatal(err)
		}
		names := regexp.MustCompile(`metric\w+\s*=\s*"(dpstats_[a-z_]+)"`).FindAllStringSubmatch(string(src), -1)
		if len(names) < 5 {
			t.Fatalf("found %d metric names in metrics.go", len(names))
		}
		for _, m := range names {
			if !strings.Contains(doc, "`"+m[1]) {
				t.Errorf("metric %s is not documented", m[1])
			}
		}
		for _, m := range regexp.MustCompile("`(dpstats_[a-z_]*[a-z])[`{]").FindAllStringSubmatch(doc, -1) {
			if !slices.ContainsFunc(names, func(n []string) bool { return n[1] == m[1] }) {
				t.Errorf("the guide documents metric %s, which metrics.go does not export", m[1])
			}
		}
	})

	t.Run("settings", func(t *testing.T) {
		for _, m := range regexp.MustCompile(`DPSTATS_[A-Z_]+`).FindAllString(doc, -1) {
			if !slices.Contains(knownEnv, m) {
				t.Errorf("the guide mentions %s, which is not a dpstats setting", m)
			}
		}
	})

	t.Run("answers", func(t *testing.T) {
		for _, heading := range []string{
			"## Where the ledger lives", "## Scheduling", "### Kubernetes", "### cron on a single host",
			"## Exit codes", "## Back-filling missed days", "## Reading `dpstats budget`",
			"## Changing the cap or the window", "## Monitoring", "## Backup and restore",
			"### Restoring after a lost ledger volume",
		} {
			if !strings.Contains(doc, "\n"+heading+"\n") {
				t.Errorf("no section %q", heading)
			}
		}
	})
}
