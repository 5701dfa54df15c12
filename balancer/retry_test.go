package balancer

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestRetryBudget(t *testing.T) {
	const sec = int64(1e9)
	base := int64(1_700_000_000) * sec

	// Without traffic, the per-second minimum still allows 3 retries.
	b := NewRetryBudget(0, 0)
	for i := range 3 {
		if !b.TryRetry(base) {
			t.Fatalf("minimum retry %d refused", i)
		}
	}
	if b.TryRetry(base) {
		t.Fatal("fourth retry in a second without requests allowed")
	}
	if !b.TryRetry(base + sec) {
		t.Fatal("minimum not renewed in the next second")
	}

	// Steady traffic: 1000 requests per second for 10 seconds, every
	// request failing and wanting a retry. Retries stay at 20% (+ the
	// per-second minimum).
	b = NewRetryBudget(20, 3)
	allowed := 0
	for s := range int64(10) {
		now := base + s*sec
		for range 1000 {
			b.RecordRequest(now)
			if b.TryRetry(now) {
				allowed++
			}
		}
	}
	if allowed < 2000 || allowed > 2000+3*10 {
		t.Fatalf("%d retries allowed for 10000 failing requests, want 20%% (2000, +30 minimum)", allowed)
	}
	t.Logf("10000 failing requests over 10s: %d retries allowed", allowed)

	// Old seconds leave the window: after 10 quiet seconds only the
	// minimum remains.
	later := base + 25*sec
	n := 0
	for range 100 {
		if b.TryRetry(later) {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d retries after the window passed, want the minimum 3", n)
	}

	// Custom percentage.
	c := NewRetryBudget(50, 1)
	for range 100 {
		c.RecordRequest(base)
	}
	n = 0
	for range 100 {
		if c.TryRetry(base) {
			n++
		}
	}
	if n != 50 {
		t.Fatalf("50%% budget allowed %d of 100", n)
	}
}

func TestRetryBudgetConcurrent(t *testing.T) {
	b := NewRetryBudget(20, 3)
	now := int64(1_700_000_000e9)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5000 {
				b.RecordRequest(now)
				if b.TryRetry(now) {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	// 20% of 20000 = 4000; concurrent callers may overshoot slightly.
	if got := allowed.Load(); got < 3900 || got > 4100 {
		t.Fatalf("%d retries allowed for 20000 requests", got)
	}
}
