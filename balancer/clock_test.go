package balancer

import (
	"testing"
	"time"
)

// The interval clock is the wall clock's scale with the monotonic clock's
// pace: readings are Unix nanoseconds, differences are monotonic ones
// (t.Sub of two time.Now readings never sees a wall step), and WallAt
// turns a reading back into wall time for display.
func TestIntervalClock(t *testing.T) {
	t0 := time.Now()
	if d := NanosAt(t0) - t0.UnixNano(); d < -int64(time.Second) || d > int64(time.Second) {
		t.Fatalf("NanosAt is %v off the wall clock with no step", time.Duration(d))
	}
	t1 := t0.Add(1500 * time.Millisecond) // keeps t0's monotonic reading, moved
	if got := NanosAt(t1) - NanosAt(t0); got != int64(1500*time.Millisecond) {
		t.Fatalf("NanosAt difference %v, want 1.5s", time.Duration(got))
	}
	n := Now() + int64(time.Minute)
	if w := WallAt(n); w.Sub(time.Now()) < 59*time.Second || w.Sub(time.Now()) > 61*time.Second {
		t.Fatalf("WallAt(now+1m) is %v from now", w.Sub(time.Now()))
	}
	if a, b := Now(), Now(); b < a {
		t.Fatalf("the interval clock went back: %d then %d", a, b)
	}
}
