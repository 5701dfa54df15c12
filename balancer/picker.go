package balancer

import (
	"math/rand/v2"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// Filter says which targets a pick may return. It is passed by value so a
// pick allocates nothing.
type Filter struct {
	Now            int64   // Unix ns, for ejection expiry
	IgnoreEjection bool    // panic mode: outlier ejections are ignored
	SkipFull       bool    // targets at their max_conns are passed over
	Exclude        *Target // a target not to return (the one a retry leaves)
}

// Allows reports whether t may be picked under f. A target that fails its
// health checks never is: SPEC §4 answers "no healthy target" with a 503
// rather than sending traffic to a target known to be down.
func (f *Filter) Allows(t *Target) bool {
	if t == f.Exclude || !t.Healthy() {
		return false
	}
	if !f.IgnoreEjection && t.Ejected(f.Now) {
		return false
	}
	return !f.SkipFull || !t.Full()
}

// Picker is one balancing algorithm over a fixed target list. Pick returns
// an allowed target or nil when none is allowed; it must be safe for
// concurrent use, lock-free and allocation-free.
type Picker interface {
	Pick(hashKey uint64, f Filter) *Target
}

// Interface guards.
var (
	_ Picker = (*roundRobin)(nil)
	_ Picker = (*leastRequest)(nil)
	_ Picker = (*maglev)(nil)
	_ Picker = (*weightedRandom)(nil)
)

// maxProbes bounds the fast-path attempts of a picker before it falls
// back to an O(targets) scan; the fallback only runs when many targets are
// unavailable.
const maxProbes = 8

// maxSchedule bounds the weighted schedule length; larger weight sums are
// scaled down proportionally (each target keeps at least one slot).
const maxSchedule = 1 << 14

func newPicker(algorithm string, targets []*Target) Picker {
	switch algorithm {
	case LeastRequest:
		return &leastRequest{targets: targets, sched: buildSchedule(targets)}
	case ConsistentHash:
		return newMaglev(targets)
	case Random:
		return &weightedRandom{targets: targets, sched: buildSchedule(targets)}
	default:
		return &roundRobin{targets: targets, sched: buildSchedule(targets)}
	}
}

// buildSchedule returns one full cycle of nginx's smooth weighted round
// robin over the targets' weights (reduced by their GCD): each target
// appears weight times, spread out as evenly as nginx spreads them. It
// doubles as a table for O(1) weighted random draws.
func buildSchedule(targets []*Target) []uint16 {
	w := make([]int, len(targets))
	g, sum := 0, 0
	for i, t := range targets {
		w[i] = t.weight
		g = gcd(g, t.weight)
	}
	for i := range w {
		w[i] /= g
		sum += w[i]
	}
	if sum > maxSchedule {
		scaled := 0
		for i := range w {
			w[i] = max(1, w[i]*maxSchedule/sum)
			scaled += w[i]
		}
		sum = scaled
	}
	sched := make([]uint16, 0, sum)
	cur := make([]int, len(w))
	for range sum {
		best := 0
		for i := range w {
			cur[i] += w[i]
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= sum
		sched = append(sched, uint16(best))
	}
	return sched
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// weightedScan is the slow-path fallback: a weighted choice among the
// allowed targets, driven by r (random, or the hash for determinism).
func weightedScan(targets []*Target, f *Filter, r uint64) *Target {
	sum := 0
	for _, t := range targets {
		if f.Allows(t) {
			sum += t.weight
		}
	}
	if sum == 0 {
		return nil
	}
	x := int(r % uint64(sum))
	for _, t := range targets {
		if f.Allows(t) {
			if x < t.weight {
				return t
			}
			x -= t.weight
		}
	}
	return nil // unreachable unless availability changed mid-scan
}

// roundRobin is smooth weighted round robin made lock-free: the SWRR cycle
// is precomputed and an atomic counter walks it. A skipped (unavailable)
// slot is consumed, so the remaining targets keep their exact proportions.
type roundRobin struct {
	targets []*Target
	sched   []uint16
	_       [64]byte // keep next off the read-only fields' cache line
	next    atomic.Uint64
}

func (r *roundRobin) Pick(_ uint64, f Filter) *Target {
	n := uint64(len(r.sched))
	for range maxProbes {
		t := r.targets[r.sched[(r.next.Add(1)-1)%n]]
		if f.Allows(t) {
			return t
		}
	}
	return weightedScan(r.targets, &f, rand.Uint64())
}

// randIndex returns a random index below n (n ≤ maxSchedule) by
// multiply-shift; its bias, n/2^32, is negligible and it needs no division.
func randIndex(n uint64) uint64 { return uint64(rand.Uint32()) * n >> 32 }

// weightedRandom draws slots of the weighted schedule uniformly.
type weightedRandom struct {
	targets []*Target
	sched   []uint16
}

func (r *weightedRandom) Pick(_ uint64, f Filter) *Target {
	n := uint64(len(r.sched))
	for range maxProbes {
		t := r.targets[r.sched[randIndex(n)]]
		if f.Allows(t) {
			return t
		}
	}
	return weightedScan(r.targets, &f, rand.Uint64())
}

// leastRequest is power of two choices: two weighted-random candidates,
// the one with fewer in-flight requests per unit of weight wins; ties go
// to the first candidate, so under no load the split follows the weights.
type leastRequest struct {
	targets []*Target
	sched   []uint16
}

func (l *leastRequest) draw(f *Filter) *Target {
	n := uint64(len(l.sched))
	for range maxProbes / 2 {
		t := l.targets[l.sched[randIndex(n)]]
		if f.Allows(t) {
			return t
		}
	}
	return nil
}

func (l *leastRequest) Pick(_ uint64, f Filter) *Target {
	// Fast path: both candidates from one random word (multiply-shift
	// maps each 32-bit half onto the schedule without division).
	n := uint64(len(l.sched))
	r := rand.Uint64()
	a := l.targets[l.sched[(r&0xffffffff)*n>>32]]
	b := l.targets[l.sched[(r>>32)*n>>32]]
	if !f.Allows(a) {
		if a = l.draw(&f); a == nil {
			return l.scan(&f)
		}
	}
	if !f.Allows(b) {
		if b = l.draw(&f); b == nil {
			return a
		}
	}
	if b == a && len(l.targets) > 1 {
		// Two draws of one target compare nothing: with two targets a
		// quarter of the picks would ignore load. The second candidate is
		// then another target, uniformly (a's weighted draw alone sets the
		// split under no load; the comparison below weighs load by weight).
		k := len(l.targets)
		b = l.targets[(a.index+1+rand.IntN(k-1))%k]
		if !f.Allows(b) {
			return a
		}
	}
	// Prefer the lower inflight/weight, without division; ties keep a,
	// so under no load the split follows the weights.
	if b.s.inflight.Load()*int64(a.weight) < a.s.inflight.Load()*int64(b.weight) {
		return b
	}
	return a
}

// scan returns the least loaded allowed target, starting at a random
// index so ties do not always favour the same target.
func (l *leastRequest) scan(f *Filter) *Target {
	n := len(l.targets)
	start := rand.IntN(n)
	var best *Target
	for i := range n {
		t := l.targets[(start+i)%n]
		if !f.Allows(t) {
			continue
		}
		if best == nil || t.s.inflight.Load()*int64(best.weight) < best.s.inflight.Load()*int64(t.weight) {
			best = t
		}
	}
	return best
}

// maglev is a Maglev lookup table (Eisenbud et al., NSDI 2016) with
// Envoy-style weights. Each target's permutation derives from a hash of
// its address alone, so removing one of N targets remaps about 1/N of the
// keys and target order does not matter.
type maglev struct {
	targets []*Target
	table   []uint16
}

// maglevSize returns a prime table size of at least 100 entries per target
// and at least 65537, which keeps the per-target share within ~1%.
func maglevSize(n int) int {
	m := max(65537, 100*n)
	for !isPrime(m) {
		m++
	}
	return m
}

func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

func newMaglev(targets []*Target) *maglev {
	m := maglevSize(len(targets))
	n := len(targets)
	offset := make([]uint64, n)
	skip := make([]uint64, n)
	next := make([]uint64, n)
	credit := make([]int, n)
	maxW := 0
	for i, t := range targets {
		offset[i] = xxhash.Sum64String(t.address) % uint64(m)
		skip[i] = xxhash.Sum64String("skip:"+t.address)%uint64(m-1) + 1
		maxW = max(maxW, t.weight)
	}
	for i := range credit {
		credit[i] = maxW
	}
	const empty = 0xffff
	table := make([]uint16, m)
	for i := range table {
		table[i] = empty
	}
	filled := 0
	for iter := 1; filled < m; iter++ {
		for i := 0; i < n && filled < m; i++ {
			// A target of weight maxW/k places one entry every k rounds.
			if iter*targets[i].weight < credit[i] {
				continue
			}
			credit[i] += maxW
			for {
				c := (offset[i] + next[i]*skip[i]) % uint64(m)
				next[i]++
				if table[c] == empty {
					table[c] = uint16(i)
					filled++
					break
				}
			}
		}
	}
	return &maglev{targets: targets, table: table}
}

func (g *maglev) Pick(hashKey uint64, f Filter) *Target {
	m := uint64(len(g.table))
	t := g.targets[g.table[hashKey%m]]
	if f.Allows(t) {
		return t
	}
	// The key's target is unavailable: rehash deterministically, so the
	// same key keeps landing on the same fallback target and keys of
	// available targets never move.
	h := hashKey
	for range maxProbes {
		h = mix64(h + 0x9e3779b97f4a7c15)
		t = g.targets[g.table[h%m]]
		if f.Allows(t) {
			return t
		}
	}
	return weightedScan(g.targets, &f, h)
}

// mix64 is the splitmix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
