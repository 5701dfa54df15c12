package balancer

import (
	"fmt"
	"testing"
	"time"
)

// mustPool builds a pool or fails the test.
func mustPool(t testing.TB, cfg PoolConfig, prev *Pool) *Pool {
	t.Helper()
	p, err := NewPool(cfg, prev)
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	return p
}

// targets returns n target configs with the given weights (1 if absent).
func targets(n int, weights ...int) []TargetConfig {
	out := make([]TargetConfig, n)
	for i := range out {
		out[i] = TargetConfig{Address: fmt.Sprintf("10.0.0.%d:80", i+1), Weight: 1}
		if i < len(weights) {
			out[i].Weight = weights[i]
		}
	}
	return out
}

// setHealthy flips a target's active health as a checker would.
// setHealthy plays the health checker: the pool counts health bits as if
// checks were configured.
func setHealthy(p *Pool, i int, v bool) {
	p.checked = true
	t := p.targets[i]
	if t.s.healthy.CompareAndSwap(!v, v) {
		p.flipped(t, v)
	}
}

func nowNS() int64 { return time.Now().UnixNano() }

// counts picks n times and returns picks per target index.
func counts(t testing.TB, p *Pool, n int, key func(i int) uint64) []int {
	t.Helper()
	c := make([]int, len(p.targets))
	now := nowNS()
	for i := range n {
		tg := p.Pick(key(i), now)
		if tg == nil {
			t.Fatalf("pick %d: nil", i)
		}
		c[tg.index]++
	}
	return c
}

// within checks that got is within ±tol (relative) of want.
func within(got, want, tol float64) bool {
	return got >= want*(1-tol) && got <= want*(1+tol)
}
