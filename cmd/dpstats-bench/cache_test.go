package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func testOptions(t *testing.T, bin string) options {
	t.Helper()
	o, err := parseArgs([]string{"-bin", bin, "-cache", t.TempDir(), "-sizes", "1k:10,3k:10"}, env(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestEnsureDatasetGeneratesOnceThenReuses(t *testing.T) {
	o := testOptions(t, fakeBin(t))
	s := size{Rows: 1500, Users: 10}
	var log strings.Builder
	d, err := ensureDataset(testContext(t), o, s, "dpstats version fake", &log)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Dir, filepath.Join(o.Cache, "1500-10"); got != want {
		t.Errorf("Dir = %q, want %q", got, want)
	}
	if d.Rows != 1500 || d.EventsBytes == 0 || d.ConsentBytes == 0 || d.Gen.Wall == 0 {
		t.Errorf("dataset = %+v", d)
	}
	m := readMarker(t, d.Dir)
	if !slices.Equal(m.Args, genArgs(o, s)) || m.Rows != 1500 || m.Generator != "dpstats version fake" {
		t.Errorf("marker = %+v", m)
	}
	if !strings.Contains(log.String(), "generating 1500 events of 10 users") {
		t.Errorf("log = %q", log.String())
	}

	// Second time: the cache, no generation.
	log.Reset()
	d2, err := ensureDataset(testContext(t), o, s, "dpstats version fake", &log)
	if err != nil {
		t.Fatal(err)
	}
	if d2.Gen.Wall != 0 || d2.Rows != 1500 || !strings.Contains(log.String(), "using the cached export") {
		t.Errorf("reuse: dataset = %+v, log = %q", d2, log.String())
	}
}

func TestEnsureDatasetDistrustsIncompleteCache(t *testing.T) {
	o := testOptions(t, fakeBin(t))
	s := size{Rows: 1000, Users: 10}
	d, err := ensureDataset(testContext(t), o, s, "v", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for name, spoil := range map[string]func(){
		"no marker (gen interrupted)": func() { os.Remove(filepath.Join(d.Dir, markerName)) },
		"truncated events":            func() { os.Truncate(d.Events, 10) },
		"missing consent":             func() { os.Remove(d.Consent) },
		"marker of other arguments":   func() { o.Seed = 2 },
	} {
		t.Run(name, func(t *testing.T) {
			spoil()
			if _, ok := cachedDataset(d.Dir, genArgs(o, s)); ok {
				t.Fatal("cachedDataset trusts a spoiled cache")
			}
			var log strings.Builder
			d2, err := ensureDataset(testContext(t), o, s, "v", &log)
			if err != nil {
				t.Fatal(err)
			}
			if d2.Gen.Wall == 0 || !strings.Contains(log.String(), "generating") {
				t.Errorf("did not regenerate: %q", log.String())
			}
			if _, ok := cachedDataset(d.Dir, genArgs(o, s)); !ok {
				t.Error("the regenerated cache is not trusted")
			}
		})
	}
}

func TestEnsureDatasetGenFailure(t *testing.T) {
	o := testOptions(t, fakeBin(t))
	t.Setenv("DPSTATS_BENCH_TEST_ROLE", "fail")
	_, err := ensureDataset(testContext(t), o, size{Rows: 10, Users: 1}, "v", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "gen 10/1") {
		t.Fatalf("err = %v, want the gen failure", err)
	}
	if _, err := os.Stat(filepath.Join(o.Cache, "10-1", markerName)); err == nil {
		t.Error("a failed generation left a marker")
	}
}
