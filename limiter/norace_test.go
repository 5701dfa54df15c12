//go:build !race

package limiter

import (
	"testing"
	"time"
)

const raceEnabled = false

// TestAllowAllocs checks the zero-allocation claim on every path: a key with
// a bucket, a new key (insert and reclaim), and the overflow bucket.
func TestAllowAllocs(t *testing.T) {
	l := mustNew(t, Config{Rate: 1, Period: time.Hour, MaxKeys: 64, IdleGrace: -1})
	key := []byte("0000000000")
	now := t0
	f := func(name string, fn func()) {
		t.Helper()
		if n := testing.AllocsPerRun(1000, fn); n != 0 {
			t.Errorf("%s: %v allocs/op, want 0", name, n)
		}
	}
	f("hit", func() { l.Allow([]byte("hot"), now) })
	f("string", func() { l.AllowString("hot", now) })
	f("new keys and overflow", func() {
		// Counting key bytes up makes each call a new key.
		for i := len(key) - 1; i >= 0; i-- {
			if key[i]++; key[i] <= '9' {
				break
			}
			key[i] = '0'
		}
		l.Allow(key, now)
	})
	now += int64(3 * time.Hour)
	f("reclaim", func() {
		for i := len(key) - 1; i >= 0; i-- {
			if key[i]++; key[i] <= '9' {
				break
			}
			key[i] = '0'
		}
		l.Allow(key, now)
		now += int64(time.Hour)
	})
	if st := l.Stats(now); st.Evictions == 0 || st.OverflowDenied == 0 {
		t.Fatalf("paths not exercised: %+v", st)
	}
	f("stats", func() { l.Stats(now) })
}
