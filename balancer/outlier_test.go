package balancer

import (
	"sync"
	"testing"
	"time"
)

func TestOutlierEjection(t *testing.T) {
	var mu sync.Mutex
	var ejected []time.Duration
	p := mustPool(t, PoolConfig{Targets: targets(4), Outlier: &OutlierConfig{ConsecutiveFailures: 3, BaseEjection: time.Second, MaxEjection: 5 * time.Second},
		OnEject: func(_ *Target, d time.Duration) { mu.Lock(); ejected = append(ejected, d); mu.Unlock() }}, nil)
	tg := p.targets[0]
	now := int64(1_000_000e9)

	// A success resets the count.
	tg.ReportFailure(now)
	tg.ReportFailure(now)
	tg.ReportSuccess()
	tg.ReportFailure(now)
	tg.ReportFailure(now)
	if tg.Ejected(now) {
		t.Fatal("ejected although a success broke the streak")
	}
	tg.ReportFailure(now)
	if !tg.Ejected(now) || tg.Available(now) {
		t.Fatal("not ejected after 3 consecutive failures")
	}
	sec := int64(time.Second)
	if tg.Ejected(now+sec) || !tg.Ejected(now+sec-1) {
		t.Fatalf("first ejection should last exactly 1s, until %d", tg.EjectedUntil()-now)
	}
	// Picks skip it while ejected and use it again afterwards.
	for range 100 {
		if p.Pick(0, now+1) == tg {
			t.Fatal("ejected target picked")
		}
	}
	seen := false
	for range 100 {
		seen = seen || p.Pick(0, now+sec) == tg
	}
	if !seen {
		t.Fatal("target not picked after its ejection ended")
	}

	// Failures reported while ejected are not counted.
	for range 10 {
		tg.ReportFailure(now + 1)
	}
	if tg.ConsecutiveFailures() != 0 || tg.Ejections() != 1 {
		t.Fatalf("failures while ejected counted: %d in a row, %d ejections", tg.ConsecutiveFailures(), tg.Ejections())
	}

	// Re-ejection soon after returning doubles: 2s, 4s, then the 5s cap.
	at := now + sec
	for i, want := range []time.Duration{2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		for range 3 {
			tg.ReportFailure(at)
		}
		if got := time.Duration(tg.EjectedUntil() - at); got != want {
			t.Fatalf("ejection %d lasted %v, want %v", i+2, got, want)
		}
		at = tg.EjectedUntil() + 1 // failing again right after it returns
	}
	// Staying healthy for as long as the last ejection (5s) ends the
	// streak: the next ejection is back to the base.
	at += int64(5 * time.Second)
	for range 3 {
		tg.ReportFailure(at)
	}
	if got := time.Duration(tg.EjectedUntil() - at); got != time.Second {
		t.Fatalf("ejection after a quiet period lasted %v, want the base 1s", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ejected) != 6 || ejected[0] != time.Second || ejected[3] != 5*time.Second {
		t.Fatalf("OnEject saw %v", ejected)
	}
}

func TestOutlierMaxHalf(t *testing.T) {
	f := func(n, wantEjected int) {
		t.Helper()
		p := mustPool(t, PoolConfig{Targets: targets(n), Outlier: &OutlierConfig{ConsecutiveFailures: 1, BaseEjection: time.Minute}}, nil)
		now := nowNS()
		for _, tg := range p.targets {
			tg.ReportFailure(now)
		}
		if got := n - p.AvailableCount(now); got != wantEjected {
			t.Fatalf("%d targets all failing: %d ejected, want %d", n, got, wantEjected)
		}
	}
	f(1, 0) // a lone target is never ejected
	f(2, 1)
	f(3, 1)
	f(4, 2)
	f(7, 3)
	f(10, 5)

	// Once an ejection expires, another target may take its place.
	p := mustPool(t, PoolConfig{Targets: targets(2), Outlier: &OutlierConfig{ConsecutiveFailures: 1, BaseEjection: time.Second}}, nil)
	now := nowNS()
	p.targets[0].ReportFailure(now)
	p.targets[1].ReportFailure(now)
	if !p.targets[0].Ejected(now) || p.targets[1].Ejected(now) {
		t.Fatal("want exactly target 0 ejected")
	}
	later := now + int64(time.Second)
	p.targets[1].ReportFailure(later)
	if !p.targets[1].Ejected(later) {
		t.Fatal("target 1 not ejected after target 0's ejection expired")
	}
}

func TestOutlierConcurrentMaxHalf(t *testing.T) {
	p := mustPool(t, PoolConfig{Targets: targets(10), Outlier: &OutlierConfig{ConsecutiveFailures: 2, BaseEjection: time.Minute}}, nil)
	now := nowNS()
	var wg sync.WaitGroup
	for _, tg := range p.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				tg.ReportFailure(now)
			}
		}()
	}
	wg.Wait()
	if got := 10 - p.AvailableCount(now); got != 5 {
		t.Fatalf("%d of 10 ejected concurrently, want 5", got)
	}
}

func TestPanicMode(t *testing.T) {
	p := mustPool(t, PoolConfig{Targets: targets(4), Outlier: &OutlierConfig{ConsecutiveFailures: 1, BaseEjection: time.Second}}, nil)
	now := nowNS()
	// 2 of 4 fail their health checks: they get nothing, panic or not.
	setHealthy(p, 0, false)
	setHealthy(p, 1, false)
	if p.Panicking(now) {
		t.Fatal("panicking with every healthy target available")
	}
	c := counts(t, p, 4000, hashKey)
	if c[0] != 0 || c[1] != 0 {
		t.Fatalf("unhealthy targets picked: %v", c)
	}
	// One of the two healthy ones ejected: 50% of the healthy available,
	// not below the threshold; the other takes everything.
	p.targets[2].ReportFailure(now)
	if !p.targets[2].Ejected(now) || p.Panicking(now) {
		t.Fatal("want target 2 ejected, no panic at 50%")
	}
	if c := counts(t, p, 1000, hashKey); c[3] != 1000 {
		t.Fatalf("picks %v, want all on target 3", c)
	}
	// Both healthy ones ejected: panic ignores the ejections, and spreads
	// over the healthy targets only.
	p.targets[3].ReportFailure(now)
	if !p.targets[3].Ejected(now) || !p.Panicking(now) {
		t.Fatal("want panic with every healthy target ejected")
	}
	c = make([]int, 4)
	for i := range 20_000 {
		c[p.Pick(hashKey(i), now).index]++
	}
	if c[0] != 0 || c[1] != 0 || !within(float64(c[2]), 10_000, 0.10) || !within(float64(c[3]), 10_000, 0.10) {
		t.Fatalf("panic picks %v, want spread over targets 2 and 3 only", c)
	}
	// The ejections expire: no panic, without any other event.
	later := now + int64(time.Second)
	if p.Panicking(later) {
		t.Fatal("still panicking after the ejections expired")
	}
	// None passes its checks: no pick (SPEC §4: 503 unavailable).
	setHealthy(p, 2, false)
	setHealthy(p, 3, false)
	if p.Panicking(later) || p.Pick(0, later) != nil {
		t.Fatal("a pick with no healthy target")
	}
	// Panic mode disabled: every healthy target ejected means nil.
	q := mustPool(t, PoolConfig{Targets: targets(2), PanicThreshold: -1, Outlier: &OutlierConfig{ConsecutiveFailures: 1, BaseEjection: time.Second}}, nil)
	setHealthy(q, 0, false)
	q.targets[1].ReportFailure(now)
	if q.targets[1].Ejected(now) && (q.Panicking(now) || q.Pick(0, now) != nil) {
		t.Fatal("panic mode not disabled by a negative threshold")
	}
	// Threshold 100: any ejected healthy target triggers panic.
	r := mustPool(t, PoolConfig{Targets: targets(3), PanicThreshold: 100, Outlier: &OutlierConfig{ConsecutiveFailures: 1, BaseEjection: time.Second}}, nil)
	r.targets[0].ReportFailure(now)
	if !r.targets[0].Ejected(now) || !r.Panicking(now) {
		t.Fatal("threshold 100 with one target ejected should panic")
	}
}
