package reports

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// findChromium returns the Chromium binary. Without it the browser test
// skips, except under CI (CI set), where it must run.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatal("chromium not found, and CI is set: run .ci/install-browser.sh")
	}
	t.Skip("chromium not installed (run .ci/install-browser.sh); set CI=true to make this a failure")
	return ""
}

// browserEvents records what the page did.
type browserEvents struct {
	mu       sync.Mutex
	requests []string
	problems []string
}

func (b *browserEvents) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, ev.Request.URL)
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
			b.problems = append(b.problems, fmt.Sprintf("console.%s: %v", ev.Type, ev.Args))
		}
	case *runtime.EventExceptionThrown:
		b.problems = append(b.problems, "exception: "+ev.ExceptionDetails.Text)
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
			b.problems = append(b.problems, fmt.Sprintf("log %s %s: %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text))
		}
	case *page.EventJavascriptDialogOpening:
		b.problems = append(b.problems, "a script opened a dialog: "+ev.Message)
	}
}

// TestBrowserRendersReport opens a published index.html from disk in headless
// Chromium, takes a screenshot, and checks that every chart rendered, that
// the page made no network request and logged no error, and that a hostile
// partition name shows as text.
func TestBrowserRendersReport(t *testing.T) {
	chromium := findChromium(t)
	out := t.TempDir()
	r := fixture()
	const hostile = "<script>alert(1)</script>"
	r.Metrics[0].Partitions[5].Name = hostile
	dir, err := Publish(out, r)
	if err != nil {
		t.Fatal(err)
	}
	index := filepath.Join(dir, "index.html")
	fileURL := (&url.URL{Scheme: "file", Path: index}).String()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	defer acancel()
	var events browserEvents
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithListener(events.listen))
	defer bcancel()

	if err := chromedp.Do(bctx, chromedp.Navigate(fileURL)); err != nil {
		t.Fatalf("open %s: %v", fileURL, err)
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(t.TempDir(), "index.png")
	if dirEnv := os.Getenv("DPSTATS_SCREENSHOT_DIR"); dirEnv != "" {
		shot = filepath.Join(dirEnv, "index.png")
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))

	wantCharts := 0
	for _, m := range r.Metrics {
		if m.Display == DisplayShare || m.Display == DisplayHistogram {
			wantCharts++
		}
	}
	checks := []struct {
		name string
		js   string
		want int
	}{
		{"SVG charts", `document.querySelectorAll('svg.chart').length`, wantCharts},
		{"charts with drawn bars", `[...document.querySelectorAll('svg.chart')].filter(s => [...s.querySelectorAll('rect')].some(r => r.getBBox().width > 0 && r.getBBox().height > 0)).length`, wantCharts},
		{"charts with a visible size", `[...document.querySelectorAll('svg.chart')].filter(s => s.getBoundingClientRect().width > 300 && s.getBoundingClientRect().height > 80).length`, wantCharts},
		{"bars in device chart", `document.querySelectorAll('#m-device_share svg.chart g.bar').length`, len(r.Metrics[0].Partitions)},
		{"tables", `document.querySelectorAll('section.metric table').length`, len(r.Metrics)},
		{"script elements", `document.querySelectorAll('script').length`, 0},
		// In the chart label and in the table, as text; never as an element.
		{"hostile name as text", `[...document.querySelectorAll('svg.chart text, th')].filter(e => e.textContent === '` + hostile + `').length`, 2},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			got, err := chromedp.Run(bctx, chromedp.Evaluate[int](c.js))
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("%s = %d, want %d", c.name, got, c.want)
			}
		})
	}
	for _, sec := range []string{"How private is this", "What we collect"} {
		ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.body.innerText.includes(`+"`"+sec+"`"+`)`))
		if err != nil || !ok {
			t.Errorf("page lacks section %q (err %v)", sec, err)
		}
	}

	events.mu.Lock()
	defer events.mu.Unlock()
	for _, u := range events.requests {
		if u != fileURL {
			t.Errorf("page made a network request: %s", u)
		}
	}
	if len(events.requests) == 0 {
		t.Error("saw no request at all, not even the document: is the network listener working?")
	}
	for _, p := range events.problems {
		if !strings.Contains(p, "favicon") {
			t.Errorf("browser reported a problem: %s", p)
		}
	}
}
