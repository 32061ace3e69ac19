package main

import (
	"fmt"
	"os"
	"time"
)

// usage is what the OS says one child process used.
type usage struct {
	Wall   time.Duration // from start to exit, measured by the parent
	User   time.Duration // CPU time in user mode
	Sys    time.Duration // CPU time in the kernel
	MaxRSS int64         // peak resident set size, bytes
}

// CPU is user + system CPU time.
func (u usage) CPU() time.Duration { return u.User + u.Sys }

// CPUPerWall is CPU time over wall time: above 1 means more than one core
// was busy on average.
func (u usage) CPUPerWall() float64 {
	if u.Wall <= 0 {
		return 0
	}
	return u.CPU().Seconds() / u.Wall.Seconds()
}

// usageOf reads a finished child's resource usage from its ProcessState.
func usageOf(ps *os.ProcessState, wall time.Duration) (usage, error) {
	if ps == nil {
		return usage{}, fmt.Errorf("no process state: the child did not run")
	}
	u, err := sysUsage(ps)
	if err != nil {
		return usage{}, err
	}
	u.Wall = wall
	return u, nil
}
