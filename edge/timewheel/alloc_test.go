//go:build !race

package timewheel

import (
	"testing"
	"time"
)

func TestZeroAllocs(t *testing.T) {
	w := New(100*time.Millisecond, 64)
	os := newNop(64)
	now := int64(0)
	n := testing.AllocsPerRun(100, func() {
		for i := range os {
			w.Schedule(&os[i].t, time.Duration(i)*50*time.Millisecond, now)
		}
		w.Stop(&os[0].t)
		w.Schedule(&os[1].t, time.Hour, now)
		now += int64(5 * time.Second)
		w.Advance(now)
	})
	if n != 0 {
		t.Fatalf("Schedule/Stop/Advance allocate %v per run", n)
	}
}
