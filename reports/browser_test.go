package reports

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
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

// checkOffline fails t if the page at path requested anything but itself
// (a self-contained page needs no network), or the browser reported an
// error or warning (a missing favicon aside).
func (b *browserEvents) checkOffline(t *testing.T, path string) {
	t.Helper()
	fileURL := (&url.URL{Scheme: "file", Path: path}).String()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range b.requests {
		if u != fileURL {
			t.Errorf("page made a network request: %s", u)
		}
	}
	if len(b.requests) == 0 {
		t.Error("saw no request at all, not even the document: is the network listener working?")
	}
	for _, p := range b.problems {
		if !strings.Contains(p, "favicon") {
			t.Errorf("browser reported a problem: %s", p)
		}
	}
}

// openInBrowser opens the page at path in a fresh headless Chromium (no
// network features, its own profile), saves a full-page screenshot as
// shotName (in DPSTATS_SCREENSHOT_DIR when set, to look at), and returns
// the browser context and what the page logged or requested. The browser
// closes when the test ends.
func openInBrowser(t *testing.T, chromium, path, shotName string, timeout time.Duration) (context.Context, *browserEvents) {
	t.Helper()
	fileURL := (&url.URL{Scheme: "file", Path: path}).String()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
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
	t.Cleanup(acancel)
	events := &browserEvents{}
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithListener(events.listen))
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx, chromedp.Navigate(fileURL)); err != nil {
		t.Fatalf("open %s: %v", fileURL, err)
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(t.TempDir(), shotName)
	if dir := os.Getenv("DPSTATS_SCREENSHOT_DIR"); dir != "" {
		shot = filepath.Join(dir, shotName)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	return bctx, events
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
	bctx, events := openInBrowser(t, chromium, filepath.Join(dir, "index.html"), "index.png", 30*time.Second)

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
	// The issue-12 promises, as the browser lays them out.
	noInterval, withOther := 0, 0
	for _, m := range r.Metrics {
		hasOther := false
		for _, p := range m.Partitions {
			hasOther = hasOther || p.Name == OtherPartition
			if m.Kind != KindQuantiles && p.IntervalNote != "" {
				noInterval++
			}
			for _, q := range p.Quantiles {
				if q.Lower == nil || q.Upper == nil {
					noInterval++
				}
			}
		}
		if hasOther {
			withOther++
		}
	}
	promises := []struct {
		name string
		js   string
		want int
	}{
		{"human title", `document.querySelector('h1').textContent === ` + jsString(r.Title) + ` ? 1 : 0`, 1},
		{"title element", `document.title.startsWith(` + jsString(r.Title) + `) ? 1 : 0`, 1},
		// Bucket labels are whole and inside their chart.
		{"cut bucket labels", `[...document.querySelectorAll('svg.histogram text.label')].filter(t => t.textContent.includes('…')).length`, 0},
		{"bucket labels outside their chart", `[...document.querySelectorAll('svg.histogram')].map(svg => { const b = svg.getBoundingClientRect(); return [...svg.querySelectorAll('text')].filter(t => { const r = t.getBoundingClientRect(); return r.left < b.left - 0.5 || r.right > b.right + 0.5 || r.top < b.top - 0.5 || r.bottom > b.bottom + 0.5; }).length; }).reduce((a, b) => a + b, 0)`, 0},
		{"unequal buckets said so in the chart", `[...document.querySelectorAll('svg.histogram')].filter(svg => [...svg.querySelectorAll('text.caption')].some(t => t.textContent.includes('drawn equally wide'))).length`, 2},
		// Categorical shares in value order, "other" last.
		{"share bars out of value order", `[...document.querySelectorAll('svg.share')].filter(svg => { const bars = [...svg.querySelectorAll('g.bar')].filter(g => g.querySelector('text.label').textContent !== 'other'); const w = bars.map(g => g.querySelector('rect').getBBox().width); return w.some((x, i) => i > 0 && x > w[i-1] + 0.05); }).length`, 0},
		{"other not last", `[...document.querySelectorAll('svg.share')].filter(svg => { const l = [...svg.querySelectorAll('g.bar text.label')].map(t => t.textContent); const i = l.indexOf('other'); return i >= 0 && i !== l.length - 1; }).length`, 0},
		// Durations in minutes or hours, never seconds with decimals.
		{"durations not in minutes", `[...document.querySelectorAll('#m-mean_duration td.num, #m-median_duration td.num')].filter(td => !/^(< )?[0-9 ]+ (min|h)( [0-9]+ min)?( \*)?$/.test(td.firstChild.textContent.trim()) && !td.classList.contains('ci')).length`, 0},
		{"duration intervals not in minutes", `[...document.querySelectorAll('#m-mean_duration td.ci')].filter(td => !/(min|h)$/.test(td.textContent)).length`, 0},
		// Every number has an interval or says it has none.
		{"numbers marked no interval", `[...document.querySelectorAll('section.metric td.no-ci')].filter(td => td.innerText.includes('no interval')).length`, noInterval},
		{"reasons for no interval", `[...document.querySelectorAll('section.metric p.note')].filter(p => p.textContent.startsWith('No interval: ')).length`, 2},
		{"mean at its clamp bound greyed and says so", `[...document.querySelectorAll('#m-mean_duration tr')].filter(tr => tr.querySelector('th.noisy') && tr.querySelector('th').textContent === 'other' && tr.querySelector('td.note').textContent.includes('clamp bound')).length`, 1},
		{"what other means, per metric", `document.querySelectorAll('p.other-note').length`, withOther},
		{"singular and plural", `/\b1 partitions\b/.test(document.body.innerText) ? 1 : 0`, 0},
		{"claims the true value", `/true value/.test(document.body.innerText) ? 1 : 0`, 0},
		{"says what an interval covers", `/bounded statistic/.test(document.body.innerText) && /does not cover what the caps/.test(document.body.innerText) ? 1 : 0`, 1},
		{"download links per metric", `document.querySelectorAll('section.metric a.csv[href$=".csv"]').length`, len(r.Metrics)},
	}
	for _, c := range promises {
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
	// Every download link points at a file published beside the page.
	hrefs, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')).filter(h => !h.startsWith('#'))`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"report.json", SchemaFile, TidyCSVName} {
		if !slices.Contains(hrefs, want) {
			t.Errorf("no link to %s (links: %q)", want, hrefs)
		}
	}
	for _, h := range hrefs {
		if strings.Contains(h, "/") || strings.Contains(h, ":") {
			t.Errorf("link %q leaves the report directory", h)
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, h)); err != nil {
			t.Errorf("link %q: %v", h, err)
		}
	}

	for _, sec := range []string{"How private is this", "What we collect"} {
		ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.body.innerText.includes(`+"`"+sec+"`"+`)`))
		if err != nil || !ok {
			t.Errorf("page lacks section %q (err %v)", sec, err)
		}
	}

	events.checkOffline(t, filepath.Join(dir, "index.html"))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string { return strconv.Quote(s) }
