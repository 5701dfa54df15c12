package timewheel

import (
	"math"
	"time"
)

// Handler is told when a timer fires. now is the value passed to the
// Advance that fires it. OnTimer may Schedule or Stop any timer of the
// same wheel, including t, but must not call Advance.
type Handler interface {
	OnTimer(t *Timer, now int64)
}

// Timer is one pending timeout, embedded by value in its owner. Call Init
// once before the first Schedule. The zero Timer is idle. A Timer must stay
// at one address while pending and be used with one Wheel at a time.
type Timer struct {
	_ noCopy

	// Intrusive links; nil while idle. A pending timer is in a slot list
	// or, while its tick is being fired, in the wheel's firing list.
	next, prev *Timer
	w          *Wheel
	exp        int64 // expiry tick
	deadline   int64 // monotonic ns
	h          Handler
}

// Init sets the Handler that t's firing calls; typically the owner itself,
// which tells its timers apart by address.
func (t *Timer) Init(h Handler) { t.h = h }

// Pending reports whether t is scheduled and has not fired or been stopped.
func (t *Timer) Pending() bool { return t.next != nil }

// Deadline is the monotonic time in ns that t was last scheduled for.
func (t *Timer) Deadline() int64 { return t.deadline }

// Wheel is a hashed timing wheel owned by one goroutine.
type Wheel struct {
	tick    int64 // ns
	mask    int64
	slots   []Timer // list sentinels
	firing  Timer   // sentinel of the timers due in the tick being fired
	cur     int64   // last tick processed; ticks <= cur are done
	count   int     // pending timers
	started bool
	inFire  bool // guards against Advance from a Handler
	// next caches NextExpiry's answer for nextTicks ticks of look-ahead:
	// walking the slots costs every timer in them (with 10,000 idle
	// connections, 0.2 ms a call). It stays right until Advance reaches
	// it; Schedule lowers it for an earlier timer; Stop may leave it early,
	// which only wakes the caller to look again.
	next      int64
	nextTicks int
	nextValid bool
}

// maxSlots bounds the slot array (16 Mi sentinels would already be 1 GiB).
const maxSlots = 1 << 20

// New returns a wheel with the given tick (its resolution) and at least
// slots slots (rounded up to a power of two). A revolution is tick × slots;
// make it longer than the common timeouts so they need no extra round.
// tick and slots are code constants, so bad values are a bug and panic.
func New(tick time.Duration, slots int) *Wheel {
	if tick <= 0 {
		panic("timewheel: BUG: New with tick <= 0")
	}
	if slots <= 0 || slots > maxSlots {
		panic("timewheel: BUG: New with slots outside 1..2^20")
	}
	n := 1
	for n < slots {
		n <<= 1
	}
	w := &Wheel{
		tick:  int64(tick),
		mask:  int64(n - 1),
		slots: make([]Timer, n),
	}
	for i := range w.slots {
		s := &w.slots[i]
		s.next, s.prev = s, s
	}
	w.firing.next, w.firing.prev = &w.firing, &w.firing
	return w
}

// Tick returns the wheel's resolution.
func (w *Wheel) Tick() time.Duration { return time.Duration(w.tick) }

// Len returns the number of pending timers. A loop with none pending need
// not wake for the wheel.
func (w *Wheel) Len() int { return w.count }

// NextTick returns the monotonic time in ns at which the next tick ends: the
// earliest now at which Advance can fire anything. It is meaningful after
// the first Schedule or Advance.
func (w *Wheel) NextTick() int64 { return satMul(w.cur+1, w.tick) }

// NextExpiry returns the earliest time (ns) at which Advance would fire a
// timer pending now, looking at most ticks ticks ahead: the end of the
// first tick holding a due timer, or, when none is due that soon, the end
// of the last tick looked at (a caller sleeping until then looks again).
// With no timer pending it returns math.MaxInt64. It looks at each timer
// in the ticks it passes, so a loop calls it once per wake-up.
func (w *Wheel) NextExpiry(ticks int) int64 {
	if w.count == 0 {
		return math.MaxInt64
	}
	ticks = max(1, min(ticks, len(w.slots)))
	if w.nextValid && w.nextTicks == ticks && w.next > satMul(w.cur, w.tick) {
		return w.next
	}
	w.next, w.nextTicks, w.nextValid = w.walkNext(ticks), ticks, true
	return w.next
}

// walkNext is NextExpiry without the cache.
func (w *Wheel) walkNext(ticks int) int64 {
	for i := int64(1); i <= int64(ticks); i++ {
		tk := w.cur + i
		s := &w.slots[tk&w.mask]
		for t := s.next; t != s; t = t.next {
			if t.exp <= tk {
				return satMul(tk, w.tick)
			}
		}
	}
	return satMul(w.cur+int64(ticks), w.tick)
}

// FiresAt is the earliest time (ns) at which an Advance fires t as
// scheduled last: the end of its deadline's tick.
func (t *Timer) FiresAt() int64 {
	if t.w == nil {
		return math.MaxInt64
	}
	return satMul(t.exp, t.w.tick)
}

// Schedule arms t to fire d after now (monotonic ns), replacing any pending
// schedule of t. It fires during the first Advance whose now reaches the end
// of the tick containing now+d; a d <= 0 fires at the next tick.
func (w *Wheel) Schedule(t *Timer, d time.Duration, now int64) {
	if t.h == nil {
		panic("timewheel: BUG: Schedule on a Timer without Init")
	}
	if t.next != nil {
		if t.w != w {
			panic("timewheel: BUG: Timer is pending on another Wheel")
		}
		unlink(t)
		w.count--
	}
	w.start(now)

	deadline := satAdd(now, int64(d))
	exp := ceilDiv(deadline, w.tick)
	if exp <= w.cur {
		exp = w.cur + 1
	}
	t.w, t.exp, t.deadline = w, exp, deadline
	pushBack(&w.slots[exp&w.mask], t)
	w.count++
	if w.nextValid {
		w.next = min(w.next, satMul(exp, w.tick))
	}
}

// Stop cancels t and reports whether it was pending. Stopping an idle timer,
// or one already fired, does nothing.
func (w *Wheel) Stop(t *Timer) bool {
	if t.next == nil || t.w != w {
		return false
	}
	unlink(t)
	w.count--
	return true
}

// Advance moves the wheel to now (monotonic ns), calling the Handler of
// every timer whose tick has ended, tick by tick, and returns how many
// fired. It must not be called from a Handler (such a call returns 0).
func (w *Wheel) Advance(now int64) int {
	if w.inFire {
		return 0
	}
	w.start(now)
	target := floorDiv(now, w.tick)
	fired := 0
	w.inFire = true
	for w.cur < target {
		if w.count == 0 {
			w.cur = target // nothing to fire: skip the empty ticks
			break
		}
		w.cur++
		s := &w.slots[w.cur&w.mask]
		for t := s.next; t != s; {
			next := t.next
			if t.exp <= w.cur {
				unlink(t)
				pushBack(&w.firing, t)
			}
			t = next
		}
		// Pop one at a time: a Handler may stop or reschedule timers
		// still waiting in the firing list.
		for w.firing.next != &w.firing {
			t := w.firing.next
			unlink(t)
			w.count--
			fired++
			t.h.OnTimer(t, now)
		}
	}
	w.inFire = false
	return fired
}

// start fixes the wheel's origin at the first time it sees: the tick
// containing now counts as processed.
func (w *Wheel) start(now int64) {
	if !w.started {
		w.started = true
		w.cur = floorDiv(now, w.tick)
	}
}

func pushBack(head, t *Timer) {
	t.prev = head.prev
	t.next = head
	head.prev.next = t
	head.prev = t
}

func unlink(t *Timer) {
	t.prev.next = t.next
	t.next.prev = t.prev
	t.next, t.prev = nil, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a > 0 {
		q++
	}
	return q
}

// satAdd adds without wrapping, so a huge d means "practically never"
// rather than "already due".
func satAdd(a, b int64) int64 {
	s := a + b
	if b > 0 && s < a {
		return math.MaxInt64
	}
	if b < 0 && s > a {
		return math.MinInt64
	}
	return s
}

func satMul(a, b int64) int64 {
	if a > 0 && a > math.MaxInt64/b {
		return math.MaxInt64
	}
	if a < 0 && a < math.MinInt64/b {
		return math.MinInt64
	}
	return a * b
}

// noCopy makes go vet's copylocks check report copies of a Timer (and of
// the owner embedding it): the wheel links to its address.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
