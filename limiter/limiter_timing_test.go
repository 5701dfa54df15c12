package limiter

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// The benchmarks compare Portico's limiter with golang.org/x/time/rate on the
// same load. "portico" and "xrate" read time.Now per call (x/time/rate's
// Allow does so internally); the "-coarse" variants of both read a clock
// that a goroutine ticks every millisecond, as the gateway's loops do, which
// isolates the limiters' own cost from the clock's.
//
// Regimes: "admit" sets the rate so high that every call is admitted (each
// takes a token: the CAS path, worst case for contention); "deny" runs a
// realistic 1000/s limit, so almost every call is a denial.

const benchKeys = 10_000

func benchKeySet() [][]byte {
	keys := make([][]byte, benchKeys)
	for i := range keys {
		keys[i] = []byte("10.1." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256))
	}
	return keys
}

type benchRegime struct {
	name  string
	rate  int64
	burst int64
}

var benchRegimes = []benchRegime{
	{"admit", 1_000_000_000, 1_000_000_000},
	{"deny", 1000, 1000},
}

// coarseClock ticks a shared unix-nanosecond clock every millisecond until
// stop is called.
func coarseClock() (*atomic.Int64, func()) {
	var c atomic.Int64
	c.Store(time.Now().UnixNano())
	done := make(chan struct{})
	go func() {
		tk := time.NewTicker(time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-tk.C:
				c.Store(now.UnixNano())
			}
		}
	}()
	return &c, func() { close(done) }
}

// reportCPU starts measuring process CPU time; the returned func, deferred,
// reports it as cpu-ns/op. With RunParallel, wall ns/op is per op across all
// goroutines, and cpu-ns/op is the CPU all of them spent per op.
func reportCPU(b *testing.B) func() {
	b.ReportAllocs()
	start := processCPU()
	b.ResetTimer()
	return func() {
		b.StopTimer()
		if used := processCPU() - start; used > 0 && b.N > 0 {
			b.ReportMetric(float64(used)/float64(b.N), "cpu-ns/op")
		}
	}
}

func newBench(b *testing.B, r benchRegime) *Limiter {
	l, err := New(Config{Rate: r.rate, Period: time.Second, Burst: r.burst})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func BenchmarkHotKey(b *testing.B) {
	key := []byte("203.0.113.7")
	for _, r := range benchRegimes {
		b.Run(r.name+"/portico", func(b *testing.B) {
			l := newBench(b, r)
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				l.Allow(key, time.Now().UnixNano())
			}
		})
		b.Run(r.name+"/portico-coarse", func(b *testing.B) {
			l := newBench(b, r)
			clk, stop := coarseClock()
			defer stop()
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				l.Allow(key, clk.Load())
			}
		})
		b.Run(r.name+"/xrate", func(b *testing.B) {
			rl := rate.NewLimiter(rate.Limit(r.rate), int(r.burst))
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				rl.Allow()
			}
		})
		b.Run(r.name+"/xrate-coarse", func(b *testing.B) {
			rl := rate.NewLimiter(rate.Limit(r.rate), int(r.burst))
			clk, stop := coarseClock()
			defer stop()
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				rl.AllowN(time.Unix(0, clk.Load()), 1)
			}
		})
	}
}

func BenchmarkHotKeyParallel(b *testing.B) {
	key := []byte("203.0.113.7")
	for _, r := range benchRegimes {
		b.Run(r.name+"/portico", func(b *testing.B) {
			l := newBench(b, r)
			defer reportCPU(b)()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					l.Allow(key, time.Now().UnixNano())
				}
			})
		})
		b.Run(r.name+"/portico-coarse", func(b *testing.B) {
			l := newBench(b, r)
			clk, stop := coarseClock()
			defer stop()
			defer reportCPU(b)()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					l.Allow(key, clk.Load())
				}
			})
		})
		b.Run(r.name+"/xrate", func(b *testing.B) {
			rl := rate.NewLimiter(rate.Limit(r.rate), int(r.burst))
			defer reportCPU(b)()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rl.Allow()
				}
			})
		})
		b.Run(r.name+"/xrate-coarse", func(b *testing.B) {
			rl := rate.NewLimiter(rate.Limit(r.rate), int(r.burst))
			clk, stop := coarseClock()
			defer stop()
			defer reportCPU(b)()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rl.AllowN(time.Unix(0, clk.Load()), 1)
				}
			})
		})
	}
}

// xrateKeyed is the usual way to key x/time/rate: a map of limiters behind
// a mutex.
type xrateKeyed struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
	r  benchRegime
}

func (x *xrateKeyed) allow(key []byte) bool {
	return x.allowAt(key, time.Now())
}

func (x *xrateKeyed) allowAt(key []byte, now time.Time) bool {
	x.mu.Lock()
	rl := x.m[string(key)] // no allocation: the compiler special-cases this lookup
	if rl == nil {
		rl = rate.NewLimiter(rate.Limit(x.r.rate), int(x.r.burst))
		x.m[string(key)] = rl
	}
	x.mu.Unlock()
	return rl.AllowN(now, 1)
}

func newXrateKeyed(keys [][]byte, r benchRegime) *xrateKeyed {
	x := &xrateKeyed{m: make(map[string]*rate.Limiter, len(keys)), r: r}
	for _, k := range keys {
		x.allow(k) // preload, as the limiter's table is after warm-up
	}
	return x
}

func BenchmarkManyKeys(b *testing.B) {
	keys := benchKeySet()
	for _, r := range benchRegimes {
		b.Run(r.name+"/portico", func(b *testing.B) {
			l := newBench(b, r)
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				l.Allow(keys[i%benchKeys], time.Now().UnixNano())
			}
		})
		b.Run(r.name+"/portico-coarse", func(b *testing.B) {
			l := newBench(b, r)
			clk, stop := coarseClock()
			defer stop()
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				l.Allow(keys[i%benchKeys], clk.Load())
			}
		})
		b.Run(r.name+"/xrate-map", func(b *testing.B) {
			x := newXrateKeyed(keys, r)
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				x.allow(keys[i%benchKeys])
			}
		})
		b.Run(r.name+"/xrate-map-coarse", func(b *testing.B) {
			x := newXrateKeyed(keys, r)
			clk, stop := coarseClock()
			defer stop()
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				x.allowAt(keys[i%benchKeys], time.Unix(0, clk.Load()))
			}
		})
	}
}

func BenchmarkManyKeysParallel(b *testing.B) {
	keys := benchKeySet()
	var seq atomic.Int64
	for _, r := range benchRegimes {
		b.Run(r.name+"/portico", func(b *testing.B) {
			l := newBench(b, r)
			defer reportCPU(b)()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seq.Add(7919))
				for pb.Next() {
					i++
					l.Allow(keys[i%benchKeys], time.Now().UnixNano())
				}
			})
		})
		b.Run(r.name+"/portico-coarse", func(b *testing.B) {
			l := newBench(b, r)
			clk, stop := coarseClock()
			defer stop()
			defer reportCPU(b)()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seq.Add(7919))
				for pb.Next() {
					i++
					l.Allow(keys[i%benchKeys], clk.Load())
				}
			})
		})
		b.Run(r.name+"/xrate-map", func(b *testing.B) {
			x := newXrateKeyed(keys, r)
			defer reportCPU(b)()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seq.Add(7919))
				for pb.Next() {
					i++
					x.allow(keys[i%benchKeys])
				}
			})
		})
		b.Run(r.name+"/xrate-map-coarse", func(b *testing.B) {
			x := newXrateKeyed(keys, r)
			clk, stop := coarseClock()
			defer stop()
			defer reportCPU(b)()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seq.Add(7919))
				for pb.Next() {
					i++
					x.allowAt(keys[i%benchKeys], time.Unix(0, clk.Load()))
				}
			})
		})
	}
}

// BenchmarkNewKeys measures the slow path: every call is a key never seen,
// in a table that is full, so each call reclaims an idle bucket or, when
// none is idle, is decided by the overflow bucket.
func BenchmarkNewKeys(b *testing.B) {
	for _, r := range []benchRegime{{"reclaim", 1_000_000, 1}, {"overflow", 1, 1}} {
		b.Run(r.name, func(b *testing.B) {
			l, err := New(Config{Rate: r.rate, Period: time.Hour, Burst: r.burst, MaxKeys: 4096, IdleGrace: -1})
			if err != nil {
				b.Fatal(err)
			}
			key := make([]byte, 0, 24)
			now := t0
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				key = strconv.AppendInt(key[:0], int64(i), 10)
				now += int64(time.Millisecond)
				l.Allow(key, now)
			}
		})
	}
}
