package engine

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/memfs"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/jobs"
	"github.com/dpstats/dpstats/jobs/ledger"
)

// Remote inputs end to end without a cloud: the exports are in Beam's
// in-memory filesystem (memfs://), which the driver cannot stat or open;
// the driver passes the URIs through (datasets.FileInputsDedup, as the
// command line does), the engine's Check finds them before the charge, and
// the pipeline reads them through Beam's filesystems.
func TestRemoteInputsMemfs(t *testing.T) {
	var ev, co bytes.Buffer
	if err := datasets.Generate(datasets.GenOptions{Rows: 600, Users: 120, Seed: 11, Start: day, BatchRows: 201}, &ev, &co); err != nil {
		t.Fatal(err)
	}
	const evURI, coURI = "memfs://exports/events/2026-11-01.parquet", "memfs://exports/consent/latest.parquet"
	memfs.Write(evURI, ev.Bytes())
	memfs.Write(coURI, co.Bytes())
	t.Setenv("TMPDIR", t.TempDir())
	spec := parseSpec(t, equivSpec)

	run := func(t *testing.T, events, consent []string) (*jobs.Result, *ledger.File, string, error) {
		t.Helper()
		dir := t.TempDir()
		l, _, err := ledger.Init(filepath.Join(dir, "ledger.jsonl"))
		must(t, err)
		evs, dups, err := datasets.FileInputsDedup(events)
		must(t, err)
		if len(events) > 1 && events[0] == events[1] && len(dups) != 1 {
			t.Errorf("dups = %v, want the repeated URI", dups)
		}
		cos, _, err := datasets.FileInputsDedup(consent)
		must(t, err)
		out := filepath.Join(dir, "out")
		res, err := jobs.Run(context.Background(), jobs.Config{Spec: spec, Events: evs, Consent: cos, Period: day.Format(time.DateOnly),
			OutDir: out, Ledger: l, Now: func() time.Time { return now }, Engine: beamEngine(t)})
		return res, l, out, err
	}
	entries := func(t *testing.T, l *ledger.File) []ledger.Entry {
		es, err := l.Entries()
		must(t, err)
		return es
	}
	unpublished := func(t *testing.T, out string) {
		if _, err := os.Stat(filepath.Join(out, spec.Name, day.Format(time.DateOnly))); !os.IsNotExist(err) {
			t.Errorf("a refused run created its report directory (stat: %v)", err)
		}
	}

	t.Run("released", func(t *testing.T) {
		res, l, _, err := run(t, []string{evURI, evURI}, []string{coURI})
		if err != nil || res.Status != jobs.StatusReleased {
			t.Fatalf("Run = %+v, %v; want released", res, err)
		}
		if _, err := os.Stat(filepath.Join(res.Dir, "report.json")); err != nil {
			t.Errorf("no report published: %v", err)
		}
		es := entries(t, l)
		if len(es) != 1 || !es[0].Submitted || es[0].Engine != Name || es[0].Epsilon <= 0 {
			t.Errorf("ledger = %+v, want one charge recorded at submit by the beam engine", es)
		}
	})

	for _, c := range []struct {
		name            string
		events, consent string
		missing         bool // else: ErrConfig
	}{
		{"missing events file", "memfs://exports/events/2026-11-02.parquet", coURI, true},
		{"missing consent file", evURI, "memfs://exports/consent/nope.parquet", true},
		{"unknown scheme", "nosuchfs://bucket/events.parquet", coURI, false},
	} {
		t.Run(c.name+": refused before the charge", func(t *testing.T) {
			_, l, out, err := run(t, []string{c.events}, []string{c.consent})
			bad := c.events
			if bad == evURI {
				bad = c.consent
			}
			var ie *datasets.InputError
			switch {
			case err == nil:
				t.Fatal("Run succeeded")
			case c.missing && (!errors.Is(err, datasets.ErrInputMissing) || !errors.As(err, &ie) || ie.File != bad):
				t.Errorf("Run = %v, want an input error naming %s, wrapping ErrInputMissing", err, bad)
			case !c.missing && (!errors.Is(err, jobs.ErrConfig) || !strings.Contains(err.Error(), bad)):
				t.Errorf("Run = %v, want ErrConfig naming %s", err, bad)
			}
			if es := entries(t, l); len(es) != 0 {
				t.Errorf("ledger = %+v, want nothing charged", es)
			}
			unpublished(t, out)
		})
	}
}
