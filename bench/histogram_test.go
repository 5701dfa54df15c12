package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func exactQuantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

func TestHistogramQuantilesAgainstExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() int64{
		"uniform_1us_10ms": func() int64 { return 1000 + rng.Int64N(10_000_000) },
		"exp_mean_2ms":     func() int64 { return int64(rng.ExpFloat64() * 2e6) },
		"lognormal":        func() int64 { return int64(math.Exp(rng.NormFloat64()*1.5 + 12)) },
		"bimodal_stall": func() int64 {
			if rng.IntN(100) == 0 {
				return 300_000_000 + rng.Int64N(1_000_000)
			}
			return 50_000 + rng.Int64N(100_000)
		},
		"small_exact": func() int64 { return rng.Int64N(300) },
	}
	qs := []float64{0.01, 0.1, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999}
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			h := NewHistogram()
			vals := make([]int64, 100_000)
			for i := range vals {
				vals[i] = gen()
				h.Record(time.Duration(vals[i]))
			}
			slices.Sort(vals)
			for _, q := range qs {
				want := exactQuantile(vals, q)
				got := int64(h.Quantile(q))
				if rel := math.Abs(float64(got-want)) / math.Max(float64(want), 1); rel >= 0.01 && got != want {
					t.Errorf("q=%v: got %d, exact %d, relative error %.4f", q, got, want, rel)
				}
			}
			if h.Max() != time.Duration(vals[len(vals)-1]) || h.Min() != time.Duration(vals[0]) {
				t.Errorf("min/max = %v/%v, want %v/%v", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
			}
			if h.Count() != uint64(len(vals)) {
				t.Errorf("count = %d", h.Count())
			}
		})
	}
}

func TestHistogramBucketsContiguous(t *testing.T) {
	// Every value maps to a bucket whose bounds contain it and whose width is
	// under 1% of the value.
	f := func(v int64) {
		t.Helper()
		i := histIndex(v)
		low, w := histBounds(i)
		if v < low || v >= low+w {
			t.Fatalf("value %d in bucket %d [%d, %d)", v, i, low, low+w)
		}
		if v >= 2*histSub && float64(w)/float64(v) > 1.0/histSub {
			t.Fatalf("value %d: bucket width %d too wide", v, w)
		}
	}
	for v := int64(0); v < 5000; v++ {
		f(v)
	}
	for e := 8; e < 40; e++ {
		f(int64(1)<<e - 1)
		f(int64(1) << e)
		f(int64(1)<<e + 1)
	}
	f(histMaxVal)
	if histIndex(histMaxVal) != histBuckets-1 {
		t.Fatalf("last index %d, want %d", histIndex(histMaxVal), histBuckets-1)
	}
}

func TestHistogramEdgeCases(t *testing.T) {
	h := NewHistogram()
	if h.Quantile(0.99) != 0 || h.Mean() != 0 || h.Min() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
	h.Record(-5)
	h.Record(time.Hour) // beyond the last bucket: clamped, max stays exact
	if h.Max() != time.Hour || h.Min() != 0 {
		t.Fatalf("min/max = %v/%v", h.Min(), h.Max())
	}
	o := NewHistogram()
	o.Record(time.Millisecond)
	h.Merge(o)
	if h.Count() != 3 || h.Quantile(0.5) < 990*time.Microsecond || h.Quantile(0.5) > 1010*time.Microsecond {
		t.Fatalf("after merge: count %d p50 %v", h.Count(), h.Quantile(0.5))
	}
	h.Reset()
	if h.Count() != 0 || h.Max() != 0 {
		t.Fatal("reset did not empty")
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	b.ReportAllocs()
	var v time.Duration = 12345
	for b.Loop() {
		h.Record(v)
		v = (v*7 + 13) % (100 * time.Millisecond)
	}
}
