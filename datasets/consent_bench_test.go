package datasets

import (
	"os"
	"testing"
	"time"
)

// BenchmarkLoadConsent loads the consent export named by
// DPSTATS_BENCH_CONSENT (e.g. a `make bench` cache's
// .cache/bench/10000000-2000000/consent.parquet: 2M users), into a fresh
// UserIndex each time. Skipped when unset.
func BenchmarkLoadConsent(b *testing.B) {
	path := os.Getenv("DPSTATS_BENCH_CONSENT")
	if path == "" {
		b.Skip("DPSTATS_BENCH_CONSENT is not set")
	}
	asOf := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		users := NewUserIndex()
		if _, err := LoadConsent([]string{path}, users, asOf, ConsentColumns{}); err != nil {
			b.Fatal(err)
		}
	}
}
