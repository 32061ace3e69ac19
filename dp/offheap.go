package dp

import (
	"runtime"
	"sync"
	"unsafe"
)

// Off-heap per-user state. The bounding state of a run is large (bytes per
// user × millions of users), lives for the whole run and holds no
// pointers. On the Go heap it would also raise the garbage collector's
// goal (GOGC% above the live heap): the decoded record batches, which are
// garbage at a high rate, would then be allowed to pile up in proportion
// to the number of users. Outside the heap (anonymous memory maps where the
// OS has them, see mapZeroed) it costs exactly its size, and the heap
// stays small.

// offHeapMin is the smallest allocation worth a memory map of its own.
const offHeapMin = 1 << 20

// mappings are the memory maps of one bounder, unmapped when they are
// replaced (growth) or when the bounder is garbage.
type mappings struct {
	mu   sync.Mutex
	maps map[unsafe.Pointer][]byte
}

func (m *mappings) unmapAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p, mem := range m.maps {
		unmap(mem)
		delete(m.maps, p)
	}
}

// growSlice returns s with length need, its first len(s) elements kept
// and the rest zero. A new array comes from a memory map when it is big
// enough and the OS has them (the old one, if mapped, is unmapped), else
// from the heap. T must hold no pointers.
func growSlice[T any](m *mappings, s []T, need int) []T {
	if need <= cap(s) {
		return s[:need]
	}
	c := max(need, 2*cap(s))
	var zero T
	size := c * int(unsafe.Sizeof(zero))
	var ns []T
	if size >= offHeapMin {
		if mem := mapZeroed(size); mem != nil {
			ns = unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(mem))), c)
			m.mu.Lock()
			if m.maps == nil {
				m.maps = map[unsafe.Pointer][]byte{}
			}
			m.maps[unsafe.Pointer(unsafe.SliceData(mem))] = mem
			m.mu.Unlock()
		}
	}
	if ns == nil {
		ns = make([]T, c)
	}
	copy(ns, s)
	m.release(s)
	return ns[:need]
}

// reserveMapped returns s with room for n elements in a new memory map
// (its contents and length kept), if that is at most limit bytes, more
// than s has, and the OS maps it; else s itself. Unlike growSlice it never
// falls back to the heap, where the room would cost its whole size.
func reserveMapped[T any](m *mappings, s []T, n, limit int) []T {
	var zero T
	size := n * int(unsafe.Sizeof(zero))
	if n <= cap(s) || size > limit || size < offHeapMin {
		return s
	}
	mem := mapZeroed(size)
	if mem == nil {
		return s
	}
	ns := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(mem))), n)
	m.mu.Lock()
	if m.maps == nil {
		m.maps = map[unsafe.Pointer][]byte{}
	}
	m.maps[unsafe.Pointer(unsafe.SliceData(mem))] = mem
	m.mu.Unlock()
	copy(ns, s)
	m.release(s)
	return ns[:len(s)]
}

// release unmaps s's array if it is one of m's maps.
func (m *mappings) release(s any) {
	var p unsafe.Pointer
	switch v := s.(type) {
	case []slot:
		p = unsafe.Pointer(unsafe.SliceData(v))
	case []slot16:
		p = unsafe.Pointer(unsafe.SliceData(v))
	case []float64:
		p = unsafe.Pointer(unsafe.SliceData(v))
	case []float32:
		p = unsafe.Pointer(unsafe.SliceData(v))
	case []uint8:
		p = unsafe.Pointer(unsafe.SliceData(v))
	case []uint16:
		p = unsafe.Pointer(unsafe.SliceData(v))
	case []vslot:
		p = unsafe.Pointer(unsafe.SliceData(v))
	}
	if p == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if mem, ok := m.maps[p]; ok {
		unmap(mem)
		delete(m.maps, p)
	}
}

// newMappings returns the mappings of b, unmapped once b is garbage.
func newMappings(b *bounder) *mappings {
	m := new(mappings)
	runtime.AddCleanup(b, func(m *mappings) { m.unmapAll() }, m)
	return m
}
