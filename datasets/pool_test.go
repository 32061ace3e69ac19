package datasets

import (
	"bytes"
	"errors"
	"testing"
)

// TestPoolClass: a class holds its size with at most 25% to spare, is its
// own class, and small sizes are left to the Go allocator.
func TestPoolClass(t *testing.T) {
	if c := poolClass(poolMinSize - 1); c != 0 {
		t.Errorf("poolClass(%d) = %d, want 0", poolMinSize-1, c)
	}
	for size := poolMinSize; size < 64<<20; size += size/7 + 1 {
		c := poolClass(size)
		if c < size || 4*c > 5*size {
			t.Fatalf("poolClass(%d) = %d: not within [size, 1.25 size]", size, c)
		}
		if poolClass(c) != c {
			t.Fatalf("poolClass(%d) = %d, whose class is %d", size, c, poolClass(c))
		}
	}
}

// TestBudgetAllocatorPool checks that a pooled allocator keeps the budget's
// books (held bytes return to zero), hands a freed buffer out again zeroed,
// keeps a buffer's content when it grows, and still refuses past the limit.
func TestBudgetAllocatorPool(t *testing.T) {
	pool := newBufPool()
	b := newBudgetAllocator(4<<20, 2<<20)
	b.pool = pool
	x := b.Allocate(100_000)
	if len(x) != 100_000 || cap(x) != poolClass(100_000) {
		t.Fatalf("len %d cap %d, want 100000 and the class %d", len(x), cap(x), poolClass(100_000))
	}
	if got, want := b.Held(), int64(cap(x)); got != want {
		t.Errorf("Held = %d, want %d (the class)", got, want)
	}
	for i := range x {
		x[i] = 7
	}
	y := b.Reallocate(300_000, x)
	if !bytes.Equal(y[:100_000], bytes.Repeat([]byte{7}, 100_000)) {
		t.Error("Reallocate lost the buffer's content")
	}
	if got, want := b.Held(), int64(cap(y)); got != want {
		t.Errorf("Held after Reallocate = %d, want %d", got, want)
	}
	b.Free(y)
	if got := b.Held(); got != 0 {
		t.Errorf("Held after Free = %d, want 0", got)
	}
	// Both buffers are in the pool now: the same sizes come from it, zeroed.
	if pool.bytes != cap(x)+cap(y) {
		t.Errorf("pool holds %d bytes, want %d", pool.bytes, cap(x)+cap(y))
	}
	z := b.Allocate(300_000)
	if &z[0] != &y[0] {
		t.Error("a freed buffer of the same class was not reused")
	}
	if !bytes.Equal(z[:cap(z)], make([]byte, cap(z))) {
		t.Error("a reused buffer is not zeroed")
	}
	func() {
		defer func() {
			if err, _ := recover().(error); !errors.Is(err, ErrBudget) {
				t.Errorf("past the limit: panic %v, want ErrBudget", err)
			}
		}()
		b.Allocate(2 << 20)
		b.Allocate(2 << 20)
	}()
}
