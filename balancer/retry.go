package balancer

import "sync/atomic"

// Retry budget defaults; docs/UPSTREAMS.md documents them for operators.
const (
	// DefaultRetryPercent: retries may be at most this share of the
	// requests sent to the upstream.
	DefaultRetryPercent = 20
	// DefaultRetryMinPerSecond retries a second are allowed whatever the
	// share, so a lightly loaded upstream still retries.
	DefaultRetryMinPerSecond = 3
	// retrySaveMax bounds the retries a healthy spell can save up, so that
	// it cannot pay for a burst of retries when an outage begins.
	retrySaveMax = 100
)

// RetryBudget keeps retries from amplifying an outage, as Finagle's retry
// budget does: each request sent to the upstream earns Percent/100 of a
// retry, each retry spends a whole one, and MinPerSecond retries a second
// are allowed beyond what was earned. However many attempts a route
// allows, retries stay within Percent% of the requests (plus the floor),
// whether clients send one request at a time or thousands at once.
// Lock-free; concurrent callers may overshoot the savings cap by a few.
type RetryBudget struct {
	percent      int64
	minPerSecond int64
	balance      atomic.Int64  // hundredths of a retry earned and not spent
	floor        atomic.Uint64 // unix second << 16 | retries the floor allowed in it
}

// NewRetryBudget returns an empty budget; zero arguments take the
// defaults.
func NewRetryBudget(percent, minPerSecond int) *RetryBudget {
	if percent <= 0 {
		percent = DefaultRetryPercent
	}
	if minPerSecond <= 0 {
		minPerSecond = DefaultRetryMinPerSecond
	}
	return &RetryBudget{percent: int64(percent), minPerSecond: int64(min(minPerSecond, 0xffff))}
}

// Request records a request sent to the upstream (its first attempt; a
// retry earns nothing).
func (b *RetryBudget) Request() {
	if n := b.balance.Add(b.percent); n > retrySaveMax*100 {
		b.balance.CompareAndSwap(n, retrySaveMax*100) // a lost race leaves it a little over: harmless
	}
}

// TryRetry reports whether one more retry may go ahead at nowSec (unix
// seconds) and, if so, spends it: from the savings, else from the floor.
func (b *RetryBudget) TryRetry(nowSec int64) bool {
	for {
		n := b.balance.Load()
		if n < 100 {
			break
		}
		if b.balance.CompareAndSwap(n, n-100) {
			return true
		}
	}
	for {
		f := b.floor.Load()
		next := uint64(nowSec)<<16 | 1
		if int64(f>>16) == nowSec {
			if int64(f&0xffff) >= b.minPerSecond {
				return false
			}
			next = f + 1
		}
		if b.floor.CompareAndSwap(f, next) {
			return true
		}
	}
}

// Saved returns the whole retries earned and not spent.
func (b *RetryBudget) Saved() int64 { return b.balance.Load() / 100 }
