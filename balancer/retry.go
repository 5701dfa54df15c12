package balancer

import "sync/atomic"

// Retry budget defaults; README.md documents them for operators.
const (
	// DefaultRetryPercent: retries may be at most this share of requests.
	DefaultRetryPercent = 20
	// DefaultRetryMinPerSecond retries per second are allowed regardless
	// of the percentage, so low-traffic upstreams can still retry.
	DefaultRetryMinPerSecond = 3
	// retryWindow is how many one-second slots the budget looks back.
	retryWindow = 10
)

// RetryBudget keeps retries from amplifying an outage: over a sliding
// window of the last 10 seconds, retries may be at most Percent% of the
// requests, plus MinPerSecond retries in any one second regardless. Call
// RecordRequest once per original request (not per retry) and TryRetry
// before each retry. Lock-free; concurrent callers may overshoot the
// budget by a few retries at most.
type RetryBudget struct {
	percent   uint64
	minPerSec uint64
	// Each slot word packs the Unix second in the high 32 bits and the
	// count in the low 32, so a stale slot resets with a single CAS.
	requests [retryWindow]paddedWord
	retries  [retryWindow]paddedWord
}

type paddedWord struct {
	atomic.Uint64
	_ [56]byte
}

// NewRetryBudget returns a budget; zero arguments take the defaults.
func NewRetryBudget(percent, minPerSecond int) *RetryBudget {
	if percent <= 0 {
		percent = DefaultRetryPercent
	}
	if minPerSecond <= 0 {
		minPerSecond = DefaultRetryMinPerSecond
	}
	return &RetryBudget{percent: uint64(percent), minPerSec: uint64(minPerSecond)}
}

// RecordRequest counts one original request at now (Unix ns).
func (b *RetryBudget) RecordRequest(now int64) {
	sec := uint32(now / 1e9)
	bump(&b.requests[sec%retryWindow].Uint64, sec)
}

// TryRetry reports whether a retry is within budget at now (Unix ns) and,
// if so, counts it.
func (b *RetryBudget) TryRetry(now int64) bool {
	sec := uint32(now / 1e9)
	slot := &b.retries[sec%retryWindow].Uint64
	if slotCount(slot.Load(), sec, sec) < b.minPerSec {
		bump(slot, sec)
		return true
	}
	var reqs, rets uint64
	for i := range retryWindow {
		reqs += slotCount(b.requests[i].Load(), sec, sec-retryWindow+1)
		rets += slotCount(b.retries[i].Load(), sec, sec-retryWindow+1)
	}
	if (rets+1)*100 > b.percent*reqs {
		return false
	}
	bump(slot, sec)
	return true
}

func bump(w *atomic.Uint64, sec uint32) {
	for {
		old := w.Load()
		if uint32(old>>32) == sec {
			w.Add(1)
			return
		}
		if w.CompareAndSwap(old, uint64(sec)<<32|1) {
			return
		}
	}
}

// slotCount returns a slot's count if its second lies in [from, sec].
func slotCount(v uint64, sec, from uint32) uint64 {
	s := uint32(v >> 32)
	if s > sec || s < from {
		return 0
	}
	return v & 0xffffffff
}
