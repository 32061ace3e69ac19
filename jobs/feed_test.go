package jobs

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/dp"
)

// TestFeedMatchesRowByRow: the batched feeds (consent per user run and
// category, shared feeds, per-user tallies of counts, chunked hand-over)
// give every metric of the run spec the state that adding each allowed row
// on its own gives: over batches sorted by user, with users granted for
// the whole period, from an instant inside it (only their later events
// count), or not at all, users absent from the consent export, null and
// empty dimension values, invalid numbers and codes of values first seen
// in a later batch. Both sides have the same bounding seed, so the kept
// partitions and values are the same; the releases then differ only by
// noise: with ε = 10⁶ (exactSpec), a count's Laplace noise exceeds 0.02
// with probability below e⁻¹⁰⁰⁰, and the tolerances are those of
// TestRunWorkersSameRelease.
func TestFeedMatchesRowByRow(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const consented, extra = 600, 40
	var gs []grant
	for u := range consented {
		name := fmt.Sprintf("u%04d", u)
		for _, c := range []string{"product_usage", "playback_stats"} {
			switch r.IntN(4) {
			case 0, 1:
				gs = append(gs, grant{name, c, true, day.Add(-time.Hour)})
			case 2:
				gs = append(gs, grant{name, c, true, day.Add(time.Duration(r.IntN(24)) * time.Hour)})
			default:
				gs = append(gs, grant{name, c, false, day.Add(-time.Hour)})
			}
		}
	}
	idx := datasets.NewUserIndex()
	con, err := datasets.LoadConsentFrom([]datasets.Input{consentFile(t, gs)}, idx, afterDay, datasets.ConsentColumns{})
	if err != nil {
		t.Fatal(err)
	}
	spec := exactSpec(t)
	seed := int64(11)
	opts := spec.MetricOptions(&seed)
	plan, err := spec.compile()
	if err != nil {
		t.Fatal(err)
	}
	refs := make([]*dp.Aggregator, len(plan.feeds))
	for i, f := range plan.feeds {
		if f.agg, err = dp.NewAggregator(opts[i]); err != nil {
			t.Fatal(err)
		}
		refs[i], _ = dp.NewAggregator(opts[i])
		f.grants = con.GrantsDuring(plan.categories[i], day, day.Add(24*time.Hour))
	}
	if !plan.feeds[0].grants.Partial() {
		t.Fatal("no grant began during the period: the test covers less than it says")
	}
	dims := [][]string{{"tv", "phone", "", "radio"}, {"h264", "", "av1", "vp9"}}
	leaders := shareFeeds(plan.feeds)
	if len(leaders) >= len(plan.feeds) {
		t.Fatalf("%d feeds for %d metrics: device_share and device_users should share one", len(leaders), len(plan.feeds))
	}
	group, grants := consentGroups(leaders)
	var spare sortBuffers
	for batch := range 3 {
		const rows = 5000
		var b sharedBatch
		b.Len = rows
		b.Users = make([]uint32, rows)
		b.Times = make([]int64, rows)
		b.Codes = [][]int32{make([]int32, rows), make([]int32, rows)}
		b.Numbers = [][]int64{make([]int64, rows), make([]int64, rows)}
		b.NumberValid = [][]bool{make([]bool, rows), make([]bool, rows)}
		seen := 2 + batch // codes of values first seen in later batches
		for i := range rows {
			u := r.IntN(consented + extra)
			if r.IntN(3) == 0 {
				u = r.IntN(20) // heavy users: cut by the caps
			}
			b.Users[i] = uint32(u)
			b.Times[i] = day.Add(time.Duration(r.Int64N(int64(24 * time.Hour)))).UnixNano()
			for d := range b.Codes {
				b.Codes[d][i] = int32(r.IntN(min(seen, len(dims[d]))+1)) - 1 // -1: null
			}
			for k := range b.Numbers {
				b.Numbers[k][i] = r.Int64N(3000)
				b.NumberValid[k][i] = r.IntN(10) > 0
			}
		}
		b.values = [][]string{dims[0][:min(seen, 4)], dims[1][:min(seen, 4)]}
		b.numUsers = consented + extra
		b.sortRows(&spare)
		if !slices.IsSorted(b.Users) {
			t.Fatal("sortRows left the batch unsorted")
		}
		b.buildRuns(grants)
		for i, f := range leaders {
			f.add(&b.EventBatch, b.dimValues, &b.runs[group[i]])
		}
		for i, f := range plan.feeds {
			refAdd(refs[i], f, &b.EventBatch, b.values)
		}
	}
	for i, f := range plan.feeds {
		var names []string
		if f.selected {
			names = dims[f.dim]
		}
		got, err := f.agg.Release(names)
		if err != nil {
			t.Fatal(err)
		}
		want, err := refs[i].Release(names)
		if err != nil {
			t.Fatal(err)
		}
		tol := 0.02
		if f.valueNum >= 0 {
			tol = 0.5
		}
		if len(got.Partitions) != len(want.Partitions) {
			t.Fatalf("%s: %d partitions, row by row %d", got.Name, len(got.Partitions), len(want.Partitions))
		}
		nonzero := false
		for j, p := range got.Partitions {
			w := want.Partitions[j]
			if p.Name != w.Name || math.Abs(p.Value-w.Value) > tol {
				t.Errorf("%s[%s] = %v, row by row %s = %v", got.Name, p.Name, p.Value, w.Name, w.Value)
			}
			nonzero = nonzero || w.Value > 1
		}
		if !nonzero {
			t.Errorf("%s: nothing released above 1: the test feeds nothing", got.Name)
		}
	}
}

// refAdd is the reference feed: every row on its own, in the batch's
// order, through Grants.AllowedAt and Aggregator.Add or AddEvents.
func refAdd(agg *dp.Aggregator, f *feed, b *datasets.EventBatch, values [][]string) {
	for i := range b.Len {
		u := b.Users[i]
		if !f.grants.AllowedAt(u, b.Times[i]) {
			continue
		}
		part := f.other
		switch {
		case f.dim >= 0:
			c := b.Codes[f.dim][i]
			if c < 0 || values[f.dim][c] == "" {
				continue
			}
			switch idx, ok := f.public[values[f.dim][c]]; {
			case f.selected:
				part = c
			case ok:
				part = idx
			}
		case f.bucketNum >= 0:
			if !b.NumberValid[f.bucketNum][i] {
				continue
			}
			part = int32(f.buckets.Bucket(b.Numbers[f.bucketNum][i]))
		}
		if f.valueNum >= 0 {
			if b.NumberValid[f.valueNum][i] {
				agg.Add(u, part, float64(b.Numbers[f.valueNum][i]))
			}
			continue
		}
		agg.AddEvents(u, part, 1)
	}
}

func TestBucketOf(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, edges := range [][]int64{{0}, {0, 500, 1000, 2000, 4000, 8000, 16000, 40000}, {-5, 0, 60, 300, 900, 1800, 3600, 5400, 7200, 10800}, {math.MinInt64, 0, math.MaxInt64}} {
		g := datasets.Generalizer{Edges: edges}
		for _, v := range []int64{math.MinInt64, -6, -5, -1, 0, 1, 499, 500, 40000, 40001, math.MaxInt64} {
			if got, want := bucketOf(edges, v), int32(g.Bucket(v)); got != want {
				t.Errorf("bucketOf(%v, %d) = %d, Generalizer.Bucket %d", edges, v, got, want)
			}
		}
		for range 1000 {
			v := r.Int64N(50000) - 100
			if got, want := bucketOf(edges, v), int32(g.Bucket(v)); got != want {
				t.Fatalf("bucketOf(%v, %d) = %d, Generalizer.Bucket %d", edges, v, got, want)
			}
		}
	}
}

func TestUserRuns(t *testing.T) {
	gs := []grant{
		{"whole", "c", true, day.Add(-time.Hour)},
		{"later", "c", true, day.Add(6 * time.Hour)},
		{"never", "c", false, day.Add(-time.Hour)},
	}
	idx := datasets.NewUserIndex()
	con, err := datasets.LoadConsentFrom([]datasets.Input{consentFile(t, gs)}, idx, afterDay, datasets.ConsentColumns{})
	if err != nil {
		t.Fatal(err)
	}
	g := con.GrantsDuring("c", day, day.Add(24*time.Hour))
	// UserIndex numbers in consent order: whole 0, later 1, never 2; 3 is
	// not in the export.
	users := []uint32{0, 0, 1, 1, 1, 2, 3, 3, 0}
	times := make([]int64, len(users))
	var r userRuns
	r.build(users, times, g)
	if want := []span{{0, 2}, {2, 5}, {8, 9}}; !slices.Equal(r.spans, want) {
		t.Errorf("spans %v, want %v", r.spans, want)
	}
	if want := []int64{math.MinInt64, day.Add(6 * time.Hour).UnixNano(), math.MinInt64}; !slices.Equal(r.from, want) {
		t.Errorf("from %v, want %v", r.from, want)
	}
	r.build(users, nil, g) // no times: only whole-period users
	if want := []span{{0, 2}, {8, 9}}; !slices.Equal(r.spans, want) || r.from != nil {
		t.Errorf("without times: spans %v from %v, want %v and none", r.spans, r.from, want)
	}
}

func TestShareAndSplitFeeds(t *testing.T) {
	plan, err := exactSpec(t).compile()
	if err != nil {
		t.Fatal(err)
	}
	leaders := shareFeeds(plan.feeds)
	// device_share and device_users: the same consent, dimension and
	// partitions, no value; every other metric differs in one of them.
	if len(leaders) != len(plan.feeds)-1 || len(leaders[0].shares) != 1 || leaders[0].shares[0] != plan.feeds[1] {
		t.Fatalf("leaders %d of %d feeds; want device_users fed by device_share", len(leaders), len(plan.feeds))
	}
	f := *plan.feeds[0]
	f.category = "other"
	g := *plan.feeds[0]
	g.public = map[string]int32{"tv": 1, "phone": 0}
	if k := plan.feeds[0].sourceKey(); f.sourceKey() == k || g.sourceKey() == k {
		t.Error("feeds of another consent or other partitions share a source key")
	}
	for workers := 1; workers <= 5; workers++ {
		split := splitFeeds(leaders, workers)
		var all []int
		for _, s := range split {
			if !slices.IsSorted(s) {
				t.Errorf("workers %d: %v not in feed order", workers, s)
			}
			all = append(all, s...)
		}
		slices.Sort(all)
		if len(all) != len(leaders) || len(slices.Compact(all)) != len(leaders) {
			t.Errorf("workers %d: split %v is not every feed once", workers, split)
		}
	}
	// Two workers: the costliest feed alone cannot outweigh the rest by more
	// than itself.
	split := splitFeeds(leaders, 2)
	var load [2]float64
	maxCost := 0.0
	for w, s := range split {
		for _, i := range s {
			load[w] += leaders[i].cost()
			maxCost = max(maxCost, leaders[i].cost())
		}
	}
	if math.Abs(load[0]-load[1]) > maxCost {
		t.Errorf("loads %v differ by more than the costliest feed (%v)", load, maxCost)
	}
}

// TestSortByUser: sortByUser is a stable sort by user for every number of
// user bits (one, two and three radix passes), keeping every row once.
func TestSortByUser(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var keys, scratch []uint64
	for _, numUsers := range []int{0, 1, 2, 7, 2048, 2049, 200_000, 1 << 22, 1<<22 + 1, math.MaxUint32} {
		for _, n := range []int{0, 1, 1000} {
			users := make([]uint32, n)
			for i := range users {
				if numUsers > 0 {
					users[i] = uint32(r.Int64N(int64(numUsers)))
				}
				if numUsers > 16 && r.IntN(4) == 0 {
					users[i] = uint32(numUsers - 1 - r.IntN(8)) // duplicates at the top
				}
			}
			want := make([]int32, n)
			for i := range want {
				want[i] = int32(i)
			}
			slices.SortStableFunc(want, func(a, b int32) int { return int(users[a]) - int(users[b]) })
			keys, scratch = sortByUser(users, keys, scratch, numUsers)
			got := make([]int32, n)
			for j, k := range keys[:n] {
				got[j] = int32(uint32(k))
				if uint32(k>>32) != users[got[j]] {
					t.Fatalf("numUsers %d: key %x does not carry row %d's user %d", numUsers, k, got[j], users[got[j]])
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("numUsers %d, %d rows: order %v, want %v", numUsers, n, got[:min(n, 20)], want[:min(n, 20)])
			}
		}
	}
}
