package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// run is the whole harness minus flag parsing and os.Exit: generate (or
// reuse) each size's export, measure the floor and the child on it, print
// the table and the targets' verdicts to stdout. Progress goes to stderr.
// A missed target is not an error.
func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	if o.FloorFile != "" {
		return floorChild(ctx, o, stdout)
	}
	if o.ConsentFile != "" {
		return consentChild(o, stdout)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this program to re-run it as the floor: %w", err)
	}
	if fi, err := os.Stat(o.Bin); err != nil || fi.IsDir() {
		return fmt.Errorf("dpstats binary %s: not found (build it first: make build)", o.Bin)
	}
	version := binVersion(ctx, o.Bin)
	var jobs []jobInfo
	for _, bj := range o.Jobs {
		job, err := loadJob(ctx, o, bj.Spec)
		if err != nil {
			return err
		}
		job.Spec, job.FloorGoroutines = bj.Spec, bj.Floor
		for _, w := range job.Warnings {
			fmt.Fprintf(stderr, "bench: warning: %s: %s\n", job.Name, w)
		}
		jobs = append(jobs, job)
	}

	var sets []dataset
	for _, s := range o.Sizes {
		d, err := ensureDataset(ctx, o, s, version, stderr)
		if err != nil {
			return err
		}
		sets = append(sets, d)
	}
	reps := make([]report, len(jobs))
	for i, job := range jobs {
		reps[i] = report{
			Bin: o.Bin, Version: version, Job: job.Name, Child: o.Child, Count: o.Count,
			Columns: job.Columns, FloorGoroutines: job.FloorGoroutines, Env: envNotes(), NumCPU: runtime.NumCPU(),
			Targets: jobTargets(job.Name, o.Targets), Load: loadAverage(),
			NoTargets: o.NoTargets, RunArgs: o.RunArgs,
		}
	}
	// Size by size, every job on it: the floors and runs of one size follow
	// one another, so that they see the same machine.
	for _, d := range sets {
		for i, job := range jobs {
			r, err := measure(ctx, o, self, job, d, stderr)
			if err != nil {
				return err
			}
			reps[i].Results = append(reps[i].Results, r)
		}
	}
	// The consent load of the size with the most users (the first such),
	// after the jobs' runs on it.
	var consent *consentResult
	if o.Child == "run" && len(o.RunArgs) == 0 && len(sets) > 0 {
		most := sets[0]
		for _, d := range sets[1:] {
			if d.Size.Users > most.Size.Users {
				most = d
			}
		}
		c, err := measureConsent(ctx, o, self, most, stderr)
		if err != nil {
			return err
		}
		consent = &c
	}
	harness := selfMaxRSS()
	met, missed := 0, 0
	for i := range reps {
		reps[i].HarnessRSS = harness
		if err := writeReport(stdout, reps[i]); err != nil {
			return err
		}
		if o.NoTargets {
			continue
		}
		for _, v := range judge(reps[i].Results, reps[i].Targets, reps[i].Child) {
			switch v.Status {
			case statusPass:
				met++
			case statusFail:
				missed++
			}
		}
	}
	if consent != nil {
		v, err := writeConsent(stdout, *consent, o.ConsentTarget, o.NoTargets)
		if err != nil {
			return err
		}
		switch v.Status {
		case statusPass:
			met++
		case statusFail:
			missed++
		}
	}
	if len(reps) > 1 && o.Child == "run" && !o.NoTargets {
		var err error
		if missed == 0 {
			_, err = fmt.Fprintf(stdout, "\nbench: all %d jobs: %d of %d targets met\n", len(reps), met, met+missed)
		} else {
			_, err = fmt.Fprintf(stdout, "\nbench: all %d jobs: %d of %d targets met, %d MISSED\n", len(reps), met, met+missed, missed)
		}
		return err
	}
	return nil
}

// loadJob runs `dpstats explain --job JOB --format json` (or reads
// o.ExplainFile) and derives the floor's projection from it.
func loadJob(ctx context.Context, o options, spec string) (jobInfo, error) {
	var data []byte
	if o.ExplainFile != "" {
		var err error
		if data, err = os.ReadFile(o.ExplainFile); err != nil {
			return jobInfo{}, err
		}
	} else {
		cmd := exec.CommandContext(ctx, o.Bin, "explain", "--job", spec, "--format", "json")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return jobInfo{}, fmt.Errorf("learn the job's columns: %s: %w\n%s(use -explain FILE while `dpstats explain` is missing)",
				commandLine(o.Bin, cmd.Args[1:]), err, indent(strings.TrimSpace(stderr.String()), "    ")+"\n")
		}
		data = out
	}
	j, err := parseExplain(data)
	if err != nil {
		return jobInfo{}, err
	}
	if j.Name == "" {
		j.Name = strings.TrimSuffix(filepath.Base(spec), ".yaml")
	}
	return j, nil
}

// binVersion is the first line of `dpstats --version`, or "unknown".
func binVersion(ctx context.Context, bin string) string {
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// loadAverage is the 1-minute load average (Linux), or "".
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return parseLoadavg(string(data))
}

// parseLoadavg returns the first field of /proc/loadavg if it is a number.
func parseLoadavg(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	if _, err := strconv.ParseFloat(f[0], 64); err != nil {
		return ""
	}
	return f[0]
}

// envNotes lists the runtime settings inherited by the children that
// change what is measured.
func envNotes() []string {
	var notes []string
	for _, name := range []string{"GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG"} {
		if v := os.Getenv(name); v != "" {
			notes = append(notes, name+"="+v)
		}
	}
	return notes
}

// measure runs the floor and the child o.Count times each, interleaved, on
// one size's export.
func measure(ctx context.Context, o options, self string, job jobInfo, d dataset, log io.Writer) (result, error) {
	if err := warm(d.Events, d.Consent); err != nil {
		return result{}, err
	}
	r := result{Size: d.Size, Rows: d.Rows, EventsBytes: d.EventsBytes, Gen: d.Gen}
	for i := 1; i <= o.Count; i++ {
		u, out, err := runChild(ctx, child{Name: "floor " + d.Size.String(), Path: self,
			Args: []string{"-floor-scan", d.Events, "-floor-columns", strings.Join(job.Columns, ","),
				"-floor-goroutines", strconv.Itoa(max(1, job.FloorGoroutines))}})
		if err != nil {
			return r, err
		}
		n, err := parseFloorOutput(out)
		if err != nil {
			return r, err
		}
		if n != d.Rows {
			return r, fmt.Errorf("floor %s: read %d rows, the footer says %d", d.Size, n, d.Rows)
		}
		fmt.Fprintf(log, "bench: %s: %s: floor   %d/%d: %6.2f s, %s peak RSS\n", d.Size, job.Name, i, o.Count, u.Wall.Seconds(), formatBytes(u.MaxRSS))
		r.Floor = append(r.Floor, u)

		u, err = runJob(ctx, o, job, d, &r, log)
		if err != nil {
			return r, err
		}
		fmt.Fprintf(log, "bench: %s: %s: %-7s %d/%d: %6.2f s, %s peak RSS\n", d.Size, job.Name, o.Child, i, o.Count, u.Wall.Seconds(), formatBytes(u.MaxRSS))
		r.Child = append(r.Child, u)
	}
	return r, nil
}

// runJob runs the measured child once: `dpstats run` with a fresh output
// directory and ledger, or the inspect stand-in.
func runJob(ctx context.Context, o options, job jobInfo, d dataset, r *result, log io.Writer) (usage, error) {
	if o.Child == "inspect" {
		u, _, err := runChild(ctx, child{Name: "inspect " + d.Size.String(), Path: o.Bin, Args: []string{"inspect", d.Events}})
		return u, err
	}
	tmp, err := os.MkdirTemp("", "dpstats-bench-")
	if err != nil {
		return usage{}, err
	}
	out := filepath.Join(tmp, "out")
	ledgerPath := filepath.Join(tmp, "ledger.jsonl")
	// `dpstats run` never creates a ledger: make a fresh one (not measured).
	if _, _, err := runChild(ctx, child{Name: "ledger init " + d.Size.String(), Path: o.Bin,
		Args: []string{"ledger", "init", "--ledger", ledgerPath}}); err != nil {
		os.RemoveAll(tmp)
		return usage{}, err
	}
	args := []string{"run", "--job", job.Spec,
		"--input", d.Events, "--consent", d.Consent, "--period", o.Period,
		"--out", out, "--ledger", ledgerPath, "--rerun"}
	args = append(args, o.RunArgs...)
	if o.Profile {
		r.CPUProfile, r.MemProfile = filepath.Join(d.Dir, "cpu-"+job.Name+".prof"), filepath.Join(d.Dir, "mem-"+job.Name+".prof")
		args = append(args, "--cpuprofile", r.CPUProfile, "--memprofile", r.MemProfile)
	}
	logFile, err := os.Create(filepath.Join(tmp, "stderr.log"))
	if err != nil {
		return usage{}, err
	}
	u, _, err := runChild(ctx, child{Name: "run " + d.Size.String(), Path: o.Bin, Args: args, Log: logFile})
	if cerr := logFile.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		reportPath := filepath.Join(out, job.Name, o.Period, "report.json")
		if _, serr := os.Stat(reportPath); serr != nil {
			err = fmt.Errorf("run %s: exited 0 but wrote no %s", d.Size, reportPath)
			if errors.Is(serr, fs.ErrNotExist) {
				err = fmt.Errorf("%w (was the period already released?)", err)
			}
		}
	}
	if err != nil || o.Keep {
		fmt.Fprintf(log, "bench: %s: kept the run's output, ledger and stderr.log in %s\n", d.Size, tmp)
		return u, err
	}
	return u, os.RemoveAll(tmp)
}
