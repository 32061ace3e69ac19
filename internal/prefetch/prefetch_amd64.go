package prefetch

import "unsafe"

// Line asks the CPU to load the cache line at p (PREFETCHT0), without
// waiting for it. A hint only: p may be any address.
//
//go:noescape
func Line(p unsafe.Pointer)

// Available reports whether Line does anything on this architecture.
const Available = true
