//go:build !unix

package datasets

// mapZeroed: no memory maps here; the table stays on the Go heap.
func mapZeroed(size int) []byte { return nil }

func unmap(mem []byte) {}
