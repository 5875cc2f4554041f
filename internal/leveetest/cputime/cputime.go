// Package cputime reports a benchmark's CPU time per operation. It imports
// nothing of levee's, so the benchmarks of any package may use it.
package cputime

import (
	"syscall"
	"testing"
	"time"
)

// Report starts measuring and returns the function that reports the
// process's CPU time (user and system: a loopback client's and origin's
// share included) per iteration as cpu-ns/op. On a machine that other work
// shares, wall time per op measures the waits for the CPU as much as the
// work, and CPU time does not. Use it as `defer cputime.Report(b)()`.
func Report(b *testing.B) func() {
	start := now()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(now()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func now() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
