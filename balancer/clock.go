package balancer

import "time"

// The gateway's interval clock. Every "now" this package takes or reads
// is Unix nanoseconds that advance with the monotonic clock only: a step
// of the wall clock (an NTP step, a VM restored or migrated) would
// otherwise stretch an ejection, hold a rate-limit key at 429 or stall
// every timer by the size of the step, or end them all at once. The base
// is read once; it is never written again.
var (
	clockBase      = time.Now()
	clockBaseNanos = clockBase.UnixNano()
)

// Now reads the interval clock.
func Now() int64 { return NanosAt(time.Now()) }

// NanosAt places t, which must come from time.Now (it carries a monotonic
// reading), on the interval clock: a caller that reads time.Now once for
// several uses converts it instead of reading the clock again.
func NanosAt(t time.Time) int64 { return clockBaseNanos + int64(t.Sub(clockBase)) }

// WallAt turns a time of the interval clock into wall-clock time, for
// display: now on the wall clock, moved by the distance to n.
func WallAt(n int64) time.Time {
	now := time.Now()
	return now.Add(time.Duration(n - NanosAt(now)))
}
