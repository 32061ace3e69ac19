package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// result is one size's measurements.
type result struct {
	Size        size
	Rows        int64 // the events file's footer row count
	EventsBytes int64
	Gen         usage   // zero when the export came from the cache
	Floor       []usage // one per repetition
	Child       []usage // dpstats run (or the stand-in), one per repetition
	CPUProfile  string  // set when profiled
	MemProfile  string
}

// best is the fastest repetition's times with the highest peak RSS of all:
// the most favourable speed and the least favourable memory.
func best(us []usage) usage {
	if len(us) == 0 {
		return usage{}
	}
	b := us[0]
	for _, u := range us[1:] {
		if u.Wall < b.Wall {
			rss := b.MaxRSS
			b = u
			b.MaxRSS = rss
		}
		b.MaxRSS = max(b.MaxRSS, u.MaxRSS)
	}
	return b
}

func rowsPerSec(rows int64, u usage) float64 {
	if u.Wall <= 0 {
		return 0
	}
	return float64(rows) / u.Wall.Seconds()
}

// ratio is the child's rows/s over the floor's (equal rows, so the floor's
// wall time over the child's).
func (r result) ratio() float64 {
	f, c := best(r.Floor), best(r.Child)
	if c.Wall <= 0 {
		return 0
	}
	return f.Wall.Seconds() / c.Wall.Seconds()
}

// report is everything writeReport prints.
type report struct {
	Bin, Version, Job string
	Child             string // "run" or "inspect"
	Count             int
	Columns           []string
	FloorGoroutines   int      // the floor's goroutines (0 is 1)
	Env               []string // GOGC=… and such, inherited by the children
	NumCPU            int
	Load              string // the 1-minute load average before measuring, or ""
	HarnessRSS        int64  // this program's own peak RSS, bytes
	Targets           targets
	NoTargets         bool     // print no PASS/FAIL lines
	RunArgs           []string // more flags of the measured run
	Results           []result
}

// writeReport prints the header, the table (one column per size) and the
// verdicts.
func writeReport(w io.Writer, rep report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\ndpstats bench: %s (%s), job %s, %d CPUs", rep.Bin, rep.Version, rep.Job, rep.NumCPU)
	if rep.Load != "" {
		fmt.Fprintf(&b, ", load average %s", rep.Load)
	}
	if len(rep.Env) > 0 {
		fmt.Fprintf(&b, ", %s", strings.Join(rep.Env, " "))
	}
	goroutines := "1 goroutine"
	if rep.FloorGoroutines > 1 {
		goroutines = fmt.Sprintf("%d goroutines (row groups split)", rep.FloorGoroutines)
	}
	fmt.Fprintf(&b, "\nfloor: bare pqarrow scan, %s, 64k-row batches, of the columns the job reads (%d):\n  %s\n",
		goroutines, len(rep.Columns), strings.Join(rep.Columns, ", "))
	if rep.Child == "run" {
		fmt.Fprintf(&b, "run:   dpstats run --job %s%s end to end, fresh ledger and output each time\n", rep.Job, strings.Join(append([]string{""}, rep.RunArgs...), " "))
	} else {
		fmt.Fprintf(&b, "%s: dpstats %s FILE, a STAND-IN for dpstats run: the targets below are not about the job\n", rep.Child, rep.Child)
	}
	if rep.Count > 1 {
		fmt.Fprintf(&b, "each measured %d times, interleaved: fastest wall time, highest peak RSS\n", rep.Count)
	}
	fmt.Fprintf(&b, "peak RSS is each child's ru_maxrss, which Linux starts at the harness's own peak (%s): lower figures cannot show\n\n", formatBytes(rep.HarnessRSS))

	c := rep.Child
	rows := [][]string{{"events/users"}}
	add := func(label string, cell func(r result) string) {
		row := []string{label}
		for _, r := range rep.Results {
			row = append(row, cell(r))
		}
		rows = append(rows, row)
	}
	for _, r := range rep.Results {
		rows[0] = append(rows[0], r.Size.String())
	}
	add("events (footer)", func(r result) string { return groupDigits(r.Rows) })
	add("events file", func(r result) string { return formatBytes(r.EventsBytes) })
	add("floor rows/s", func(r result) string { return formatRate(rowsPerSec(r.Rows, best(r.Floor))) })
	add(c+" rows/s", func(r result) string { return formatRate(rowsPerSec(r.Rows, best(r.Child))) })
	add(c+"/floor", func(r result) string { return fmt.Sprintf("%.2f", r.ratio()) })
	// A peak at or below the harness's own is the kernel's starting point,
	// not the child's: mark it as an upper bound.
	rss := func(n int64) string {
		if n <= rep.HarnessRSS {
			return "≤ " + formatBytes(n)
		}
		return formatBytes(n)
	}
	add("floor peak RSS", func(r result) string { return rss(best(r.Floor).MaxRSS) })
	add(c+" peak RSS", func(r result) string { return rss(best(r.Child).MaxRSS) })
	add("floor CPU/wall", func(r result) string { return fmt.Sprintf("%.2f", best(r.Floor).CPUPerWall()) })
	add(c+" CPU/wall", func(r result) string { return fmt.Sprintf("%.2f", best(r.Child).CPUPerWall()) })
	add("floor wall", func(r result) string { return formatSeconds(best(r.Floor).Wall.Seconds()) })
	add(c+" wall", func(r result) string { return formatSeconds(best(r.Child).Wall.Seconds()) })
	writeColumns(&b, rows)
	if pu, ok := perUser(rep.Results); ok {
		fmt.Fprintf(&b, "%s peak RSS per extra user at %s events, %s → %s users: %s\n",
			c, compactCount(pu.Rows), compactCount(pu.LoUsers), compactCount(pu.HiUsers), formatPerUser(pu.Bytes))
	}
	// The floor is single-threaded: less than most of a core means other
	// processes took the rest, and every figure above is noisier for it.
	for _, r := range rep.Results {
		if f := best(r.Floor).CPUPerWall() / float64(max(1, rep.FloorGoroutines)); f > 0 && f < busyFloor {
			fmt.Fprintf(&b, "note: the floor got %.2f of a core at %s: the machine was busy, figures are noisy (DPSTATS_BENCH_COUNT=3 helps)\n", f, r.Size)
			break
		}
	}

	if rep.NoTargets {
		b.WriteString("\ntargets: none for this measurement (-no-targets)\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	b.WriteString("\ntargets:\n")
	vs := judge(rep.Results, rep.Targets, c)
	met, missed := 0, 0
	for _, v := range vs {
		fmt.Fprintf(&b, "  %-4s  %s\n", v.Status, v.Text)
		switch v.Status {
		case statusPass:
			met++
		case statusFail:
			missed++
		}
	}
	switch {
	case rep.Child != "run":
		fmt.Fprintf(&b, "bench: measured the %s stand-in, not dpstats run: no verdict on the job\n", rep.Child)
	case missed == 0:
		fmt.Fprintf(&b, "bench: %d of %d targets met\n", met, met+missed)
	default:
		fmt.Fprintf(&b, "bench: %d of %d targets met, %d MISSED (FAIL above)\n", met, met+missed, missed)
	}
	for _, r := range rep.Results {
		if r.CPUProfile != "" {
			fmt.Fprintf(&b, "profiles of %s:\n  go tool pprof -top -nodecount 25 %s %s\n  go tool pprof -sample_index=alloc_space -top -nodecount 25 %s %s\n",
				r.Size, rep.Bin, r.CPUProfile, rep.Bin, r.MemProfile)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeColumns prints rows as a table: the first column left-aligned, the
// others right-aligned, three spaces apart.
func writeColumns(b *strings.Builder, rows [][]string) {
	var widths []int
	for _, row := range rows {
		for i, cell := range row {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len([]rune(cell)))
		}
	}
	for _, row := range rows {
		var line strings.Builder
		for i, cell := range row {
			pad := strings.Repeat(" ", widths[i]-len([]rune(cell)))
			if i == 0 {
				line.WriteString(cell + pad)
			} else {
				line.WriteString("   " + pad + cell)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

// busyFloor is the floor's CPU/wall below which the report says that the
// machine was busy.
const busyFloor = 0.85

const (
	statusPass = "PASS"
	statusFail = "FAIL"
	statusInfo = "INFO"
	statusSkip = "SKIP"
)

// verdict is one target's outcome.
type verdict struct {
	Status string // PASS, FAIL, INFO (nothing to judge) or SKIP (cannot judge)
	Text   string
}

// judge checks the targets: throughput and peak RSS at the main size (the
// most rows below t.BigRows, among sizes of at most t.MaxRSSUsers users;
// without one, the largest size below t.BigRows), throughput and peak RSS
// of every size of at least t.BigRows events; for each number of users
// measured at two or more sizes, that the most rows need little more
// memory than the fewest; and the bytes each extra user costs.
func judge(results []result, t targets, child string) []verdict {
	if len(results) == 0 {
		return nil
	}
	var vs []verdict
	pass := func(ok bool) string {
		if ok {
			return statusPass
		}
		return statusFail
	}
	larger := func(r, than result) bool {
		return r.Rows > than.Rows || (r.Rows == than.Rows && r.Size.Users > than.Size.Users)
	}
	var top, topAny *result
	for i := range results {
		r := &results[i]
		if t.BigRows > 0 && r.Rows >= t.BigRows {
			continue
		}
		if topAny == nil || larger(*r, *topAny) {
			topAny = r
		}
		small := r.Size.Users <= int64(t.MaxRSSUsers)
		if small && (top == nil || r.Rows > top.Rows || (r.Rows == top.Rows && r.Size.Users < top.Size.Users)) {
			top = r
		}
	}
	if top == nil {
		top = topAny
	}
	if top != nil {
		ratio := top.ratio()
		vs = append(vs, verdict{pass(ratio >= t.MinRatio),
			fmt.Sprintf("throughput at %s: %s/floor = %.2f (target ≥ %.2f)", top.Size, child, ratio, t.MinRatio)})
		rss := best(top.Child).MaxRSS
		if top.Size.Users <= int64(t.MaxRSSUsers) {
			vs = append(vs, verdict{pass(rss <= t.MaxRSS),
				fmt.Sprintf("peak RSS at %s: %s %s (target ≤ %s)", top.Size, child, formatBytes(rss), formatBytes(t.MaxRSS))})
		} else {
			vs = append(vs, verdict{statusInfo,
				fmt.Sprintf("peak RSS at %s: %s %s in %s (the ≤ %s target is for ≤ %s users)",
					top.Size, child, formatBytes(rss), formatSeconds(best(top.Child).Wall.Seconds()), formatBytes(t.MaxRSS), compactCount(int64(t.MaxRSSUsers)))})
		}
	}
	for _, r := range results {
		if t.BigRows <= 0 || r.Rows < t.BigRows {
			continue
		}
		ratio := r.ratio()
		vs = append(vs, verdict{pass(ratio >= t.BigMinRatio),
			fmt.Sprintf("throughput at %s: %s/floor = %.2f (target ≥ %.2f)", r.Size, child, ratio, t.BigMinRatio)})
		rss := best(r.Child).MaxRSS
		vs = append(vs, verdict{pass(rss <= t.BigMaxRSS),
			fmt.Sprintf("peak RSS at %s: %s %s in %s (target ≤ %s)", r.Size, child, formatBytes(rss),
				formatSeconds(best(r.Child).Wall.Seconds()), formatBytes(t.BigMaxRSS))})
	}

	judged := map[int64]bool{}
	for _, r := range results {
		u := r.Size.Users
		if judged[u] {
			continue
		}
		judged[u] = true
		lo, hi := r, r
		for _, s := range results {
			if s.Size.Users != u {
				continue
			}
			if s.Rows < lo.Rows {
				lo = s
			}
			if s.Rows > hi.Rows {
				hi = s
			}
		}
		if lo.Rows == hi.Rows {
			continue
		}
		loRSS, hiRSS := best(lo.Child).MaxRSS, best(hi.Child).MaxRSS
		limit := int64(t.RSSGrowth*float64(loRSS)) + t.RSSSlack
		vs = append(vs, verdict{pass(hiRSS <= limit),
			fmt.Sprintf("memory follows users, not rows: %s RSS at %s %s, at %s %s (target ≤ %.2f × %s + %s = %s)",
				child, hi.Size, formatBytes(hiRSS), lo.Size, formatBytes(loRSS),
				t.RSSGrowth, formatBytes(loRSS), formatBytes(t.RSSSlack), formatBytes(limit))})
	}
	if len(judged) == len(results) {
		vs = append(vs, verdict{statusSkip,
			"memory follows users, not rows: needs two sizes with the same users (e.g. -sizes 1M:200k,10M:200k)"})
	}

	if pu, ok := perUser(results); ok {
		text := fmt.Sprintf("memory per extra user at %s events, %s → %s users: %s %s",
			compactCount(pu.Rows), compactCount(pu.LoUsers), compactCount(pu.HiUsers), child, formatPerUser(pu.Bytes))
		if t.MaxBytesPerUser > 0 {
			vs = append(vs, verdict{pass(pu.Bytes <= float64(t.MaxBytesPerUser)),
				fmt.Sprintf("%s (target ≤ %d B)", text, t.MaxBytesPerUser)})
		} else {
			vs = append(vs, verdict{statusInfo, text + " (no target for this job)"})
		}
	} else if t.MaxBytesPerUser > 0 {
		vs = append(vs, verdict{statusSkip,
			"memory per extra user: needs two sizes with the same events and different users (e.g. -sizes 10M:200k,10M:2M)"})
	}
	return vs
}

// userCost is the peak RSS an extra user costs, between two sizes with
// the same events.
type userCost struct {
	Rows             int64
	LoUsers, HiUsers int64
	Bytes            float64 // per extra user
}

// perUser compares the fewest and the most users measured at the same
// events (the most events where two sizes differ in users): the slope of
// peak RSS in users.
func perUser(results []result) (userCost, bool) {
	var c userCost
	found := false
	for _, r := range results {
		lo, hi := r, r
		for _, s := range results {
			if s.Rows != r.Rows {
				continue
			}
			if s.Size.Users < lo.Size.Users {
				lo = s
			}
			if s.Size.Users > hi.Size.Users {
				hi = s
			}
		}
		if lo.Size.Users == hi.Size.Users || (found && r.Rows <= c.Rows) {
			continue
		}
		found = true
		c = userCost{Rows: r.Rows, LoUsers: lo.Size.Users, HiUsers: hi.Size.Users,
			Bytes: float64(best(hi.Child).MaxRSS-best(lo.Child).MaxRSS) / float64(hi.Size.Users-lo.Size.Users)}
	}
	return c, found
}

func formatPerUser(b float64) string { return fmt.Sprintf("%.0f B", b) }

// formatBytes prints MiB below 1 GiB and GiB from there.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// formatRate prints a rate with an SI suffix and three significant digits.
func formatRate(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "-"
	case v >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', decimals(v/1e9), 64) + "G"
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', decimals(v/1e6), 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', decimals(v/1e3), 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// decimals keeps three significant digits of v in [1, 1000).
func decimals(v float64) int {
	switch {
	case v >= 100:
		return 0
	case v >= 10:
		return 1
	}
	return 2
}

func formatSeconds(s float64) string {
	if s >= 100 {
		return fmt.Sprintf("%.0f s", s)
	}
	return fmt.Sprintf("%.2f s", s)
}

// groupDigits prints n with thousands separators: 10000000 → "10,000,000".
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
