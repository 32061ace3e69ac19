package datasets

import "unsafe"

// prefetch asks the CPU to load the cache line at p, without waiting for
// it: unlike a load, it does not hold up the instructions after it, so
// many of them overlap. A hint only: p may be any address.
//
//go:noescape
func prefetch(p unsafe.Pointer)

const havePrefetch = true
