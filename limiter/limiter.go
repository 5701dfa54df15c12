package limiter

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

const (
	// DefaultMaxKeys is the bucket capacity of a limit whose Config.MaxKeys is 0:
	// 65,536 buckets, 1 MiB of bucket memory.
	DefaultMaxKeys = 1 << 16
	// MaxMaxKeys bounds Config.MaxKeys (16,777,216 buckets, 256 MiB) so that a
	// typo in a route file cannot reserve the machine's memory.
	MaxMaxKeys = 1 << 24

	// NoKeyHash is the key hash of the shared bucket that takes every request
	// with no value for a limit's key (absent header, anonymous caller). It is
	// xxhash64 of the empty string, so Allow(nil), Allow([]byte{}) and
	// AllowString("") all land in it.
	NoKeyHash uint64 = 0xef46db3751d8e999

	// probeWindow is how many consecutive slots (4 cache lines) a key may
	// occupy from its home slot. Lookups stop at the first empty slot or
	// after the window.
	probeWindow = 16
	maxShards   = 64
	// minShardSlots keeps each shard several windows wide so that a window
	// never wraps onto itself.
	minShardSlots = 64
	// maxReclaimTries bounds the slow path when owners of idle buckets keep
	// coming back while a new key tries to reclaim them.
	maxReclaimTries = 4

	// lockedState marks a slot being handed from an idle key to a new one.
	// A computed TAT never reaches it.
	lockedState int64 = math.MinInt64

	// maxTau bounds burst × emission interval (about 36 years) so TAT
	// arithmetic on unix nanoseconds cannot overflow.
	maxTau = int64(1) << 60
	// maxRoundingError is the largest relative error accepted when
	// Period/Rate is rounded to whole nanoseconds per token.
	maxRoundingError = 1e-3

	nanosPerSecond = int64(time.Second)
)

// Config defines one limit. The zero values of Burst, MaxKeys and IdleGrace
// select the documented defaults; Config.normalize applies them.
type Config struct {
	// Name identifies the limit (metric label, logs). Not interpreted.
	Name string
	// Key describes what the caller hashes into keys ("ip", "consumer",
	// "header:x-api-key", ...). Opaque to the limiter; compared by
	// SameDefinition so a reload that changes the key drops the buckets.
	Key string
	// Rate tokens are added per Period: 100 per second is {Rate: 100,
	// Period: time.Second}; see ParseRate and PerSecond.
	Rate   int64
	Period time.Duration
	// Burst is the bucket size: how many requests a full bucket admits at
	// once. 0 means Rate (one period's worth).
	Burst int64
	// MaxKeys caps the number of buckets; rounded up to a power of two.
	// 0 means DefaultMaxKeys.
	MaxKeys int
	// IdleGrace is how long a bucket must have been full before its slot may
	// be given to another key. It protects steady callers whose calls are
	// spaced by less than Period/Rate + IdleGrace from losing their slot
	// to a flood. 0 means max(Period/Rate, 1s); negative means no grace
	// (a slot is reusable as soon as its bucket is full).
	IdleGrace time.Duration
}

// ConfigError is a Config problem; Field names the setting at fault as a
// route file does (rate, burst, max_keys).
type ConfigError struct {
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func configErr(field, format string, a ...any) error {
	return &ConfigError{Field: field, Err: fmt.Errorf(format, a...)}
}

func (c Config) normalize() (Config, error) {
	if c.Rate <= 0 {
		return c, configErr("rate", "cannot use rate %d: must be positive", c.Rate)
	}
	if c.Period <= 0 {
		return c, configErr("rate", "cannot use period %s: must be positive", c.Period)
	}
	if c.Burst == 0 {
		c.Burst = c.Rate
	}
	if c.Burst < 0 {
		return c, configErr("burst", "cannot use burst %d: must be positive", c.Burst)
	}
	if c.MaxKeys == 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.MaxKeys < 0 || c.MaxKeys > MaxMaxKeys {
		return c, configErr("max_keys", "cannot use max_keys %d: must be in 1..%d", c.MaxKeys, MaxMaxKeys)
	}
	interval, err := emissionInterval(c.Rate, c.Period)
	if err != nil {
		return c, &ConfigError{Field: "rate", Err: err}
	}
	if c.Burst > maxTau/interval {
		return c, configErr("burst", "cannot use burst %d at %d/%s: burst × interval exceeds %s", c.Burst, c.Rate, c.Period, time.Duration(maxTau))
	}
	if c.IdleGrace == 0 {
		c.IdleGrace = max(time.Duration(interval), time.Second)
	}
	if c.IdleGrace < 0 {
		c.IdleGrace = -1
	}
	return c, nil
}

// emissionInterval returns Period/Rate rounded to whole nanoseconds, the
// time one token takes to come back.
func emissionInterval(rate int64, period time.Duration) (int64, error) {
	p := int64(period)
	if rate > p {
		return 0, fmt.Errorf("cannot use rate %d/%s: over one token per nanosecond", rate, period)
	}
	interval := p / rate
	if rem := p % rate; rem >= rate-rem {
		interval++ // round half up without overflowing p + rate/2
	}
	if interval == 0 {
		return 0, fmt.Errorf("cannot use rate %d/%s: over one token per nanosecond", rate, period)
	}
	// Relative error of the effective rate: |interval×rate − period| / period.
	diff := math.Abs(float64(interval)*float64(rate) - float64(p))
	if diff > maxRoundingError*float64(p) {
		return 0, fmt.Errorf("cannot use rate %d/%s: %s/%d is %.4g ns per token, which whole nanoseconds represent only within %.2g%%",
			rate, period, period, rate, float64(p)/float64(rate), 100*diff/float64(p))
	}
	return interval, nil
}

// Decision is the outcome of one Allow. Its fields map onto the response
// headers of draft-ietf-httpapi-ratelimit-headers and RFC 9110 Retry-After.
type Decision struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Shared reports that the key had no bucket of its own (the table was
	// full of buckets still limiting their callers) and the shard's shared
	// overflow bucket decided.
	Shared bool
	// Limit is the bucket size (Burst): RateLimit-Limit.
	Limit int64
	// Remaining is how many more requests a caller could make right now:
	// RateLimit-Remaining. 0 when denied.
	Remaining int64
	// ResetSeconds is the time, rounded up to whole seconds, until the
	// bucket is full again if unused: RateLimit-Reset.
	ResetSeconds int64
	// RetryAfterSeconds is the wait until the next request would be
	// admitted, rounded up to whole seconds: Retry-After. 0 when allowed.
	RetryAfterSeconds int64
}

// TighterThan reports whether d is the tighter of two admitted decisions,
// the one whose RateLimit-* headers a response should carry: fewer
// requests remaining, then the later reset.
func (d Decision) TighterThan(o Decision) bool {
	if d.Remaining != o.Remaining {
		return d.Remaining < o.Remaining
	}
	return d.ResetSeconds > o.ResetSeconds
}

// slot is one bucket: plain integers only, so a []slot holds no pointers
// and the GC never scans the table.
type slot struct {
	// key is the mixed key hash; 0 means empty. A slot never becomes empty
	// again, which keeps probe sequences unbroken without tombstones.
	key atomic.Uint64
	// state is the GCRA theoretical arrival time (TAT) in unix nanoseconds:
	// the bucket is full when TAT <= now, and admits a request when
	// max(TAT, now) + interval - now <= tau. lockedState while reassigned.
	state atomic.Int64
}

// shardState is the mutable part of a shard. Read-only table parameters
// live in Limiter, so hot-path reads never share a line with these writes.
type shardState struct {
	// mu serialises inserting and reclaiming slots in this shard. Allow on
	// a key that has a slot never takes it.
	mu sync.Mutex
	// overflow is the TAT of the shard's shared overflow bucket.
	overflow        atomic.Int64
	inserts         atomic.Uint64
	evictions       atomic.Uint64
	overflowAllowed atomic.Uint64
	overflowDenied  atomic.Uint64
}

const cacheLinePair = 128 // adjacent-line prefetch pairs 64-byte lines

type shard struct {
	_ [cacheLinePair]byte
	shardState
	_ [cacheLinePair - unsafe.Sizeof(shardState{})%cacheLinePair]byte
}

// Limiter holds the buckets of one limit. It is safe for concurrent use;
// every field outside shards is immutable after New.
type Limiter struct {
	cfg      Config
	interval int64 // nanoseconds per token
	tau      int64 // burst × interval: how far TAT may run ahead of now
	grace    int64 // IdleGrace in nanoseconds, 0 when none
	seed     uint64

	// slots holds every shard's table back to back: shard s owns
	// slots[s<<slotBits : (s+1)<<slotBits].
	slots      []slot
	slotBits   uint
	slotMask   uint64
	shardShift uint // 64 − log2(len(shards)); a shift of 64 yields shard 0
	shards     []shard
}

// New builds a limiter for cfg. Bucket memory is allocated up front:
// 16 bytes × MaxKeys rounded up to a power of two.
func New(cfg Config) (*Limiter, error) {
	n, err := cfg.normalize()
	if err != nil {
		return nil, fmt.Errorf("cannot build rate limit %q: %w", cfg.Name, err)
	}
	interval, _ := emissionInterval(n.Rate, n.Period)
	capacity := max(nextPow2(uint64(n.MaxKeys)), minShardSlots)
	shards := min(uint64(maxShards), capacity/minShardSlots)
	shardBits := uint(log2(shards))
	slotBits := uint(log2(capacity)) - shardBits
	l := &Limiter{
		cfg:        n,
		interval:   interval,
		tau:        n.Burst * interval,
		grace:      max(int64(n.IdleGrace), 0),
		seed:       rand.Uint64(),
		slots:      make([]slot, capacity),
		slotBits:   slotBits,
		slotMask:   1<<slotBits - 1,
		shardShift: 64 - shardBits,
		shards:     make([]shard, shards),
	}
	return l, nil
}

// Config returns the limit's definition with defaults applied.
func (l *Limiter) Config() Config { return l.cfg }

// SameDefinition reports whether cfg, with defaults applied, defines the same
// limit as l, so a reload can keep l and its buckets. A cfg that does not
// validate is never the same.
func (l *Limiter) SameDefinition(cfg Config) bool {
	n, err := cfg.normalize()
	return err == nil && n == l.cfg
}

// Hash returns the key hash that Allow uses, for callers that apply several
// limits to the same key value and want to hash it once.
func Hash(key []byte) uint64 { return xxhash.Sum64(key) }

// HashString is Hash for a string, without copying it.
func HashString(key string) uint64 { return xxhash.Sum64String(key) }

// Allow takes one token from key's bucket at now (unix nanoseconds from the
// caller's clock, coarse is fine). An empty key means "no value" and uses the
// shared NoKeyHash bucket. Allow keeps no reference to key.
func (l *Limiter) Allow(key []byte, now int64) Decision {
	return l.AllowHash(xxhash.Sum64(key), now)
}

// AllowString is Allow for a string key.
func (l *Limiter) AllowString(key string, now int64) Decision {
	return l.AllowHash(xxhash.Sum64String(key), now)
}

// AllowNoKey takes a token from the shared bucket of requests that have no
// value for the limit's key.
func (l *Limiter) AllowNoKey(now int64) Decision {
	return l.AllowHash(NoKeyHash, now)
}

// AllowHash is Allow for a key already hashed with Hash. Two keys whose
// hashes are equal share one bucket.
//
// When the key has a bucket, AllowHash is lock-free: atomic loads along the
// probe window and one compare-and-swap loop on the bucket. A key without a
// bucket takes its shard's mutex to insert one.
func (l *Limiter) AllowHash(h uint64, now int64) Decision {
	m := mix(h, l.seed)
	s := m >> l.shardShift
	base := s << l.slotBits
	for p := uint64(0); p < probeWindow; p++ {
		sl := &l.slots[base+(m+p)&l.slotMask]
		k := sl.key.Load()
		if k == m {
			if tat, ok := l.take(sl, m, now); ok {
				return l.decide(tat, now)
			}
			break // being reassigned: its bucket was idle; go insert
		}
		if k == 0 {
			break
		}
	}
	return l.insert(s, m, now)
}

// RefundHash gives back the token that an admitted AllowHash(h) took, d
// being its decision: a route with several limits takes from each in turn,
// and a request one of them refuses must not have used up the others
// (only admitted requests count). A key whose bucket was reassigned
// meanwhile (it went idle for IdleGrace) has nothing left to refund.
//
// A refund lowers a TAT, which the ordering argument of take allows: a
// bucket's value alone decides admission, so a compare-and-swap that
// succeeds on a value seen before acts on the state that value means; and
// a reassigned slot's TAT is above any TAT its former key could refund to.
func (l *Limiter) RefundHash(h uint64, d Decision) {
	if !d.Allowed {
		return
	}
	m := mix(h, l.seed)
	s := m >> l.shardShift
	if d.Shared {
		refundTAT(&l.shards[s].overflow, l.interval)
		return
	}
	base := s << l.slotBits
	for p := uint64(0); p < probeWindow; p++ {
		sl := &l.slots[base+(m+p)&l.slotMask]
		k := sl.key.Load()
		if k == m {
			for {
				tat := sl.state.Load()
				if tat == lockedState || sl.key.Load() != m {
					return
				}
				if sl.state.CompareAndSwap(tat, tat-l.interval) {
					return
				}
			}
		}
		if k == 0 {
			return
		}
	}
}

// RefundNoKey is RefundHash for AllowNoKey.
func (l *Limiter) RefundNoKey(d Decision) { l.RefundHash(NoKeyHash, d) }

// Refund is RefundHash for Allow(key).
func (l *Limiter) Refund(key []byte, d Decision) { l.RefundHash(Hash(key), d) }

func refundTAT(state *atomic.Int64, interval int64) {
	for {
		tat := state.Load()
		if state.CompareAndSwap(tat, tat-interval) {
			return
		}
	}
}

// take runs GCRA on sl for key m and returns the bucket's TAT as it was
// before this request, for decide. It reports false when the slot no longer
// belongs to m, which only happens after m's bucket went idle.
//
// Ordering argument: a slot's state only ever grows (every admit and every
// reassignment writes a TAT above the one it replaces), so a successful CAS
// from the value read means nothing was written in between; and state is
// read before the key is re-checked, while reassignment locks state before
// storing the new key, so a state read under a matching key belongs to m.
func (l *Limiter) take(sl *slot, m uint64, now int64) (int64, bool) {
	for {
		tat := sl.state.Load()
		if tat == lockedState || sl.key.Load() != m {
			return 0, false
		}
		next := max(tat, now) + l.interval
		if next-now > l.tau || sl.state.CompareAndSwap(tat, next) {
			return tat, true
		}
	}
}

// decide builds the decision for a request that found the bucket at tat;
// admitted exactly when take stored a new TAT.
func (l *Limiter) decide(tat, now int64) Decision {
	tat = max(tat, now)
	ahead := tat + l.interval - now // how far below full the bucket would be
	if ahead > l.tau {
		return Decision{
			Limit:             l.cfg.Burst,
			ResetSeconds:      ceilSeconds(tat - now),
			RetryAfterSeconds: ceilSeconds(ahead - l.tau),
		}
	}
	return Decision{
		Allowed:      true,
		Limit:        l.cfg.Burst,
		Remaining:    (l.tau - ahead) / l.interval,
		ResetSeconds: ceilSeconds(ahead),
	}
}

// insert gives key m a bucket in shard s: an empty slot in its window, else
// the window's longest-idle slot whose bucket has been full for at least
// IdleGrace. With neither, the shard's overflow bucket decides.
func (l *Limiter) insert(s, m uint64, now int64) Decision {
	sh := &l.shards[s]
	base := s << l.slotBits
	sh.mu.Lock()
	for try := 0; try < maxReclaimTries; try++ {
		var empty, victim *slot
		victimTAT := int64(math.MaxInt64)
		for p := uint64(0); p < probeWindow; p++ {
			sl := &l.slots[base+(m+p)&l.slotMask]
			k := sl.key.Load()
			if k == m {
				// Inserted by another goroutine meanwhile. Under mu no slot
				// can be locked, so take always succeeds here.
				tat, _ := l.take(sl, m, now)
				sh.mu.Unlock()
				return l.decide(tat, now)
			}
			if k == 0 {
				empty = sl
				break
			}
			if tat := sl.state.Load(); tat <= now-l.grace && tat < victimTAT {
				victim, victimTAT = sl, tat
			}
		}
		// A new bucket starts full, so its first request is admitted.
		next := now + l.interval
		if empty != nil {
			empty.state.Store(next)
			empty.key.Store(m)
			sh.inserts.Add(1)
			sh.mu.Unlock()
			return l.decide(now, now)
		}
		if victim == nil {
			break
		}
		// Lock the state first: a concurrent admit by the old owner makes
		// this CAS fail, and the slot is judged again.
		if !victim.state.CompareAndSwap(victimTAT, lockedState) {
			continue
		}
		victim.key.Store(m)
		victim.state.Store(next) // next > victimTAT: state keeps growing
		sh.evictions.Add(1)
		sh.mu.Unlock()
		return l.decide(now, now)
	}
	sh.mu.Unlock()
	return l.takeOverflow(sh, now)
}

// takeOverflow runs GCRA on the shard's shared overflow bucket, which has the
// limit's own rate and burst: keys that found no slot are limited together,
// never more loosely than one key alone.
func (l *Limiter) takeOverflow(sh *shard, now int64) Decision {
	for {
		tat := sh.overflow.Load()
		next := max(tat, now) + l.interval
		if next-now > l.tau {
			sh.overflowDenied.Add(1)
			d := l.decide(tat, now)
			d.Shared = true
			return d
		}
		if sh.overflow.CompareAndSwap(tat, next) {
			sh.overflowAllowed.Add(1)
			d := l.decide(tat, now)
			d.Shared = true
			return d
		}
	}
}

// Stats describes a limiter's table for metrics and debugging.
type Stats struct {
	// Capacity is the number of bucket slots (MaxKeys rounded up).
	Capacity int
	// Occupied counts slots holding a key, idle or not.
	Occupied int
	// Live counts buckets that are not full at now: still limiting a caller.
	Live int
	// Inserts counts keys given an empty slot; Evictions counts keys given
	// the slot of another key whose bucket had been idle for IdleGrace.
	Inserts   uint64
	Evictions uint64
	// OverflowAllowed and OverflowDenied count decisions made by the shared
	// overflow buckets for keys that found no slot.
	OverflowAllowed uint64
	OverflowDenied  uint64
	// MemoryBytes is the memory the limiter allocated at New; it never grows.
	MemoryBytes int64
}

// Stats scans the table (O(Capacity) atomic loads; for scrapes, not for the
// request path) and sums the shards' counters.
func (l *Limiter) Stats(now int64) Stats {
	st := Stats{
		Capacity: len(l.slots),
		MemoryBytes: int64(unsafe.Sizeof(*l)) +
			int64(len(l.slots))*int64(unsafe.Sizeof(slot{})) +
			int64(len(l.shards))*int64(unsafe.Sizeof(shard{})),
	}
	for i := range l.slots {
		if l.slots[i].key.Load() == 0 {
			continue
		}
		st.Occupied++
		if tat := l.slots[i].state.Load(); tat > now || tat == lockedState {
			st.Live++
		}
	}
	for i := range l.shards {
		sh := &l.shards[i]
		st.Inserts += sh.inserts.Load()
		st.Evictions += sh.evictions.Load()
		st.OverflowAllowed += sh.overflowAllowed.Load()
		st.OverflowDenied += sh.overflowDenied.Load()
	}
	return st
}

// mix spreads h with the limiter's random seed (the murmur3 finalizer, a
// bijection), so positions in the table cannot be predicted from key values
// and crafted keys cannot pile into one probe window. 0 marks empty slots,
// so it is moved to 1.
func mix(h, seed uint64) uint64 {
	h ^= seed
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	if h == 0 {
		h = 1
	}
	return h
}

func ceilSeconds(ns int64) int64 {
	if ns <= 0 {
		return 0
	}
	return (ns-1)/nanosPerSecond + 1
}

func nextPow2(x uint64) uint64 {
	p := uint64(1)
	for p < x {
		p <<= 1
	}
	return p
}

func log2(x uint64) int {
	n := 0
	for x > 1 {
		x >>= 1
		n++
	}
	return n
}
