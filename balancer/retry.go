package balancer

import "sync/atomic"

// Retry budget defaults (Envoy's retry_budget defaults); docs/UPSTREAMS.md
// documents them for operators.
const (
	// DefaultRetryPercent: retries in flight may be at most this share of
	// the requests in flight to the upstream.
	DefaultRetryPercent = 20
	// DefaultRetryMinConcurrent retries may be in flight whatever the
	// share, so a lightly loaded upstream always retries.
	DefaultRetryMinConcurrent = 3
)

// RetryBudget keeps retries from amplifying an outage. It bounds the
// retries in flight, not a rate: at most Percent% of the requests in
// flight to the upstream (its targets' in-flight counts) may be retries,
// and MinConcurrent may always be. A client sending one request at a time
// is never refused a retry however many fail; under heavy load against a
// failing upstream, retries stay a fifth of the traffic. Lock-free;
// concurrent callers may overshoot by a few retries at most.
type RetryBudget struct {
	percent       int64
	minConcurrent int64
	inFlight      func() int64 // requests in flight to the upstream
	active        atomic.Int64 // requests in flight that are retrying
}

// NewRetryBudget returns a budget over the requests inFlight reports;
// zero arguments take the defaults.
func NewRetryBudget(percent, minConcurrent int, inFlight func() int64) *RetryBudget {
	if percent <= 0 {
		percent = DefaultRetryPercent
	}
	if minConcurrent <= 0 {
		minConcurrent = DefaultRetryMinConcurrent
	}
	return &RetryBudget{percent: int64(percent), minConcurrent: int64(minConcurrent), inFlight: inFlight}
}

// TryRetry reports whether one more request may start retrying and, if
// so, counts it until Done. A request retrying a second time holds the
// count it took for its first retry and does not ask again.
func (b *RetryBudget) TryRetry() bool {
	for {
		n := b.active.Load()
		if n >= b.minConcurrent && (n+1)*100 > b.percent*b.inFlight() {
			return false
		}
		if b.active.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Done ends a retrying request admitted by TryRetry.
func (b *RetryBudget) Done() { b.active.Add(-1) }

// Active returns the retrying requests in flight.
func (b *RetryBudget) Active() int64 { return b.active.Load() }
