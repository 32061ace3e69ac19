package datasets

import (
	"fmt"
	"strings"
	"testing"
)

// TestUserIndexStrings checks the user id table against a Go map, one id
// at a time and a batch at a time (internStrings), with short (inline) and
// long (arena) ids, ids that differ only in length or in their last byte,
// and enough ids to grow the table many times.
func TestUserIndexStrings(t *testing.T) {
	keys := []string{"a", "u0000001", strings.Repeat("x", inlineKey), strings.Repeat("x", inlineKey+1),
		strings.Repeat("x", inlineKey-1), strings.Repeat("long-user-id-", 10), strings.Repeat("long-user-id-", 10) + "!"}
	for i := 0; i < 50_000; i++ {
		keys = append(keys, fmt.Sprintf("u%07d", i), fmt.Sprintf("user-with-a-long-id-%d", i), fmt.Sprintf("u%07d", i/2))
	}
	for _, batch := range []bool{false, true} {
		x := NewUserIndex()
		want := map[string]uint32{}
		got := make([]uint32, len(keys))
		if batch {
			for lo := 0; lo < len(keys); lo += 1000 {
				hi := min(lo+1000, len(keys))
				x.internStrings(keys[lo:hi], got[lo:hi])
			}
		} else {
			for j, k := range keys {
				got[j] = x.ID(k)
			}
		}
		for j, k := range keys {
			id, seen := want[k]
			if !seen {
				id = uint32(len(want)) // ids are dense, in order of first appearance
				want[k] = id
			}
			if got[j] != id {
				t.Fatalf("batch %v: id of %q = %d, want %d", batch, k, got[j], id)
			}
		}
		if got, want := x.Len(), len(want); got != want {
			t.Errorf("batch %v: Len = %d, want %d", batch, got, want)
		}
		for k, id := range want {
			if got, ok := x.Lookup(k); !ok || got != id {
				t.Fatalf("Lookup(%q) = %d, %v; want %d", k, got, ok, id)
			}
		}
		for _, k := range []string{"b", "u0000001 ", strings.Repeat("x", inlineKey+2), "user-with-a-long-id-50000", ""} {
			if _, ok := x.Lookup(k); ok {
				t.Errorf("Lookup(%q) found an id never interned", k)
			}
		}
	}
}

// BenchmarkUserIndex interns ids of 200k and of 2M distinct users (a
// table past the CPU caches, and at 2M past the TLB's reach with 4 KiB
// pages) in random order, one at a time and a batch at a time.
func BenchmarkUserIndex(b *testing.B) {
	for _, users := range []int{200_000, 2_000_000} {
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) { benchmarkUserIndex(b, users) })
	}
}

func benchmarkUserIndex(b *testing.B, users int) {
	ids := make([]string, 1<<16)
	for i := range ids {
		ids[i] = fmt.Sprintf("u%07d", (i*104729)%users)
	}
	x := NewUserIndex()
	for i := range users {
		x.ID(fmt.Sprintf("u%07d", i))
	}
	out := make([]uint32, len(ids))
	b.Run("ID", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for j, s := range ids {
				out[j] = x.ID(s)
			}
		}
		b.ReportMetric(float64(b.N*len(ids))/b.Elapsed().Seconds(), "ids/s")
	})
	b.Run("internStrings", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			x.internStrings(ids, out)
		}
		b.ReportMetric(float64(b.N*len(ids))/b.Elapsed().Seconds(), "ids/s")
	})
}

// TestInternTableOffHeap grows the table well past offHeapMin (its slots
// then live in memory maps, replaced at each growth): every id is still
// found, with its number, and long keys too.
func TestInternTableOffHeap(t *testing.T) {
	x := NewUserIndex()
	const n = 120_000 // 262144 slots × 28 B: mapped
	key := func(i int) string {
		if i%7 == 0 {
			return fmt.Sprintf("a-rather-long-user-id-%08d", i) // in the arena
		}
		return fmt.Sprintf("u%d", i)
	}
	for i := range n {
		if got := x.ID(key(i)); got != uint32(i) {
			t.Fatalf("ID(%q) = %d, want %d", key(i), got, i)
		}
	}
	if m := mapZeroed(1); m != nil { // the OS has memory maps
		unmap(m)
		if *x.byString.mapped == nil {
			t.Error("the slots of a big table are not in a memory map")
		}
	}
	for i := range n {
		if got, ok := x.Lookup(key(i)); !ok || got != uint32(i) {
			t.Fatalf("Lookup(%q) = %d, %v; want %d", key(i), got, ok, i)
		}
	}
	if _, ok := x.Lookup("u-none"); ok {
		t.Error("Lookup of an id never interned succeeded")
	}
}

// TestGrowInt64s grows a slice from the heap into memory maps: the
// contents are kept, and a map is replaced (the old one unmapped) at each
// growth.
func TestGrowInt64s(t *testing.T) {
	var s []int64
	var mem []byte
	for _, n := range []int{3, 1000, offHeapMin / 8, offHeapMin / 4, offHeapMin/4 - 1} {
		old := len(s)
		s = growInt64s(s, &mem, n)
		if len(s) != n {
			t.Fatalf("len %d, want %d", len(s), n)
		}
		for i := range min(old, n) {
			if s[i] != int64(i)*3 {
				t.Fatalf("element %d is %d after growing to %d, want %d", i, s[i], n, i*3)
			}
		}
		for i := old; i < n; i++ {
			s[i] = int64(i) * 3
		}
		if n*8 >= offHeapMin && mem == nil {
			if m := mapZeroed(1); m != nil {
				unmap(m)
				t.Errorf("%d int64s are not in a memory map", n)
			}
		}
	}
	if mem != nil {
		unmap(mem)
	}
}
