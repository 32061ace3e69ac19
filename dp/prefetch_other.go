//go:build !amd64

package dp

import "unsafe"

func prefetch(unsafe.Pointer) {}
