package timewheel

import (
	"testing"
	"time"
)

type nopOwner struct{ t Timer }

func (*nopOwner) OnTimer(*Timer, int64) {}

func newNop(n int) []nopOwner {
	os := make([]nopOwner, n)
	for i := range os {
		os[i].t.Init(&os[i])
	}
	return os
}

// BenchmarkScheduleStop is a request that finishes before its timeout.
func BenchmarkScheduleStop(b *testing.B) {
	w := New(100*time.Millisecond, 1024)
	os := newNop(1024)
	// Background load so the slots are not empty.
	for i := range os[:512] {
		w.Schedule(&os[i].t, time.Duration(i)*time.Second, 0)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		t := &os[512+i&511].t
		w.Schedule(t, 10*time.Second, int64(i))
		w.Stop(t)
		i++
	}
}

// BenchmarkReschedule is the keep-alive idle timer pushed back per request.
func BenchmarkReschedule(b *testing.B) {
	w := New(100*time.Millisecond, 1024)
	os := newNop(1024)
	for i := range os {
		w.Schedule(&os[i].t, 60*time.Second, 0)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now := int64(i) * int64(time.Microsecond)
		w.Schedule(&os[i&1023].t, 60*time.Second, now)
		i++
	}
}

// BenchmarkAdvanceFire measures scheduling and firing: each op schedules one
// timer and every 1024 ops one Advance fires the batch; ns/op is per timer.
func BenchmarkAdvanceFire(b *testing.B) {
	w := New(100*time.Millisecond, 1024)
	os := newNop(1024)
	b.ReportAllocs()
	now := int64(0)
	i := 0
	for b.Loop() {
		w.Schedule(&os[i&1023].t, time.Duration(i&1023)*time.Millisecond, now)
		i++
		if i&1023 == 0 {
			now += int64(2 * time.Second)
			w.Advance(now)
		}
	}
}

// BenchmarkAdvanceTick is one tick of a loop holding 10,000 pending timers
// that are not due (they wait rounds in their slots): 10 timers per slot
// to skip.
func BenchmarkAdvanceTick(b *testing.B) {
	w := New(100*time.Millisecond, 1024)
	os := newNop(10000)
	for i := range os {
		w.Schedule(&os[i].t, 1<<62+time.Duration(i)*time.Millisecond, 0)
	}
	b.ReportAllocs()
	now := int64(0)
	for b.Loop() {
		now += int64(100 * time.Millisecond)
		w.Advance(now)
	}
	if w.Len() != len(os) {
		b.Fatalf("Len = %d", w.Len())
	}
}
