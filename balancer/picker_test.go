package balancer

import (
	"strconv"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
)

var algorithms = []string{RoundRobin, LeastRequest, ConsistentHash, Random}

func hashKey(i int) uint64 { return xxhash.Sum64String("client-" + strconv.Itoa(i)) }

func TestDistribution(t *testing.T) {
	const picks = 120_000
	weightSets := []struct {
		name    string
		weights []int
	}{
		{"equal", []int{1, 1, 1, 1}},
		{"weighted", []int{1, 2, 3, 4}},
		{"skewed", []int{10, 1, 5}},
	}
	for _, alg := range algorithms {
		for _, ws := range weightSets {
			t.Run(alg+"/"+ws.name, func(t *testing.T) {
				p := mustPool(t, PoolConfig{Name: "u", Algorithm: alg, Targets: targets(len(ws.weights), ws.weights...)}, nil)
				c := counts(t, p, picks, hashKey)
				sum := 0
				for _, w := range ws.weights {
					sum += w
				}
				for i, w := range ws.weights {
					want := float64(picks) * float64(w) / float64(sum)
					if !within(float64(c[i]), want, 0.10) {
						t.Errorf("target %d (weight %d): %d picks, want %.0f ±10%%", i, w, c[i], want)
					}
				}
				t.Logf("%s %v: %v", alg, ws.weights, c)
			})
		}
	}
}

func TestUnavailableSkipped(t *testing.T) {
	const picks = 30_000
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			// Panic mode off so that 2 of 5 down is not "too few".
			p := mustPool(t, PoolConfig{Name: "u", Algorithm: alg, Targets: targets(5, 1, 2, 3, 1, 1), PanicThreshold: -1}, nil)
			setHealthy(p, 1, false)
			now := nowNS()
			p.targets[3].s.ejectedUntil.Store(now + 60e9)
			c := counts(t, p, picks, hashKey)
			if c[1] != 0 || c[3] != 0 {
				t.Fatalf("unavailable targets picked: %v", c)
			}
			// The rest keep their relative weights 1:3:1.
			for i, w := range map[int]float64{0: 1, 2: 3, 4: 1} {
				want := picks * w / 5
				if !within(float64(c[i]), want, 0.10) {
					t.Errorf("target %d: %d picks, want %.0f ±10%% (all %v)", i, c[i], want, c)
				}
			}
			// None available and no panic mode: nil.
			for i := range p.targets {
				setHealthy(p, i, false)
			}
			if got := p.Pick(hashKey(1), now); got != nil {
				t.Fatalf("pick with nothing available = %s, want nil", got.address)
			}
		})
	}
}

func TestSmoothRoundRobinSequence(t *testing.T) {
	// nginx's documented example: weights 5,1,1 give a a b a c a a.
	p := mustPool(t, PoolConfig{Targets: []TargetConfig{{"a:1", 5}, {"b:1", 1}, {"c:1", 1}}}, nil)
	var sb strings.Builder
	now := nowNS()
	for range 14 {
		sb.WriteString(p.Pick(0, now).address[:1])
	}
	if got, want := sb.String(), "aabacaaaabacaa"; got != want {
		t.Fatalf("sequence %q, want %q", got, want)
	}
	// Weights with a common divisor and scaled-down large sums keep the
	// schedule short and proportional.
	f := func(weights []int, wantLen int) {
		t.Helper()
		p := mustPool(t, PoolConfig{Targets: targets(len(weights), weights...)}, nil)
		s := p.picker.(*roundRobin).sched
		if len(s) != wantLen {
			t.Fatalf("weights %v: schedule length %d, want %d", weights, len(s), wantLen)
		}
	}
	f([]int{100, 200, 300}, 6)
	f([]int{7}, 1)
	ws := make([]int, 40)
	for i := range ws {
		ws[i] = MaxWeight - i
	}
	p2 := mustPool(t, PoolConfig{Targets: targets(len(ws), ws...)}, nil)
	if n := len(p2.picker.(*roundRobin).sched); n > maxSchedule+len(ws) {
		t.Fatalf("schedule length %d over bound", n)
	}
}

func TestConsistentHashSticky(t *testing.T) {
	p := mustPool(t, PoolConfig{Algorithm: ConsistentHash, Targets: targets(5)}, nil)
	now := nowNS()
	first := make([]*Target, 1000)
	for i := range first {
		first[i] = p.Pick(hashKey(i), now)
	}
	// Same key, same target, also from a pool rebuilt in another order.
	rev := targets(5)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	p2 := mustPool(t, PoolConfig{Algorithm: ConsistentHash, Targets: rev}, nil)
	for i := range first {
		if got := p.Pick(hashKey(i), now); got != first[i] {
			t.Fatalf("key %d moved between picks", i)
		}
		if got := p2.Pick(hashKey(i), now); got.address != first[i].address {
			t.Fatalf("key %d moved when only the target order changed", i)
		}
	}
	// A key whose target is down falls back deterministically, and keys of
	// other targets stay put.
	setHealthy(p, 2, false)
	for i := range first {
		a, b := p.Pick(hashKey(i), now), p.Pick(hashKey(i), now)
		if a != b || a.index == 2 {
			t.Fatalf("key %d: fallback %s then %s", i, a.address, b.address)
		}
		if first[i].index != 2 && a != first[i] {
			t.Fatalf("key %d moved though its target is up", i)
		}
	}
}

// TestConsistentHashMovement measures the keys that move when one of N
// targets is removed from the configuration (a new table is built) and
// when it is merely unavailable (the table is kept).
func TestConsistentHashMovement(t *testing.T) {
	const keys = 100_000
	for _, n := range []int{3, 10, 50} {
		full := mustPool(t, PoolConfig{Algorithm: ConsistentHash, Targets: targets(n)}, nil)
		removed := n / 2
		less := append(append([]TargetConfig(nil), targets(n)[:removed]...), targets(n)[removed+1:]...)
		smaller := mustPool(t, PoolConfig{Algorithm: ConsistentHash, Targets: less}, nil)
		now := nowNS()
		moved, collateral := 0, 0
		for i := range keys {
			a := full.Pick(hashKey(i), now)
			b := smaller.Pick(hashKey(i), now)
			if a.address != b.address {
				moved++
				if a.index != removed {
					collateral++
				}
			}
		}
		frac := float64(moved) / keys
		t.Logf("consistent_hash: removing 1 of %d targets moved %.4f of %d keys (ideal 1/N = %.4f; %.4f moved between surviving targets)",
			n, frac, keys, 1/float64(n), float64(collateral)/keys)
		if frac < 0.8/float64(n) || frac > 1.3/float64(n) {
			t.Errorf("N=%d: moved fraction %.4f, want about %.4f", n, frac, 1/float64(n))
		}

		// Unavailable rather than removed: only that target's keys move.
		before := make([]*Target, keys)
		for i := range keys {
			before[i] = full.Pick(hashKey(i), now)
		}
		setHealthy(full, removed, false)
		moved = 0
		for i := range keys {
			a := full.Pick(hashKey(i), now)
			if a.index == removed {
				t.Fatal("unavailable target picked")
			}
			if a != before[i] {
				moved++
				if before[i].index != removed {
					t.Fatalf("key %d moved off an available target", i)
				}
			}
		}
		t.Logf("consistent_hash: 1 of %d targets unavailable moved %.4f of keys, all from that target", n, float64(moved)/keys)
	}
}

func TestLeastRequestPrefersLessLoaded(t *testing.T) {
	p := mustPool(t, PoolConfig{Algorithm: LeastRequest, Targets: targets(3)}, nil)
	p.targets[0].s.inflight.Store(50)
	p.targets[1].s.inflight.Store(10)
	p.targets[2].s.inflight.Store(0)
	c := counts(t, p, 30_000, hashKey)
	// P2C: the most loaded target only wins when drawn twice (1/9).
	if !(c[2] > c[1] && c[1] > c[0]) {
		t.Fatalf("picks %v not ordered by load", c)
	}
	if share := float64(c[0]) / 30_000; share > 0.15 {
		t.Fatalf("most loaded target got %.2f of picks", share)
	}
	t.Logf("least_request with in-flight 50/10/0: %v", c)

	// Weights honoured: weight 3 with 30 in flight equals weight 1 with 10.
	pw := mustPool(t, PoolConfig{Algorithm: LeastRequest, Targets: targets(2, 3, 1)}, nil)
	pw.targets[0].s.inflight.Store(29)
	pw.targets[1].s.inflight.Store(10)
	// 29/3 < 10/1: the two candidates are always distinct, so target 0
	// wins every pick.
	cw := counts(t, pw, 40_000, hashKey)
	if cw[1] != 0 {
		t.Fatalf("weight-3 target under less load per weight should win every pick; got %v", cw)
	}

	// Two targets: the idle one always wins.
	p2 := mustPool(t, PoolConfig{Algorithm: LeastRequest, Targets: targets(2)}, nil)
	p2.targets[0].s.inflight.Store(1)
	if c2 := counts(t, p2, 20_000, hashKey); c2[0] != 0 {
		t.Fatalf("busy target of two got %v of the picks", c2)
	}
}

func TestMaglevTableShares(t *testing.T) {
	p := mustPool(t, PoolConfig{Algorithm: ConsistentHash, Targets: targets(4, 1, 1, 2, 4)}, nil)
	g := p.picker.(*maglev)
	c := make([]int, 4)
	for _, e := range g.table {
		c[e]++
	}
	m := float64(len(g.table))
	for i, w := range []float64{1, 1, 2, 4} {
		if !within(float64(c[i]), m*w/8, 0.02) {
			t.Errorf("target %d: %d table entries, want %.0f ±2%%", i, c[i], m*w/8)
		}
	}
	if !isPrime(len(g.table)) || len(g.table) < 65537 {
		t.Fatalf("table size %d", len(g.table))
	}
	if got := maglevSize(MaxTargets); got < 100*MaxTargets || !isPrime(got) {
		t.Fatalf("maglevSize(%d) = %d", MaxTargets, got)
	}
}
