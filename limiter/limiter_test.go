package limiter

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

// t0 is an arbitrary synthetic start time (2026-01-01 UTC in unix nanos).
const t0 = int64(1767225600) * int64(time.Second)

func mustNew(t testing.TB, cfg Config) *Limiter {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return l
}

func TestNoKeyHash(t *testing.T) {
	if got := xxhash.Sum64(nil); got != NoKeyHash {
		t.Fatalf("xxhash.Sum64(nil) = %#x, NoKeyHash = %#x", got, NoKeyHash)
	}
	l := mustNew(t, Config{Rate: 2, Period: time.Second})
	l.Allow(nil, t0)
	l.Allow([]byte{}, t0)
	if d := l.AllowNoKey(t0); d.Allowed {
		t.Fatalf("third request to the shared no-key bucket was admitted: %+v", d)
	}
	if d := l.AllowString("", t0); d.Allowed {
		t.Fatalf("empty string key did not share the no-key bucket: %+v", d)
	}
	if d := l.AllowString("someone", t0); !d.Allowed {
		t.Fatalf("a real key was denied: %+v", d)
	}
}

func TestConfigValidation(t *testing.T) {
	f := func(cfg Config, wantErr string) {
		t.Helper()
		_, err := New(cfg)
		if wantErr == "" {
			if err != nil {
				t.Fatalf("New(%+v): unexpected error %v", cfg, err)
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("New(%+v) error = %v, want it to contain %q", cfg, err, wantErr)
		}
	}
	f(Config{Rate: 100, Period: time.Second}, "")
	f(Config{Rate: 1, Period: 24 * time.Hour, Burst: 1}, "")
	f(Config{Rate: 1_000_000_000, Period: time.Second}, "")
	f(Config{Rate: 3_000_000, Period: time.Second}, "") // 333.33 ns: 0.1% rounding at most
	f(Config{Name: "x", Rate: 0, Period: time.Second}, `cannot build rate limit "x": cannot use rate 0`)
	f(Config{Rate: -1, Period: time.Second}, "cannot use rate -1")
	f(Config{Rate: 1, Period: 0}, "cannot use period")
	f(Config{Rate: 1, Period: time.Second, Burst: -5}, "cannot use burst -5")
	f(Config{Rate: 1, Period: time.Second, MaxKeys: -1}, "cannot use max_keys")
	f(Config{Rate: 1, Period: time.Second, MaxKeys: MaxMaxKeys + 1}, "cannot use max_keys")
	f(Config{Rate: 3_000_000_000, Period: time.Second}, "over one token per nanosecond")
	f(Config{Rate: 2_000_000_000, Period: time.Second}, "over one token per nanosecond") // would round to 1 ns: 100% off
	f(Config{Rate: 1_000_000_001, Period: time.Second}, "over one token per nanosecond")
	f(Config{Rate: 300_000_000, Period: time.Second}, "whole nanoseconds represent only")
	f(Config{Rate: 1, Period: 24 * time.Hour, Burst: 1 << 40}, "exceeds")
}

func TestDefaults(t *testing.T) {
	l := mustNew(t, Config{Name: "n", Rate: 100, Period: time.Second})
	c := l.Config()
	if c.Burst != 100 || c.MaxKeys != DefaultMaxKeys || c.IdleGrace != time.Second {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if st := l.Stats(t0); st.Capacity != DefaultMaxKeys || st.MemoryBytes > 17*DefaultMaxKeys {
		t.Fatalf("stats of an empty default limiter: %+v", st)
	}
	l = mustNew(t, Config{Rate: 1, Period: time.Hour})
	if c := l.Config(); c.IdleGrace != time.Hour || c.Burst != 1 {
		t.Fatalf("grace should default to the emission interval: %+v", c)
	}
	l = mustNew(t, Config{Rate: 1, Period: time.Second, MaxKeys: 1})
	if st := l.Stats(t0); st.Capacity != minShardSlots {
		t.Fatalf("tiny MaxKeys: capacity %d, want %d", st.Capacity, minShardSlots)
	}
	l = mustNew(t, Config{Rate: 1, Period: time.Second, MaxKeys: 100_000})
	if st := l.Stats(t0); st.Capacity != 1<<17 {
		t.Fatalf("MaxKeys 100000: capacity %d, want %d", st.Capacity, 1<<17)
	}
}

func TestSameDefinition(t *testing.T) {
	base := Config{Name: "per-ip", Key: "ip", Rate: 100, Period: time.Second, Burst: 200}
	l := mustNew(t, base)
	f := func(mod func(*Config), want bool) {
		t.Helper()
		c := base
		mod(&c)
		if got := l.SameDefinition(c); got != want {
			t.Fatalf("SameDefinition(%+v) = %v, want %v", c, got, want)
		}
	}
	f(func(*Config) {}, true)
	f(func(c *Config) { c.MaxKeys = DefaultMaxKeys }, true) // explicit default
	f(func(c *Config) { c.IdleGrace = time.Second }, true)  // explicit default
	f(func(c *Config) { c.Burst = 100 }, false)
	f(func(c *Config) { c.Rate = 6000; c.Period = time.Minute }, false)
	f(func(c *Config) { c.Key = "header:x-api-key" }, false)
	f(func(c *Config) { c.Name = "other" }, false)
	f(func(c *Config) { c.MaxKeys = 1024 }, false)
	f(func(c *Config) { c.Rate = 0 }, false)
	l2 := mustNew(t, Config{Rate: 5, Period: time.Second})
	if !l2.SameDefinition(Config{Rate: 5, Period: time.Second, Burst: 5}) {
		t.Fatal("burst 0 and burst = rate should be the same definition")
	}
}

func TestParseRate(t *testing.T) {
	f := func(in string, wantN int64, wantP time.Duration, wantErr bool) {
		t.Helper()
		n, p, err := ParseRate(in)
		if wantErr {
			if err == nil || !errors.Is(err, ErrBadRate) {
				t.Fatalf("ParseRate(%q) = %d, %s, %v; want an ErrBadRate error", in, n, p, err)
			}
			return
		}
		if err != nil || n != wantN || p != wantP {
			t.Fatalf("ParseRate(%q) = %d, %s, %v; want %d, %s", in, n, p, err, wantN, wantP)
		}
	}
	f("100/s", 100, time.Second, false)
	f("5/m", 5, time.Minute, false)
	f("1000/h", 1000, time.Hour, false)
	f("10/d", 10, 24*time.Hour, false)
	f("007/s", 7, time.Second, false)
	f("", 0, 0, true)
	f("100", 0, 0, true)
	f("100/", 0, 0, true)
	f("/s", 0, 0, true)
	f("0/s", 0, 0, true)
	f("-1/s", 0, 0, true)
	f("+1/s", 0, 0, true)
	f("1.5/s", 0, 0, true)
	f("1/w", 0, 0, true)
	f("1/S", 0, 0, true)
	f(" 1/s", 0, 0, true)
	f("1/s ", 0, 0, true)
	f("99999999999999999999/s", 0, 0, true)
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"100/s", "5/m", "1/h", "10/d", "0/s", "1/x", "-3/s", "9223372036854775807/d", "1//s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, p, err := ParseRate(s)
		if err != nil {
			return
		}
		if n <= 0 || p <= 0 {
			t.Fatalf("ParseRate(%q) = %d, %s without error", s, n, p)
		}
		// Whatever parses must also build or fail cleanly.
		if l, err := New(Config{Rate: n, Period: p}); err == nil {
			l.AllowString(s, t0)
		}
	})
}

func TestPerSecond(t *testing.T) {
	f := func(r float64, wantN int64, wantP time.Duration, wantErr bool) {
		t.Helper()
		n, p, err := PerSecond(r)
		if wantErr {
			if err == nil {
				t.Fatalf("PerSecond(%v) = %d, %s; want an error", r, n, p)
			}
			return
		}
		if err != nil || n != wantN || p != wantP {
			t.Fatalf("PerSecond(%v) = %d, %s, %v; want %d, %s", r, n, p, err, wantN, wantP)
		}
	}
	f(100, 100, time.Second, false)
	f(2.5, 5, 2*time.Second, false)
	f(0.1, 1, 10*time.Second, false)
	f(1.0/3, 1, 3*time.Second, false)
	f(0.001, 1, 1000*time.Second, false)
	f(1e9, 1e9, time.Second, false)
	f(0.0004, 0, 0, true)
	f(0, 0, 0, true)
	f(-1, 0, 0, true)
	f(2e9, 0, 0, true)
}

func TestTighterThan(t *testing.T) {
	a := Decision{Allowed: true, Remaining: 3, ResetSeconds: 1}
	b := Decision{Allowed: true, Remaining: 5, ResetSeconds: 9}
	c := Decision{Allowed: true, Remaining: 3, ResetSeconds: 4}
	if !a.TighterThan(b) || b.TighterThan(a) || !c.TighterThan(a) || a.TighterThan(c) {
		t.Fatal("TighterThan: fewer remaining, then later reset, should win")
	}
}

// TestBurstThenDeny walks a full bucket down and checks every header value.
func TestBurstThenDeny(t *testing.T) {
	l := mustNew(t, Config{Rate: 10, Period: time.Second, Burst: 5}) // 100 ms per token
	for i := int64(0); i < 5; i++ {
		d := l.AllowString("k", t0)
		// After i+1 takes the bucket is (i+1)×100ms below full.
		want := Decision{Allowed: true, Limit: 5, Remaining: 4 - i, ResetSeconds: 1}
		if d != want {
			t.Fatalf("take %d: %+v, want %+v", i, d, want)
		}
	}
	d := l.AllowString("k", t0)
	want := Decision{Limit: 5, ResetSeconds: 1, RetryAfterSeconds: 1}
	if d != want {
		t.Fatalf("denied: %+v, want %+v", d, want)
	}
	// A denial does not consume: after 100 ms exactly one more is admitted.
	if d := l.AllowString("k", t0+int64(100*time.Millisecond)); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after one interval: %+v", d)
	}
	if d := l.AllowString("k", t0+int64(100*time.Millisecond)); d.Allowed {
		t.Fatalf("second take after one interval admitted: %+v", d)
	}
}

// TestRetryAfterIsRealWait checks that waiting Retry-After seconds on the
// caller's clock is enough and one second less is not, for every period.
func TestRetryAfterIsRealWait(t *testing.T) {
	cases := []Config{
		{Rate: 10, Period: time.Second},
		{Rate: 1, Period: time.Second, Burst: 5},
		{Rate: 1, Period: 3 * time.Second},
		{Rate: 7, Period: time.Minute},
		{Rate: 100, Period: time.Hour},
		{Rate: 1000, Period: 24 * time.Hour, Burst: 10},
		{Rate: 1, Period: 24 * time.Hour},
	}
	for _, cfg := range cases {
		t.Run(fmt.Sprintf("%d/%s/b%d", cfg.Rate, cfg.Period, cfg.Burst), func(t *testing.T) {
			l := mustNew(t, cfg)
			now := t0
			admitted := int64(0)
			for i := 0; i < 1e6; i++ { // bounded; stops at the first denial
				d := l.AllowString("k", now)
				if !d.Allowed {
					break
				}
				admitted++
				now += int64(time.Millisecond) // a little time passes between calls
			}
			d := l.AllowString("k", now)
			if d.Allowed || d.RetryAfterSeconds < 1 {
				t.Fatalf("after %d admits: %+v, want a denial with Retry-After", admitted, d)
			}
			// Denials do not move the bucket: asking again gives the same answer.
			if d2 := l.AllowString("k", now); d2 != d {
				t.Fatalf("second denial %+v differs from first %+v", d2, d)
			}
			ra := d.RetryAfterSeconds * int64(time.Second)
			if d := l.AllowString("k", now+ra-int64(time.Second)); d.Allowed {
				t.Fatalf("admitted one second before Retry-After=%d: %+v", d.RetryAfterSeconds, d)
			}
			if d := l.AllowString("k", now+ra); !d.Allowed {
				t.Fatalf("denied after waiting Retry-After=%d: %+v", d.RetryAfterSeconds, d)
			}
		})
	}
}

// TestRetryAfterExactWait checks the rounding: the real wait is computed
// from the interval, and Retry-After is it rounded up.
func TestRetryAfterExactWait(t *testing.T) {
	l := mustNew(t, Config{Rate: 2, Period: 3 * time.Second, Burst: 1}) // 1.5 s per token
	l.AllowString("k", t0)
	d := l.AllowString("k", t0+int64(100*time.Millisecond))
	// Real wait: 1.4 s -> 2 s.
	if d.Allowed || d.RetryAfterSeconds != 2 || d.ResetSeconds != 2 {
		t.Fatalf("%+v, want Retry-After 2 and Reset 2", d)
	}
	if l.AllowString("k", t0+int64(1499*time.Millisecond)).Allowed {
		t.Fatal("admitted 1 ms before the real wait")
	}
	if !l.AllowString("k", t0+int64(1500*time.Millisecond)).Allowed {
		t.Fatal("denied at the real wait")
	}
}

func TestRefillAfterIdle(t *testing.T) {
	l := mustNew(t, Config{Rate: 100, Period: time.Minute, Burst: 20})
	now := t0
	for i := 0; i < 20; i++ {
		if !l.AllowString("k", now).Allowed {
			t.Fatalf("take %d of a full bucket denied", i)
		}
	}
	d := l.AllowString("k", now)
	if d.Allowed || d.ResetSeconds != 12 { // 20 tokens × 0.6 s
		t.Fatalf("empty bucket: %+v, want denied with Reset 12", d)
	}
	// Half the refill time gives half the bucket back.
	now += int64(6 * time.Second)
	if d := l.AllowString("k", now); !d.Allowed || d.Remaining != 9 {
		t.Fatalf("after 6 s: %+v, want admitted with 9 remaining", d)
	}
	// A long idle refills to full, never beyond.
	now += int64(24 * time.Hour)
	for i := 0; i < 20; i++ {
		d := l.AllowString("k", now)
		if !d.Allowed || d.Remaining != int64(19-i) {
			t.Fatalf("after a day idle, take %d: %+v", i, d)
		}
	}
	if l.AllowString("k", now).Allowed {
		t.Fatal("a bucket refilled beyond its burst")
	}
}

func TestPerKeyIsolation(t *testing.T) {
	l := mustNew(t, Config{Rate: 3, Period: time.Second, MaxKeys: 4096})
	const keys = 1000
	var buf []byte
	for round := 0; round < 2; round++ {
		for k := 0; k < keys; k++ {
			buf = strconv.AppendInt(buf[:0], int64(k), 10)
			for i := 0; i < 3; i++ {
				if d := l.Allow(buf, t0); !d.Allowed || d.Shared {
					if round == 0 {
						t.Fatalf("key %d take %d denied: %+v", k, i, d)
					}
				}
			}
			if d := l.Allow(buf, t0); d.Allowed {
				t.Fatalf("key %d round %d: fourth take admitted: %+v", k, round, d)
			}
		}
		// Round 1 sees every key exhausted while others are untouched.
		if round == 0 {
			if d := l.AllowString("fresh", t0); !d.Allowed || d.Remaining != 2 {
				t.Fatalf("a fresh key was affected by others: %+v", d)
			}
		}
	}
	if st := l.Stats(t0); st.Occupied != keys+1 || st.Live != keys+1 || st.OverflowAllowed+st.OverflowDenied != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// TestLongPeriodsHonest hammers N/h and N/d limits over synthetic days and
// expects burst + rate × t admissions.
func TestLongPeriodsHonest(t *testing.T) {
	cases := []struct {
		cfg  Config
		span time.Duration
		step time.Duration
	}{
		{Config{Rate: 100, Period: time.Hour}, 10 * time.Hour, 3 * time.Second},
		{Config{Rate: 1000, Period: 24 * time.Hour, Burst: 50}, 3 * 24 * time.Hour, 20 * time.Second},
		{Config{Rate: 1, Period: 24 * time.Hour}, 30 * 24 * time.Hour, time.Hour},
		{Config{Rate: 30, Period: time.Minute}, time.Hour, 100 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d/%s", c.cfg.Rate, c.cfg.Period), func(t *testing.T) {
			l := mustNew(t, c.cfg)
			admitted := int64(0)
			end := t0 + int64(c.span)
			for now := t0; now <= end; now += int64(c.step) {
				for i := 0; i < 3; i++ {
					if l.AllowString("k", now).Allowed {
						admitted++
					}
				}
			}
			burst := l.Config().Burst
			want := burst + c.cfg.Rate*int64(c.span)/int64(c.cfg.Period)
			if admitted < want-1 || admitted > want+1 {
				t.Fatalf("admitted %d over %s, want %d (burst %d + rate × t)", admitted, c.span, want, burst)
			}
		})
	}
}

// reference is the exact per-key GCRA with unbounded memory.
type reference struct {
	interval, tau int64
	tat           map[string]int64
}

func (r *reference) allow(key string, now int64) bool {
	tat := max(r.tat[key], now)
	if tat+r.interval-now > r.tau {
		return false
	}
	r.tat[key] = tat + r.interval
	return true
}

// TestMatchesReference drives random keys and times through a limiter with
// room for every key and a map-based exact GCRA: evictions of idle buckets
// must not change a single decision.
func TestMatchesReference(t *testing.T) {
	for _, grace := range []time.Duration{0, -1} {
		l := mustNew(t, Config{Rate: 5, Period: time.Second, Burst: 3, MaxKeys: 4096, IdleGrace: grace})
		ref := &reference{interval: l.interval, tau: l.tau, tat: map[string]int64{}}
		rng := rand.New(rand.NewPCG(1, 2))
		now := t0
		ops := 200_000
		if raceEnabled {
			ops = 50_000
		}
		for i := 0; i < ops; i++ {
			now += rng.Int64N(int64(20 * time.Millisecond))
			key := strconv.Itoa(rng.IntN(3000))
			got := l.AllowString(key, now)
			if want := ref.allow(key, now); got.Allowed != want || got.Shared {
				t.Fatalf("grace %s op %d key %s: limiter %+v, reference allowed=%v", grace, i, key, got, want)
			}
		}
		st := l.Stats(now)
		if grace < 0 && st.Evictions == 0 {
			t.Fatalf("no idle bucket was ever reclaimed: %+v", st)
		}
		t.Logf("grace %s: %+v", grace, st)
	}
}

// TestEvictionNeverResetsLive fills a tiny table with buckets that limit
// their callers for an hour and floods it with new keys: the flood goes to
// the shared overflow bucket and every original key stays limited.
func TestEvictionNeverResetsLive(t *testing.T) {
	l := mustNew(t, Config{Rate: 1, Period: time.Hour, MaxKeys: 64})
	var held []string
	for i := 0; len(held) < 64 && i < 10_000; i++ {
		k := "held-" + strconv.Itoa(i)
		if d := l.AllowString(k, t0); d.Allowed && !d.Shared {
			held = append(held, k)
		}
	}
	st := l.Stats(t0)
	if len(held) < 56 || st.Occupied != st.Capacity {
		t.Fatalf("could seat only %d keys: %+v", len(held), st)
	}
	now := t0 + int64(30*time.Minute)
	for i := 0; i < 10_000; i++ {
		if d := l.AllowString("flood-"+strconv.Itoa(i), now); !d.Shared {
			t.Fatalf("flood key %d got a slot in a table of live buckets: %+v", i, d)
		}
	}
	st2 := l.Stats(now)
	// Seating the held keys already used the overflow bucket's one token.
	if st2.Evictions != 0 || st2.OverflowAllowed+st2.OverflowDenied-st.OverflowAllowed-st.OverflowDenied != 10_000 ||
		st2.OverflowAllowed > 1 {
		t.Fatalf("flood against live buckets: before %+v after %+v", st, st2)
	}
	for _, k := range held {
		if d := l.AllowString(k, now); d.Allowed || d.Shared || d.RetryAfterSeconds != 1800 {
			t.Fatalf("key %s was reset or moved by the flood: %+v", k, d)
		}
	}
	// Full after 1 h, reclaimable after 1 h of grace more: late keys take
	// the slots over (a late key whose window has filled with other late
	// keys goes to overflow, so not all 64 are reclaimed).
	now = t0 + int64(2*time.Hour)
	for i := 0; i < 100; i++ {
		l.AllowString("late-"+strconv.Itoa(i), now)
	}
	if st := l.Stats(now); st.Evictions < 48 {
		t.Fatalf("idle buckets were not reclaimed: %+v", st)
	}
}

// TestReclaimProtocol checks, step by step, the pieces of the lock-free
// handover of a slot from an idle key A to a new key B that concurrent
// readers of A rely on (see take).
func TestReclaimProtocol(t *testing.T) {
	l := mustNew(t, Config{Rate: 1, Period: time.Second, MaxKeys: 64, IdleGrace: -1})
	mA := mix(HashString("A"), l.seed)
	if d := l.AllowHash(HashString("A"), t0); !d.Allowed {
		t.Fatal("A denied")
	}
	var sl *slot
	for i := range l.slots {
		if l.slots[i].key.Load() == mA {
			sl = &l.slots[i]
		}
	}
	if sl == nil {
		t.Fatal("A has no slot")
	}
	staleTAT := sl.state.Load()

	// While a slot is being handed over, its old owner is sent to insert.
	sl.state.Store(lockedState)
	if _, ok := l.take(sl, mA, t0); ok {
		t.Fatal("take succeeded on a locked slot")
	}
	sl.state.Store(staleTAT)

	// Fill A's window with live keys of B's choosing so the only
	// reclaimable slot is A's, then let B reclaim it once A is idle.
	later := staleTAT + int64(time.Second)
	var mB uint64
	for i := 0; mB == 0 && i < 1_000_000; i++ {
		m := mix(HashString("B"+strconv.Itoa(i)), l.seed)
		home := m & l.slotMask
		if m>>l.shardShift == mA>>l.shardShift && home == mA&l.slotMask {
			mB = m
		}
	}
	if mB == 0 {
		t.Skip("no key shares A's home slot")
	}
	for p := uint64(0); p < probeWindow; p++ {
		other := &l.slots[(mA>>l.shardShift)<<l.slotBits+(mA+p)&l.slotMask]
		if other != sl {
			other.key.Store(uint64(1000 + p))
			other.state.Store(later + int64(time.Hour)) // live
		}
	}
	l.insert(mB>>l.shardShift, mB, later)
	if sl.key.Load() != mB {
		t.Fatalf("B did not reclaim A's idle slot: %+v", l.Stats(later))
	}
	// A reader of A that read its key before the handover now fails both
	// ways: the key check sends it to insert, and a CAS from the TAT it
	// read cannot succeed because the state has only grown.
	if _, ok := l.take(sl, mA, later); ok {
		t.Fatal("take for A succeeded on B's slot")
	}
	if sl.state.CompareAndSwap(staleTAT, staleTAT+l.interval) {
		t.Fatal("a stale CAS succeeded after the handover")
	}
	if got := sl.state.Load(); got != later+l.interval {
		t.Fatalf("B's bucket TAT %d, want %d", got, later+l.interval)
	}
	// A comes back and, its window full of live buckets, is decided by the
	// overflow bucket; B is untouched.
	if d := l.AllowHash(HashString("A"), later); !d.Shared || !d.Allowed {
		t.Fatalf("A after losing its idle slot: %+v", d)
	}
	if got := sl.state.Load(); got != later+l.interval {
		t.Fatalf("A's request changed B's bucket: TAT %d", got)
	}
}

// TestRefund: a refunded token is back in the bucket (per key, and for the
// shared overflow bucket); refunding a denial changes nothing.
func TestRefund(t *testing.T) {
	l := mustNew(t, Config{Rate: 10, Period: time.Second, Burst: 3})
	a := l.AllowString("k", t0)
	b := l.AllowString("k", t0)
	if !a.Allowed || !b.Allowed || b.Remaining != 1 {
		t.Fatalf("takes: %+v %+v", a, b)
	}
	l.Refund([]byte("k"), b)
	if d := l.AllowString("k", t0); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("after a refund: %+v, want Remaining 1", d)
	}
	l.AllowString("k", t0)
	denied := l.AllowString("k", t0)
	if denied.Allowed {
		t.Fatalf("bucket should be empty: %+v", denied)
	}
	l.Refund([]byte("k"), denied) // no-op
	if d := l.AllowString("k", t0); d.Allowed {
		t.Fatalf("refunding a denial gave a token: %+v", d)
	}
	// Another key's bucket is untouched by refunds to k.
	if d := l.AllowString("other", t0); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("other key: %+v", d)
	}
	// NoKey bucket.
	n := l.AllowNoKey(t0)
	l.RefundNoKey(n)
	if d := l.AllowNoKey(t0); d.Remaining != 2 {
		t.Fatalf("no-key bucket after refund: %+v", d)
	}
}
