package dp

import "unsafe"

// prefetch asks the CPU to load the cache line at p without waiting for
// it: unlike a load it does not hold up the instructions after it, so the
// misses of several users' slots overlap. A hint only: p may be any
// address. (The same instruction as datasets' user table uses; dp and
// datasets do not import each other.)
//
//go:noescape
func prefetch(p unsafe.Pointer)
