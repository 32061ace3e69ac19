package datasets

import "unsafe"

// growInt64s returns s with length n, its contents kept; a new array,
// when one is needed, comes from a memory map if big enough and the OS has
// them (see mapZeroed), else from the heap. *mem is the memory map behind
// s, or nil: it is unmapped once s is copied, and replaced by the new
// array's. The consent state of 10⁶ users is large, lives until the grants
// are built and holds no pointers: outside the Go heap it does not raise
// the garbage collector's goal.
func growInt64s(s []int64, mem *[]byte, n int) []int64 {
	if n <= cap(s) {
		return s[:n]
	}
	var ns []int64
	var m []byte
	if size := n * 8; size >= offHeapMin {
		m = mapZeroed(size)
	}
	if m != nil {
		ns = unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(m))), n)
	} else {
		ns = make([]int64, n)
	}
	copy(ns, s)
	if *mem != nil {
		unmap(*mem)
	}
	*mem = m
	return ns
}
