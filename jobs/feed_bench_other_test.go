//go:build !unix

package jobs

// cpuTime is not measured here: BenchmarkFeedJob's cpu-ns/row reads 0.
func cpuTime() int64 { return 0 }
