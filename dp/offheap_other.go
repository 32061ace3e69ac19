//go:build !unix

package dp

// mapZeroed: no memory maps here; the state stays on the Go heap.
func mapZeroed(size int) []byte { return nil }

func unmap(mem []byte) {}
