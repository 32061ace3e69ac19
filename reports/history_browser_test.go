package reports

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserRendersHistory opens a job index built from published reports
// (8 released days, two gaps, a hostile partition name) in headless
// Chromium, takes a screenshot, and checks that every series has its chart
// with one point per released day, a rolling average and the gaps marked;
// that every link leads to a file that exists; and that the page made no
// network request, ran no script and logged no error.
func TestBrowserRendersHistory(t *testing.T) {
	chromium := findChromium(t)
	out := t.TempDir()
	const hostile = "<script>alert(1)</script>"
	for _, d := range []int{0, 1, 2, 4, 5, 7, 8, 9} {
		r := historyFixtureReport(d)
		r.Metrics[0].Partitions[2].Name = hostile // "web"
		if _, err := Publish(out, r); err != nil {
			t.Fatal(err)
		}
	}
	res, err := PublishIndex(out, historyJob)
	if err != nil {
		t.Fatal(err)
	}
	h, err := LoadHistory(os.DirFS(filepath.Dir(res.HTML)), historyJob)
	if err != nil {
		t.Fatal(err)
	}
	bctx, events := openInBrowser(t, chromium, res.HTML, "history-index.png", 60*time.Second)

	// What the page must show, from the history itself.
	var panels int
	var points []string // released days with a value, per panel in page order
	for _, hm := range h.metrics {
		for _, s := range hm.series {
			panels++
			n := 0
			for i := range s.days {
				if _, ok := hm.measureOf(&s.days[i]); ok {
					n++
				}
			}
			points = append(points, itoa(n))
		}
	}
	evalInt := func(js string) int {
		t.Helper()
		got, err := chromedp.Run(bctx, chromedp.Evaluate[int](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return got
	}
	for _, c := range []struct {
		name string
		js   string
		want int
	}{
		{"metric sections", `document.querySelectorAll('section.metric').length`, len(h.metrics)},
		{"panels", `document.querySelectorAll('figure.panel svg.ts').length`, panels},
		{"panels with a visible size", `[...document.querySelectorAll('svg.ts')].filter(s => s.getBoundingClientRect().width > 200 && s.getBoundingClientRect().height > 80).length`, panels},
		{"panels with a drawn rolling average", `[...document.querySelectorAll('svg.ts')].filter(s => [...s.querySelectorAll('polyline.roll')].some(l => l.getBBox().width > 0)).length`, panels},
		// Both gaps (2026-01-04 and 2026-01-07) are marked in every panel.
		{"panels marking both gaps", `[...document.querySelectorAll('svg.ts')].filter(s => s.querySelectorAll('rect.gap').length === 2).length`, panels},
		{"period rows", `document.querySelectorAll('table.periods tbody tr').length`, len(h.Periods)},
		{"gap rows", `document.querySelectorAll('table.periods tbody tr.gap').length`, 2},
		{"comparison tables", `document.querySelectorAll('section.metric table.compare').length`, len(h.metrics)},
		{"script elements", `document.querySelectorAll('script').length`, 0},
		{"hostile name as text", `[...document.querySelectorAll('.pname, th')].filter(e => e.textContent === '` + hostile + `').length`, 2},
	} {
		if got := evalInt(c.js); got != c.want {
			t.Errorf("%s = %d, want %d", c.name, got, c.want)
		}
	}
	got, err := chromedp.Run(bctx, chromedp.Evaluate[string](`[...document.querySelectorAll('svg.ts')].map(s => s.querySelectorAll('circle.pt').length).join(" ")`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("points per panel: %s", got)
	if want := strings.Join(points, " "); got != want {
		t.Errorf("points per panel:\n got %s\nwant %s", got, want)
	}
	text, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"larger than the noise", "within the noise", "only 5 of 7 days", "no report: withheld, failed or not run",
		"How to read this page", "spent no privacy budget"} {
		if !strings.Contains(text, s) {
			t.Errorf("page text lacks %q", s)
		}
	}

	// Every link resolves to a file beside the index (or an anchor on it).
	hrefs, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))`))
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, href := range hrefs {
		if strings.HasPrefix(href, "#") {
			if n := evalInt(`document.querySelectorAll('[id="` + strings.TrimPrefix(href, "#") + `"]').length`); n != 1 {
				t.Errorf("anchor %s matches %d elements", href, n)
			}
			continue
		}
		u, err := url.Parse(href)
		if err != nil || u.IsAbs() || strings.HasPrefix(href, "/") {
			t.Errorf("link %q is not relative to the index", href)
			continue
		}
		files++
		if _, err := os.Stat(filepath.Join(filepath.Dir(res.HTML), filepath.FromSlash(u.Path))); err != nil {
			t.Errorf("link %q: %v", href, err)
		}
	}
	if files < 8*3 {
		t.Errorf("only %d links to files; want each period's report, report.json and CSVs", files)
	}

	events.checkOffline(t, res.HTML)
}
