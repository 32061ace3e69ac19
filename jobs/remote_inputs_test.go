package jobs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/dp"
)

// uriEngine is a fakeEngine that reads remote inputs (URIs) from files, the
// way the beam engine reads them through its filesystems, and records the
// inputs its Check and Aggregate were given.
type uriEngine struct {
	*fakeEngine
	files                  map[string]datasets.Input
	checked, aggregated    []string
	checkedConsent, consen []string
}

func names(in []datasets.Input) []string {
	var out []string
	for _, x := range in {
		out = append(out, x.Name)
	}
	return out
}

func (u *uriEngine) Check(ctx context.Context, in EngineInput) error {
	u.checked, u.checkedConsent = names(in.Events), names(in.Consent)
	return u.fakeEngine.Check(ctx, in)
}

func (u *uriEngine) Aggregate(ctx context.Context, in EngineInput) ([]*dp.Released, error) {
	u.aggregated, u.consen = names(in.Events), names(in.Consent)
	resolve := func(xs []datasets.Input) []datasets.Input {
		out := make([]datasets.Input, len(xs))
		for i, x := range xs {
			f, ok := u.files[x.Name]
			if !ok {
				u.t.Fatalf("the engine got %q, which it cannot read", x.Name)
			}
			out[i] = f
		}
		return out
	}
	in.Events, in.Consent = resolve(in.Events), resolve(in.Consent)
	return u.fakeEngine.Aggregate(ctx, in)
}

// Remote inputs (URIs) reach an engine as given, deduplicated by their
// spelling, without the driver's inode dedup or schema check (either would
// fail on a URI: there is no such local file); the local engine refuses
// them before anything is locked, read or charged.
func TestRemoteInputs(t *testing.T) {
	evs, gs := population(60)
	const evURI, coURI = "memfs://exports/events/2026-11-01.parquet", "gs://bucket/consent/latest.parquet"
	remote := func(h *harness, spec *Spec) (Config, map[string]datasets.Input) {
		local := h.with(spec, evs, gs)
		files := map[string]datasets.Input{evURI: local.Events[0], coURI: local.Consent[0]}
		cfg := h.config(spec,
			[]datasets.Input{datasets.RemoteInput(evURI), datasets.RemoteInput(evURI)},
			[]datasets.Input{datasets.RemoteInput(coURI)})
		return cfg, files
	}

	t.Run("an engine gets them, once each, unchecked by the driver", func(t *testing.T) {
		for _, chargesFirst := range []bool{true, false} {
			h := newHarness(t)
			spec := specIn(t, AccountingPure, 1, 10)
			cfg, files := remote(h, spec)
			u := &uriEngine{fakeEngine: &fakeEngine{t: t, chargesFirst: chargesFirst}, files: files}
			cfg.Engine = u
			res, err := Run(context.Background(), cfg)
			if err != nil || res.Status != StatusReleased {
				t.Fatalf("chargesFirst=%v: Run = %+v, %v; want released", chargesFirst, res, err)
			}
			for _, got := range [][]string{u.checked, u.aggregated} {
				if !slices.Equal(got, []string{evURI}) {
					t.Errorf("engine got events %q, want [%s] (the duplicate spelling dropped)", got, evURI)
				}
			}
			for _, got := range [][]string{u.checkedConsent, u.consen} {
				if !slices.Equal(got, []string{coURI}) {
					t.Errorf("engine got consent %q, want [%s]", got, coURI)
				}
			}
			if es := h.entries(); len(es) != 1 {
				t.Errorf("ledger has %d entries, want the one release", len(es))
			}
		}
	})

	t.Run("the local engine refuses them before anything", func(t *testing.T) {
		for _, side := range []string{"events", "consent"} {
			h := newHarness(t)
			spec := specIn(t, AccountingPure, 1, 10)
			cfg := h.with(spec, evs, gs)
			uri := evURI
			if side == "events" {
				cfg.Events = append(cfg.Events, datasets.RemoteInput(uri))
			} else {
				uri = coURI
				cfg.Consent = append([]datasets.Input{datasets.RemoteInput(uri)}, cfg.Consent...)
			}
			_, err := Run(context.Background(), cfg)
			if !errors.Is(err, ErrConfig) || !errors.Is(err, datasets.ErrRemoteInput) {
				t.Fatalf("%s: Run = %v, want ErrConfig and ErrRemoteInput", side, err)
			}
			for _, want := range []string{side, uri, "--engine beam"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s: error %q does not say %q", side, err, want)
				}
			}
			if es := h.entries(); len(es) != 0 {
				t.Errorf("%s: ledger has %d entries, want none", side, len(es))
			}
			nothingPublished(t, h)
		}
	})

	t.Run("local inputs next to remote ones are still checked", func(t *testing.T) {
		h := newHarness(t)
		spec := specIn(t, AccountingPure, 1, 10)
		cfg, files := remote(h, spec)
		cfg.Consent = append(cfg.Consent, unreadable()...)
		u := &uriEngine{fakeEngine: &fakeEngine{t: t, chargesFirst: true}, files: files}
		cfg.Engine = u
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Fatal("Run over an unreadable local consent export next to a URI succeeded")
		}
		if u.checks != 0 || u.calls != 0 || len(h.entries()) != 0 {
			t.Errorf("engine checked %d, called %d, ledger %d entries; want 0, 0, 0", u.checks, u.calls, len(h.entries()))
		}
	})
}
