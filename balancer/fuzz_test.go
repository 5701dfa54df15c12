package balancer

import (
	"fmt"
	"testing"
)

// FuzzPick builds pools from arbitrary weights and availability and checks
// the pick invariants: no panic, never an unavailable target outside panic
// mode, nil only when nothing is available, and retries avoid the excluded
// target when another one is available.
func FuzzPick(f *testing.F) {
	f.Add([]byte{1, 1, 1}, uint64(0), uint64(42), uint8(0))
	f.Add([]byte{5, 1, 1}, uint64(0b010), uint64(7), uint8(1))
	f.Add([]byte{255, 1, 0, 3}, uint64(0b1110), uint64(99), uint8(2))
	f.Add([]byte{9}, uint64(1), uint64(1), uint8(3))
	f.Fuzz(func(t *testing.T, weights []byte, downMask, key uint64, alg uint8) {
		if len(weights) == 0 || len(weights) > 64 {
			return
		}
		tcs := make([]TargetConfig, len(weights))
		for i, w := range weights {
			tcs[i] = TargetConfig{Address: fmt.Sprintf("h%d:1", i), Weight: int(w)}
		}
		p, err := NewPool(PoolConfig{Algorithm: algorithms[int(alg)%len(algorithms)], Targets: tcs, PanicThreshold: -1}, nil)
		if err != nil {
			t.Fatalf("valid config refused: %v", err)
		}
		avail := 0
		for i := range p.targets {
			if downMask&(1<<i) != 0 {
				setHealthy(p, i, false)
			} else {
				avail++
			}
		}
		now := nowNS()
		for k := range uint64(20) {
			tg := p.Pick(key+k, now)
			if (tg == nil) != (avail == 0) {
				t.Fatalf("pick %v with %d available", tg, avail)
			}
			if tg == nil {
				continue
			}
			if !tg.Available(now) {
				t.Fatalf("unavailable target %s picked", tg.address)
			}
			if r := p.PickExcluding(key+k, now, tg); r == nil || (avail > 1 && r == tg) {
				t.Fatalf("retry picked %v after %s with %d available", r, tg.address, avail)
			}
		}
	})
}
