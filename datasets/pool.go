package datasets

import (
	mbits "math/bits"
	"sync"
	"testing"
)

// bufPool keeps the large buffers arrow-go frees (the columns of a record
// batch, once the reader is done with it) for the next batches of the same
// reader to reuse. Without it, every batch allocates its columns afresh:
// at 10M events about 1.2 GB of new memory, which the kernel must fault in
// and zero and the garbage collector must collect. A buffer is handed out
// again only after arrow-go freed it (its reference count reached zero),
// zeroed, as a fresh allocation would be.
//
// Sizes are rounded up to classes of a quarter of a power of two (at most
// 25% more than asked), and the pool holds at most poolMaxBytes: past that
// a freed buffer is left to the garbage collector.
type bufPool struct {
	mu    sync.Mutex
	free  map[int][][]byte // by class (= cap)
	bytes int
}

const (
	poolMinSize  = 64 << 10
	poolMaxBytes = 256 << 20
)

func newBufPool() *bufPool { return &bufPool{free: make(map[int][][]byte)} }

// poolClass returns the class of an allocation of size bytes (the capacity
// its buffer gets), or 0 for sizes the pool leaves to the Go allocator.
func poolClass(size int) int {
	if size < poolMinSize {
		return 0
	}
	k := mbits.Len(uint(size-1)) - 1 // 2^k < size ≤ 2^(k+1)
	step := 1 << (k - 2)
	return (size + step - 1) / step * step
}

// get returns a zeroed buffer of capacity class, or nil if none is free.
func (p *bufPool) get(class int) []byte {
	p.mu.Lock()
	list := p.free[class]
	if len(list) == 0 {
		p.mu.Unlock()
		return nil
	}
	b := list[len(list)-1]
	list[len(list)-1] = nil
	p.free[class] = list[:len(list)-1]
	p.bytes -= cap(b)
	p.mu.Unlock()
	b = b[:cap(b)]
	clear(b)
	return b
}

// put takes back a buffer whose capacity is its class. Under go test the
// buffer is filled with a pattern first, so that a read of freed memory
// shows as garbage in the tests' results instead of passing unnoticed.
func (p *bufPool) put(b []byte) {
	b = b[:cap(b)]
	if poisonFreed {
		for i := range b {
			b[i] = 0xa5
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bytes+cap(b) > poolMaxBytes {
		return
	}
	p.free[cap(b)] = append(p.free[cap(b)], b)
	p.bytes += cap(b)
}

var poisonFreed = testing.Testing()
