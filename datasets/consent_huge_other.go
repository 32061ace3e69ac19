//go:build !linux

package datasets

// adviseHuge: only Linux is told about huge pages.
func adviseHuge([]byte) {}
