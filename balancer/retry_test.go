package balancer

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestRetryBudget(t *testing.T) {
	var inFlight atomic.Int64
	b := NewRetryBudget(0, 0, inFlight.Load)

	// Light load: the minimum of 3 retries in flight holds whatever the
	// share, and a retry that ends frees its place.
	inFlight.Store(1)
	for i := range 3 {
		if !b.TryRetry() {
			t.Fatalf("retry %d of the minimum refused", i)
		}
	}
	if b.TryRetry() {
		t.Fatal("a fourth retry in flight with one request in flight")
	}
	b.Done()
	if !b.TryRetry() {
		t.Fatal("a finished retry did not free its place")
	}
	for range 3 {
		b.Done()
	}
	// A client sending one request at a time, each failing once, is
	// never refused (one retry in flight at a time).
	for i := range 1000 {
		if !b.TryRetry() {
			t.Fatalf("sequential retry %d refused", i)
		}
		b.Done()
	}

	// Heavy load: 1000 requests in flight, all failing: 20% may retry.
	inFlight.Store(1000)
	allowed := 0
	for range 1000 {
		if b.TryRetry() {
			allowed++
		}
	}
	if allowed != 200 {
		t.Fatalf("%d retries in flight for 1000 requests, want 20%% (200)", allowed)
	}
	if b.Active() != 200 {
		t.Fatalf("Active %d", b.Active())
	}

	// Custom share.
	c := NewRetryBudget(50, 1, func() int64 { return 100 })
	n := 0
	for range 100 {
		if c.TryRetry() {
			n++
		}
	}
	if n != 50 {
		t.Fatalf("50%% budget allowed %d of 100", n)
	}
}

func TestRetryBudgetConcurrent(t *testing.T) {
	b := NewRetryBudget(20, 3, func() int64 { return 20000 })
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5000 {
				if b.TryRetry() {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	// 20% of 20000 in flight = 4000, never more (the CAS loop is exact).
	if got := allowed.Load(); got != 4000 {
		t.Fatalf("%d retries admitted for 20000 requests in flight", got)
	}
}
