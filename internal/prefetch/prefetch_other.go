//go:build !amd64

package prefetch

import "unsafe"

// Line does nothing on this architecture.
func Line(unsafe.Pointer) {}

// Available reports whether Line does anything on this architecture.
const Available = false
