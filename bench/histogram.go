package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram layout: values below 2*histSub are counted exactly; above, each
// power of two is split into histSub linear sub-buckets, so a bucket's width
// is at most 1/histSub (0.78%) of its lower bound and its midpoint is within
// 0.39% of any value in it.
const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	histMaxExp  = 40 - histSubBits - 1 // values up to 2^40 ns (~18 min)
	histBuckets = 2*histSub + histMaxExp*histSub
	histMaxVal  = int64(1)<<40 - 1
)

// Histogram is a log-linear (HDR-style) histogram of durations in
// nanoseconds. Record and the read methods are safe for concurrent use;
// reads during recording see a slightly stale but consistent-enough view,
// which is what the live progress line needs.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Int64
	max    atomic.Int64
	min    atomic.Int64 // stored as value+1 so that zero means "none yet"
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return &Histogram{} }

func histIndex(v int64) int {
	if v < 2*histSub {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - histSubBits - 1 // v>>e is in [histSub, 2*histSub)
	return 2*histSub + (e-1)*histSub + int(uint64(v)>>e) - histSub
}

// histBounds returns the lowest value and the width of bucket i.
func histBounds(i int) (low, width int64) {
	if i < 2*histSub {
		return int64(i), 1
	}
	e := (i-2*histSub)/histSub + 1
	m := int64((i-2*histSub)%histSub + histSub)
	return m << e, int64(1) << e
}

// Record adds one duration. Negative durations count as zero; durations
// beyond ~18 minutes count as the largest bucket (max stays exact).
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	c := v
	if c > histMaxVal {
		c = histMaxVal
	}
	h.counts[histIndex(c)].Add(1)
	h.total.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
	for {
		m := h.min.Load()
		if (m != 0 && v+1 >= m) || h.min.CompareAndSwap(m, v+1) {
			break
		}
	}
}

// Merge adds all of o's counts into h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.total.Add(o.total.Load())
	h.sum.Add(o.sum.Load())
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
	if m := o.min.Load(); m != 0 && (h.min.Load() == 0 || m < h.min.Load()) {
		h.min.Store(m)
	}
}

// Reset empties the histogram. Not safe against concurrent Record.
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.total.Store(0)
	h.sum.Store(0)
	h.max.Store(0)
	h.min.Store(0)
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max returns the largest recorded value (exact).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Min returns the smallest recorded value (exact), 0 when empty.
func (h *Histogram) Min() time.Duration {
	if m := h.min.Load(); m != 0 {
		return time.Duration(m - 1)
	}
	return 0
}

// Mean returns the arithmetic mean, 0 when empty.
func (h *Histogram) Mean() time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / int64(n))
}

// Quantile returns the value at quantile q in [0, 1] by nearest rank: the
// smallest recorded value v such that at least q of all values are <= v,
// approximated by its bucket's midpoint and clamped to [Min, Max].
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	if q <= 0 {
		return h.Min()
	}
	if q >= 1 {
		return h.Max()
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		if cum >= rank {
			low, w := histBounds(i)
			v := low + (w-1)/2
			if mx := h.max.Load(); v > mx {
				v = mx
			}
			if mn := int64(h.Min()); v < mn {
				v = mn
			}
			return time.Duration(v)
		}
	}
	return h.Max()
}

// Percentiles holds the summary that reports print.
type Percentiles struct {
	P50, P90, P99, P999, Max time.Duration
}

// Percentiles returns p50, p90, p99, p99.9 and max.
func (h *Histogram) Percentiles() Percentiles {
	return Percentiles{
		P50:  h.Quantile(0.50),
		P90:  h.Quantile(0.90),
		P99:  h.Quantile(0.99),
		P999: h.Quantile(0.999),
		Max:  h.Max(),
	}
}

// CurvePoint is one point of a latency percentile curve.
type CurvePoint struct {
	Quantile float64 `json:"quantile"`
	Millis   float64 `json:"ms"`
}

// Curve returns the latency at quantiles 0.5, 0.75, 0.9, 0.95, 0.99, 0.995,
// 0.999, 0.9995, 0.9999 and 1 (max): the points a percentile chart plots.
func (h *Histogram) Curve() []CurvePoint {
	qs := [...]float64{0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1}
	out := make([]CurvePoint, 0, len(qs))
	for _, q := range qs {
		out = append(out, CurvePoint{Quantile: q, Millis: ms(h.Quantile(q))})
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
