package balancer

import (
	"testing"
	"time"
)

func benchPool(b *testing.B, alg string, n int) *Pool {
	b.Helper()
	weights := make([]int, n)
	for i := range weights {
		weights[i] = 1 + i%3
	}
	return mustPool(b, PoolConfig{Name: "bench", Algorithm: alg, Targets: targets(n, weights...),
		HealthCheck: &HealthCheckConfig{Interval: time.Hour}, Outlier: &OutlierConfig{}}, nil)
}

func BenchmarkPick(b *testing.B) {
	for _, alg := range algorithms {
		for _, n := range []int{3, 20} {
			p := benchPool(b, alg, n)
			b.Run(alg+"/"+itoa(n), func(b *testing.B) {
				b.ReportAllocs()
				now := nowNS()
				key := uint64(0x9e3779b97f4a7c15)
				for b.Loop() {
					key += 0x9e3779b97f4a7c15
					if p.Pick(key, now) == nil {
						b.Fatal("nil pick")
					}
				}
			})
		}
	}
}

func BenchmarkPickParallel(b *testing.B) {
	for _, alg := range algorithms {
		p := benchPool(b, alg, 3)
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			now := nowNS()
			b.RunParallel(func(pb *testing.PB) {
				key := uint64(now)
				for pb.Next() {
					key += 0x9e3779b97f4a7c15
					t := p.Pick(key, now)
					if t == nil {
						panic("nil pick")
					}
				}
			})
		})
	}
}

// BenchmarkPickDegraded measures picks with one of three targets unhealthy
// (the skip path) and with the pool in panic mode.
func BenchmarkPickDegraded(b *testing.B) {
	for _, alg := range algorithms {
		p := benchPool(b, alg, 3)
		setHealthy(p, 0, false)
		b.Run(alg+"/one-down", func(b *testing.B) {
			b.ReportAllocs()
			now := nowNS()
			key := uint64(1)
			for b.Loop() {
				key += 0x9e3779b97f4a7c15
				if p.Pick(key, now) == nil {
					b.Fatal("nil pick")
				}
			}
		})
	}
}

// BenchmarkRequestCycle is the per-request balancer work of the proxy:
// pick, acquire, report, release and the retry-budget count.
func BenchmarkRequestCycle(b *testing.B) {
	for _, alg := range algorithms {
		p := benchPool(b, alg, 3)
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			now := nowNS()
			b.RunParallel(func(pb *testing.PB) {
				key := uint64(now)
				for pb.Next() {
					key += 0x9e3779b97f4a7c15
					t := p.Pick(key, now)
					if t.Acquire() {
						t.ReportSuccess()
						t.Release()
					}
				}
			})
		})
	}
}

func BenchmarkNewPool(b *testing.B) {
	for _, alg := range []string{RoundRobin, ConsistentHash} {
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			tcs := targets(20)
			for b.Loop() {
				if _, err := NewPool(PoolConfig{Algorithm: alg, Targets: tcs}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
