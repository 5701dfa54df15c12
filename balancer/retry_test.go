package balancer

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestRetryBudget(t *testing.T) {
	b := NewRetryBudget(0, 0)

	// Nothing earned yet: the floor allows 3 a second, then refuses
	// until the next second.
	for i := range 3 {
		if !b.TryRetry(100) {
			t.Fatalf("floor retry %d refused", i)
		}
	}
	if b.TryRetry(100) {
		t.Fatal("a fourth retry in one second with nothing earned")
	}
	if !b.TryRetry(101) {
		t.Fatal("the floor did not renew with the next second")
	}

	// A client sending one request at a time, every one failing and
	// asking for two retries (attempts: 2), within one second: retries
	// stay at 20% of its requests plus what the floor has left.
	b = NewRetryBudget(0, 0)
	retries := 0
	for range 1000 {
		b.Request()
		for range 2 {
			if b.TryRetry(200) {
				retries++
			}
		}
	}
	if retries != 200+3 {
		t.Fatalf("%d retries for 1000 requests, want 20%% (200) plus the floor's 3", retries)
	}

	// Savings are capped: a long healthy spell buys at most retrySaveMax.
	b = NewRetryBudget(0, 0)
	for range 100000 {
		b.Request()
	}
	if got := b.Saved(); got != retrySaveMax {
		t.Fatalf("saved %d retries after 100000 healthy requests, want the cap %d", got, retrySaveMax)
	}
	n := 0
	for b.TryRetry(300) {
		n++
		if n > 1000 {
			t.Fatal("unbounded")
		}
	}
	if n != retrySaveMax+3 {
		t.Fatalf("%d retries from savings and floor, want %d", n, retrySaveMax+3)
	}

	// Custom share and floor.
	c := NewRetryBudget(50, 1)
	allowed := 0
	for range 100 {
		c.Request()
		if c.TryRetry(400) {
			allowed++
		}
	}
	if allowed != 50+1 {
		t.Fatalf("50%% budget allowed %d retries for 100 requests, want 51", allowed)
	}
}

func TestRetryBudgetConcurrent(t *testing.T) {
	b := NewRetryBudget(20, 3)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5000 {
				b.Request()
				for range 3 {
					if b.TryRetry(500) {
						allowed.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	// 20,000 requests earn 4,000 retries, spent as they are earned (the
	// cap is never reached), plus the floor's 3.
	if got := allowed.Load(); got != 4000+3 {
		t.Fatalf("%d retries for 20000 requests, want 4003", got)
	}
}
