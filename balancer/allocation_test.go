//go:build !race

package balancer

import "testing"

func TestPickAllocations(t *testing.T) {
	for _, alg := range algorithms {
		p := mustPool(t, PoolConfig{Algorithm: alg, Targets: targets(5, 1, 2, 3, 4, 5), PanicThreshold: -1,
			Outlier: &OutlierConfig{}}, nil)
		setHealthy(p, 1, false)
		now := nowNS()
		key := uint64(7)
		f := func() {
			key += 0x9e3779b97f4a7c15
			tg := p.Pick(key, now)
			tg2 := p.PickExcluding(key, now, tg)
			p.RetryBudget().Request()
			_ = p.RetryBudget().TryRetry(now / 1e9)
			if tg.Acquire() {
				tg.ReportSuccess()
				tg.ReportFailure(now)
				tg.Release()
			}
			_ = tg2.Available(now)
		}
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocs per request cycle, want 0", alg, n)
		}
	}
}
