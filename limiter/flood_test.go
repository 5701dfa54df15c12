package limiter

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestKeyFlood sends distinct keys through one limit, each once, while
// steady callers keep calling at half their rate. The limiter's memory
// must stay at its preallocated table, idle buckets must be reclaimed, and
// no steady call may be denied or pushed into the shared overflow bucket.
// Under the race detector the flood and the table are scaled down.
func TestKeyFlood(t *testing.T) {
	cases := []struct {
		cfg       Config
		floodKeys int
		span      time.Duration // synthetic time over which the flood arrives
		steadyGap time.Duration // spacing of each steady caller's calls
	}{
		// 100k new keys/s, each holding its bucket for 10 ms + 1 s grace:
		// more than the 65,536 slots, so reclaim and overflow both run.
		{Config{Rate: 100, Period: time.Second}, 1_000_000, 10 * time.Second, 20 * time.Millisecond},
		// An hourly limit: flood buckets limit their key for 36 s, so the
		// table is full of live buckets and the flood spills into overflow.
		{Config{Rate: 100, Period: time.Hour, MaxKeys: 4096}, 200_000, 10 * time.Minute, time.Minute},
	}
	for _, c := range cases {
		if raceEnabled {
			// A tenth of the keys over the same span, into a table a
			// sixteenth the size: still a flood that fills it.
			c.floodKeys /= 10
			c.cfg.MaxKeys = max(c.cfg.MaxKeys, DefaultMaxKeys) / 16
		}
		t.Run(fmt.Sprintf("%d/%s/max%d", c.cfg.Rate, c.cfg.Period, c.cfg.MaxKeys), func(t *testing.T) {
			const steady = 100
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)

			l := mustNew(t, c.cfg)
			step := int64(c.span) / int64(c.floodKeys)
			gap := int64(c.steadyGap)
			nextSteady := t0
			steadyCalls := 0
			buf := make([]byte, 0, 32)
			now := t0
			for i := 0; i < c.floodKeys; i++ {
				now += step
				buf = strconv.AppendInt(append(buf[:0], "flood-"...), int64(i), 10)
				l.Allow(buf, now)
				if now >= nextSteady {
					// The steady callers, spread within their gap.
					for s := 0; s < steady; s++ {
						buf = strconv.AppendInt(append(buf[:0], "steady-"...), int64(s), 10)
						d := l.Allow(buf, now+int64(s)*gap/(2*steady))
						if !d.Allowed || d.Shared {
							t.Fatalf("steady caller %d denied during the flood at key %d: %+v; %+v", s, i, d, l.Stats(now))
						}
						steadyCalls++
					}
					nextSteady += gap
				}
			}

			runtime.GC()
			runtime.ReadMemStats(&after)
			st := l.Stats(now)
			grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			// The bound: the table allocated at New (16 B per slot, 256 B
			// per shard), plus 64 KiB for the test's own noise.
			bound := 16*int64(st.Capacity) + 256*maxShards + 1024
			t.Logf("%d flood keys, %d steady calls: heap grew %d B (bound %d B); %+v",
				c.floodKeys, steadyCalls, grown, bound, st)
			if st.MemoryBytes > bound {
				t.Errorf("limiter reports %d B, over the stated bound %d B", st.MemoryBytes, bound)
			}
			if grown > bound+64<<10 {
				t.Errorf("heap grew %d B through the flood, bound %d B + 64 KiB", grown, bound)
			}
			if st.Occupied > st.Capacity || st.Evictions == 0 || st.OverflowAllowed+st.OverflowDenied == 0 {
				t.Errorf("flood did not run through reclaim and overflow: %+v", st)
			}
			runtime.KeepAlive(l)
		})
	}
}
