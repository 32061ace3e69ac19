package datasets

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// BenchmarkLoadConsent loads the consent export named by
// DPSTATS_BENCH_CONSENT (e.g. a `make bench` cache's
// .cache/bench/10000000-2000000/consent.parquet: 2M users), into a fresh
// UserIndex each time. Skipped when unset. It measures what the binary
// does: the recycled buffers are not poisoned (see bufPool.put), which
// under go test would cost a fifth of the load. Besides ns/op (wall) it
// reports cpu-ns/op, the process's CPU time (user + system) per load.
func BenchmarkLoadConsent(b *testing.B) {
	path := os.Getenv("DPSTATS_BENCH_CONSENT")
	if path == "" {
		b.Skip("DPSTATS_BENCH_CONSENT is not set")
	}
	defer func(p bool) { poisonFreed = p }(poisonFreed)
	poisonFreed = false
	for _, bc := range []struct {
		name string
		load func([]Input, *UserIndex, time.Time, ConsentColumns) error
	}{
		{"new", func(in []Input, u *UserIndex, t time.Time, c ConsentColumns) error {
			_, err := LoadConsentFrom(in, u, t, c)
			return err
		}},
		{"new-2decoders", func(in []Input, u *UserIndex, t time.Time, c ConsentColumns) error {
			defer func(n int) { consentDecoders = n }(consentDecoders)
			consentDecoders = 2
			_, err := LoadConsentFrom(in, u, t, c)
			return err
		}},
		// The user column read by pqarrow instead of raw (see
		// consentUserRead): as a dictionary where dictionaryLeaf finds it
		// pays (not in the bench's exports: their dictionaries overflow
		// into plain pages), else and in new-plainusers as plain strings.
		{"new-dictusers", func(in []Input, u *UserIndex, t time.Time, c ConsentColumns) error {
			defer func(r consentUserRead) { consentUserReads = r }(consentUserReads)
			consentUserReads = readUserDict
			_, err := LoadConsentFrom(in, u, t, c)
			return err
		}},
		{"new-plainusers", func(in []Input, u *UserIndex, t time.Time, c ConsentColumns) error {
			defer func(r consentUserRead) { consentUserReads = r }(consentUserReads)
			consentUserReads = readUserPlain
			_, err := LoadConsentFrom(in, u, t, c)
			return err
		}},
		// The loader before the pipeline (consent_ref_test.go), to compare
		// in one binary, interleaved: go test -bench LoadConsent -count 5.
		{"ref", func(in []Input, u *UserIndex, t time.Time, c ConsentColumns) error {
			_, err := refLoadConsentFrom(in, u, t, c)
			return err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			asOf := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
			cpu0 := cpuTime()
			for b.Loop() {
				if err := bc.load([]Input{{Name: path}}, NewUserIndex(), asOf, ConsentColumns{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
