//go:build unix

package limiter

import "syscall"

// processCPU returns the user+system CPU time this process has used, in
// nanoseconds. Benchmarks report it per op next to wall time because the
// machines they run on are shared: wall ns/op grows when other processes
// take the CPU, CPU ns/op much less.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
