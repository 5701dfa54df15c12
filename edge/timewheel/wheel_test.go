package timewheel

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

// owner records every firing of its timer.
type owner struct {
	t     Timer
	id    int
	fires []int64 // now of each firing
	log   *[]int  // shared firing order, by id
	// onFire, when set, runs inside OnTimer.
	onFire func(o *owner, now int64)
}

func (o *owner) OnTimer(t *Timer, now int64) {
	if t != &o.t {
		panic("wrong timer")
	}
	o.fires = append(o.fires, now)
	if o.log != nil {
		*o.log = append(*o.log, o.id)
	}
	if o.onFire != nil {
		o.onFire(o, now)
	}
}

func newOwners(n int, log *[]int) []*owner {
	os := make([]*owner, n)
	for i := range os {
		os[i] = &owner{id: i, log: log}
		os[i].t.Init(os[i])
	}
	return os
}

// step advances w from from to to in increments of inc, returning to.
func step(w *Wheel, from, to, inc int64) {
	for now := from; now <= to; now += inc {
		w.Advance(now)
	}
}

func TestPrecision(t *testing.T) {
	tick := 100 * time.Millisecond
	f := func(start int64, d time.Duration) {
		t.Helper()
		w := New(tick, 16)
		o := newOwners(1, nil)[0]
		w.Schedule(&o.t, d, start)
		if !o.t.Pending() || w.Len() != 1 {
			t.Fatalf("d=%v: not pending after Schedule", d)
		}
		deadline := start + int64(d)
		if o.t.Deadline() != deadline {
			t.Fatalf("d=%v: Deadline = %d, want %d", d, o.t.Deadline(), deadline)
		}
		// 1 ms steps: the firing now is when the wheel first could fire.
		step(w, start, max(deadline, start)+2*int64(tick), ms)
		if len(o.fires) != 1 {
			t.Fatalf("start=%d d=%v: fired %d times, want 1", start, d, len(o.fires))
		}
		lo, hi := max(deadline, start+1), deadline+int64(tick)
		if d <= 0 {
			lo, hi = start+1, start+int64(tick)
		}
		if got := o.fires[0]; got < lo || got > hi {
			t.Errorf("start=%d d=%v: fired at %d, want within [%d, %d]", start, d, got, lo, hi)
		}
		if o.t.Pending() || w.Len() != 0 {
			t.Errorf("d=%v: still pending after firing", d)
		}
	}
	for _, start := range []int64{0, 50 * ms, 100 * ms, 12345 * ms, -250 * ms, 1 << 50} {
		for _, d := range []time.Duration{
			-time.Second, 0, time.Nanosecond, 50 * time.Millisecond, 99 * time.Millisecond,
			100 * time.Millisecond, 101 * time.Millisecond, 250 * time.Millisecond,
			1600 * time.Millisecond,                  // exactly one revolution
			1650 * time.Millisecond, 5 * time.Second, // several rounds
		} {
			f(start, d)
		}
	}
}

func TestOrder(t *testing.T) {
	var log []int
	w := New(10*time.Millisecond, 8)
	os := newOwners(6, &log)
	// Deadlines in ticks: id0 -> 3, id1 -> 1, id2 -> 3, id3 -> 2, id4 -> 9 (a
	// round later than slot 1), id5 -> 1.
	w.Schedule(&os[0].t, 25*time.Millisecond, 0)
	w.Schedule(&os[1].t, 5*time.Millisecond, 0)
	w.Schedule(&os[2].t, 30*time.Millisecond, 0)
	w.Schedule(&os[3].t, 20*time.Millisecond, 0)
	w.Schedule(&os[4].t, 85*time.Millisecond, 0)
	w.Schedule(&os[5].t, 10*time.Millisecond, 0)
	// One big jump: catching up must still go tick by tick.
	if n := w.Advance(200 * ms); n != 6 {
		t.Fatalf("Advance fired %d, want 6", n)
	}
	want := []int{1, 5, 3, 0, 2, 4}
	if len(log) != len(want) {
		t.Fatalf("order %v, want %v", log, want)
	}
	for i := range want {
		if log[i] != want[i] {
			t.Fatalf("order %v, want %v", log, want)
		}
	}
}

func TestStop(t *testing.T) {
	w := New(100*time.Millisecond, 4)
	os := newOwners(3, nil)
	w.Schedule(&os[0].t, time.Second, 0)
	w.Schedule(&os[1].t, time.Second, 0)
	w.Schedule(&os[2].t, 10*time.Second, 0)
	if !w.Stop(&os[0].t) {
		t.Fatal("Stop of a pending timer = false")
	}
	if w.Stop(&os[0].t) {
		t.Fatal("second Stop = true")
	}
	if w.Len() != 2 || os[0].t.Pending() {
		t.Fatalf("Len = %d, pending = %v after Stop", w.Len(), os[0].t.Pending())
	}
	var idle owner
	idle.t.Init(&idle)
	if w.Stop(&idle.t) {
		t.Fatal("Stop of a never-scheduled timer = true")
	}
	other := New(time.Millisecond, 1)
	if other.Stop(&os[1].t) {
		t.Fatal("Stop through another wheel = true")
	}
	step(w, 0, 2000*ms, 10*ms)
	if len(os[0].fires) != 0 || len(os[1].fires) != 1 || len(os[2].fires) != 0 {
		t.Fatalf("fires = %d %d %d, want 0 1 0", len(os[0].fires), len(os[1].fires), len(os[2].fires))
	}
	if w.Stop(&os[1].t) {
		t.Fatal("Stop after firing = true")
	}
	// Stopping the last pending timer lets the wheel jump idle ticks.
	w.Stop(&os[2].t)
	if w.Advance(1<<40) != 0 || w.Len() != 0 {
		t.Fatal("stopped timer fired")
	}
}

func TestReschedule(t *testing.T) {
	w := New(100*time.Millisecond, 8)
	o := newOwners(1, nil)[0]
	// Later: the idle-timeout pattern, pushed back on every request.
	w.Schedule(&o.t, time.Second, 0)
	w.Advance(500 * ms)
	w.Schedule(&o.t, time.Second, 500*ms)
	if w.Len() != 1 {
		t.Fatalf("Len = %d after reschedule, want 1", w.Len())
	}
	step(w, 500*ms, 1400*ms, 10*ms)
	if len(o.fires) != 0 {
		t.Fatalf("fired at %v, before the new deadline 1500ms", o.fires)
	}
	step(w, 1400*ms, 3000*ms, 10*ms)
	if len(o.fires) != 1 || o.fires[0] != 1500*ms {
		t.Fatalf("fires = %v, want [1500ms]", o.fires)
	}
	// Earlier.
	o.fires = nil
	w.Schedule(&o.t, 10*time.Second, 3000*ms)
	w.Schedule(&o.t, 200*time.Millisecond, 3000*ms)
	step(w, 3000*ms, 20000*ms, 10*ms)
	if len(o.fires) != 1 || o.fires[0] != 3200*ms {
		t.Fatalf("fires = %v, want [3200ms]", o.fires)
	}
}

func TestLongDurations(t *testing.T) {
	w := New(100*time.Millisecond, 4) // revolution 400 ms
	os := newOwners(3, nil)
	w.Schedule(&os[0].t, 1*time.Hour, 0)
	w.Schedule(&os[1].t, 4100*time.Millisecond, 0) // same slot as 100 ms, 10 rounds later
	w.Schedule(&os[2].t, 100*time.Millisecond, 0)
	step(w, 0, 4000*ms, 100*ms)
	if len(os[2].fires) != 1 || len(os[1].fires) != 0 {
		t.Fatalf("fires = %v %v, want short one only", os[1].fires, os[2].fires)
	}
	w.Advance(4100 * ms)
	if len(os[1].fires) != 1 {
		t.Fatalf("4.1 s timer did not fire at 4.1 s")
	}
	w.Advance(3599 * int64(time.Second))
	if len(os[0].fires) != 0 {
		t.Fatal("1 h timer fired early")
	}
	w.Advance(3600 * int64(time.Second))
	if len(os[0].fires) != 1 {
		t.Fatal("1 h timer did not fire at 1 h")
	}
	// Practically never: saturates instead of wrapping into the past.
	w.Schedule(&os[0].t, math.MaxInt64, 3600*int64(time.Second))
	if n := w.Advance(3601 * int64(time.Second)); n != 0 {
		t.Fatalf("MaxInt64 timer fired")
	}
}

func TestHandlerReentry(t *testing.T) {
	var log []int
	w := New(10*time.Millisecond, 8)
	os := newOwners(4, &log)
	// os[0] stops os[1], due in the same tick; os[2] reschedules itself
	// twice (a periodic timer) and tries to Advance, which must be ignored.
	os[0].onFire = func(o *owner, now int64) {
		if !w.Stop(&os[1].t) {
			t.Error("Stop of a timer waiting in the firing list = false")
		}
	}
	os[2].onFire = func(o *owner, now int64) {
		if w.Advance(now+int64(time.Second)) != 0 {
			t.Error("nested Advance fired timers")
		}
		if len(o.fires) < 3 {
			w.Schedule(&o.t, 10*time.Millisecond, now)
		}
	}
	// os[3] reschedules in its own tick with d <= 0: next tick, not now.
	os[3].onFire = func(o *owner, now int64) {
		if len(o.fires) == 1 {
			w.Schedule(&o.t, 0, now)
		}
	}
	for _, o := range os {
		w.Schedule(&o.t, 10*time.Millisecond, 0)
	}
	if n := w.Advance(10 * ms); n != 3 {
		t.Fatalf("first tick fired %d, want 3 (0, 2, 3)", n)
	}
	if len(os[1].fires) != 0 {
		t.Fatal("stopped timer fired")
	}
	w.Advance(20 * ms)
	w.Advance(30 * ms)
	w.Advance(40 * ms)
	if len(os[2].fires) != 3 || len(os[3].fires) != 2 {
		t.Fatalf("periodic fired %d (want 3), d=0 fired %d (want 2)", len(os[2].fires), len(os[3].fires))
	}
	if os[3].fires[1] != 20*ms || os[2].fires[2] != 30*ms {
		t.Fatalf("refires at %v and %v", os[3].fires, os[2].fires)
	}
	if w.Len() != 0 {
		t.Fatalf("Len = %d at the end", w.Len())
	}
}

func TestNew(t *testing.T) {
	w := New(time.Millisecond, 1000)
	if len(w.slots) != 1024 || w.Tick() != time.Millisecond {
		t.Fatalf("slots = %d, tick = %v", len(w.slots), w.Tick())
	}
	w.Advance(5500 * int64(time.Microsecond))
	if w.NextTick() != 6*ms {
		t.Fatalf("NextTick = %d, want %d", w.NextTick(), 6*ms)
	}
	for _, bad := range []func(){
		func() { New(0, 1) },
		func() { New(time.Second, 0) },
		func() { New(time.Second, maxSlots+1) },
		func() { var tm Timer; New(time.Second, 1).Schedule(&tm, 0, 0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic on a programming error")
				}
			}()
			bad()
		}()
	}
}

// TestMany schedules, reschedules and stops many timers at random times and
// checks each schedule fires once, never early, at most one tick late, in
// tick order.
func TestMany(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	tick := 50 * time.Millisecond
	w := New(tick, 64) // revolution 3.2 s, deadlines up to 20 s
	const n = 20000
	var log []int
	os := newOwners(n, &log)
	var expLog []int64 // expiry tick of each firing, in firing order
	for _, o := range os {
		o.onFire = func(o *owner, now int64) { expLog = append(expLog, o.t.exp) }
	}
	stopped := make([]bool, n)
	firesBefore := make([]int, n) // len(fires) at the last Schedule or Stop
	now := int64(0)
	for round := 0; round < 3; round++ {
		for i, o := range os {
			if rng.IntN(3) == 0 || round == 0 {
				w.Schedule(&o.t, time.Duration(rng.Int64N(int64(20*time.Second))), now)
				stopped[i], firesBefore[i] = false, len(o.fires)
			} else if rng.IntN(5) == 0 && w.Stop(&o.t) {
				stopped[i], firesBefore[i] = true, len(o.fires)
			}
		}
		now += rng.Int64N(int64(time.Second))
		w.Advance(now)
	}
	for end := now + int64(25*time.Second); now < end; {
		now += rng.Int64N(int64(200 * time.Millisecond))
		w.Advance(now)
	}
	if w.Len() != 0 {
		t.Fatalf("seed %d: %d timers still pending", seed, w.Len())
	}
	for i := 1; i < len(expLog); i++ {
		if expLog[i] < expLog[i-1] {
			t.Fatalf("seed %d: firing %d is of tick %d, after tick %d", seed, i, expLog[i], expLog[i-1])
		}
	}
	for i, o := range os {
		if stopped[i] {
			if len(o.fires) != firesBefore[i] {
				t.Fatalf("seed %d: timer %d fired after Stop", seed, i)
			}
			continue
		}
		if len(o.fires) != firesBefore[i]+1 {
			t.Fatalf("seed %d: timer %d fired %d times after its last Schedule, want 1", seed, i, len(o.fires)-firesBefore[i])
		}
		at, dl := o.fires[len(o.fires)-1], o.t.Deadline()
		if at < dl {
			t.Fatalf("seed %d: timer %d fired at %d before its deadline %d", seed, i, at, dl)
		}
		// Late by at most one tick plus this test's Advance granularity.
		if at > dl+int64(tick)+int64(time.Second) {
			t.Fatalf("seed %d: timer %d fired at %d, deadline %d", seed, i, at, dl)
		}
	}
}

// TestNextExpiry: a loop sleeps until NextExpiry and misses nothing:
// Advance at that time fires the earliest timer, and no earlier Advance
// fires anything; far timers give the end of the look-ahead.
func TestNextExpiry(t *testing.T) {
	w := New(10*time.Millisecond, 16)
	if got := w.NextExpiry(16); got != math.MaxInt64 {
		t.Fatalf("empty wheel: %d", got)
	}
	os := newOwners(3, nil)
	now := 1000 * ms
	w.Schedule(&os[0].t, 35*time.Millisecond, now) // fires at 1040 ms
	w.Schedule(&os[1].t, 10*time.Second, now)      // beyond one revolution
	if got := os[0].t.FiresAt(); got != 1040*ms {
		t.Fatalf("FiresAt = %d ms, want 1040", got/ms)
	}
	next := w.NextExpiry(16)
	if next != 1040*ms {
		t.Fatalf("NextExpiry = %d ms, want 1040", next/ms)
	}
	if n := w.Advance(next - 1); n != 0 {
		t.Fatalf("fired %d before NextExpiry", n)
	}
	if n := w.Advance(next); n != 1 || len(os[0].fires) != 1 {
		t.Fatalf("at NextExpiry fired %d", n)
	}
	// Only the far timer is left: the look-ahead's end (16 ticks), then
	// again from there until it is due.
	if got := w.NextExpiry(16); got != 1040*ms+160*ms {
		t.Fatalf("far timer: NextExpiry = %d ms, want %d", got/ms, 1200)
	}
	for i := 0; i < 100 && len(os[1].fires) == 0; i++ {
		next = w.NextExpiry(16)
		w.Advance(next)
	}
	if len(os[1].fires) != 1 || os[1].fires[0] < 11000*ms || os[1].fires[0] > 11010*ms {
		t.Fatalf("far timer fired at %v", os[1].fires)
	}
	if got := w.NextExpiry(16); got != math.MaxInt64 {
		t.Fatalf("emptied wheel: %d", got)
	}
}

// NextExpiry's cache never answers later than the slots say (a timer would
// fire late), whatever mix of Schedule, Stop, rescheduling and Advance came
// before; after it is recomputed it answers exactly. And it saves the walk:
// with thousands of timers far ahead, repeated calls do not walk them.
func TestNextExpiryCache(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 18))
	w := New(10*time.Millisecond, 64)
	os := newOwners(200, nil)
	now := int64(0)
	for i := range 20000 {
		o := os[r.IntN(len(os))]
		switch r.IntN(4) {
		case 0, 1:
			w.Schedule(&o.t, time.Duration(r.Int64N(3000))*time.Millisecond, now)
		case 2:
			w.Stop(&o.t)
		case 3:
			now += r.Int64N(40) * ms
			w.Advance(now)
		}
		ticks := 64
		if w.count == 0 {
			continue
		}
		got, want := w.NextExpiry(ticks), w.walkNext(ticks)
		if got > want {
			t.Fatalf("step %d: cached NextExpiry %d is later than the slots' %d: a timer would fire late", i, got, want)
		}
		if got < want {
			// Early (a stopped timer): the caller wakes and looks again.
			w.Advance(got)
			now = max(now, got)
		}
	}
	// Far-ahead timers: the second call is served from the cache.
	w2 := New(10*time.Millisecond, 512)
	far := newOwners(5000, nil)
	for _, o := range far {
		w2.Schedule(&o.t, time.Minute, 0)
	}
	first := w2.NextExpiry(256)
	if got := w2.NextExpiry(256); got != first || !w2.nextValid {
		t.Fatalf("NextExpiry %d then %d (cache valid %v)", first, got, w2.nextValid)
	}
}

// BenchmarkNextExpiryFarTimers: a loop planning its next wake-up with
// 10,000 idle-connection timers a minute away (it planned every 2 ms while
// a connection was paused; each walk cost about 0.2 ms).
func BenchmarkNextExpiryFarTimers(b *testing.B) {
	w := New(20*time.Millisecond, 512)
	os := newOwners(10000, nil)
	for i, o := range os {
		w.Schedule(&o.t, time.Minute+time.Duration(i)*6*time.Millisecond, 0) // spread over a minute, as idle connections are
	}
	b.ReportAllocs()
	now := int64(0)
	for b.Loop() {
		now += 2 * ms
		w.Advance(now)
		w.NextExpiry(256)
	}
}
