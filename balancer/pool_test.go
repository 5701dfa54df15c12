package balancer

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewPoolValidation(t *testing.T) {
	f := func(name string, cfg PoolConfig, wantErr string) {
		t.Helper()
		_, err := NewPool(cfg, nil)
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("%s: unexpected error %v", name, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("%s: error %v, want one containing %q", name, err, wantErr)
		}
	}
	ok := targets(2)
	f("minimal", PoolConfig{Name: "u", Targets: ok}, "")
	f("no targets", PoolConfig{Name: "u"}, `pool "u": no targets`)
	f("unknown algorithm", PoolConfig{Targets: ok, Algorithm: "fastest"}, "unknown algorithm")
	f("empty address", PoolConfig{Targets: []TargetConfig{{Address: ""}}}, "invalid address")
	f("duplicate", PoolConfig{Targets: []TargetConfig{{Address: "a:1"}, {Address: "a:1"}}}, "duplicate address")
	f("negative weight", PoolConfig{Targets: []TargetConfig{{Address: "a:1", Weight: -1}}}, "weight -1")
	f("huge weight", PoolConfig{Targets: []TargetConfig{{Address: "a:1", Weight: MaxWeight + 1}}}, "out of range")
	f("negative max conns", PoolConfig{Targets: ok, MaxConns: -1}, "max_conns")
	f("panic over 100", PoolConfig{Targets: ok, PanicThreshold: 101}, "panic threshold")
	f("bad path", PoolConfig{Targets: ok, HealthCheck: &HealthCheckConfig{Path: "healthz"}}, "must start with /")
	f("negative interval", PoolConfig{Targets: ok, HealthCheck: &HealthCheckConfig{Interval: -1}}, "negative")
	f("negative outlier", PoolConfig{Targets: ok, Outlier: &OutlierConfig{ConsecutiveFailures: -1}}, "negative")
	f("too many", PoolConfig{Targets: targets(MaxTargets + 1)}, "limit")

	p := mustPool(t, PoolConfig{Targets: []TargetConfig{{Address: "a:1"}}, HealthCheck: &HealthCheckConfig{}, Outlier: &OutlierConfig{}}, nil)
	c := p.Config()
	if c.Algorithm != RoundRobin || c.PanicThreshold != DefaultPanicThreshold || c.Targets[0].Weight != 1 {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if h := c.HealthCheck; h.Path != "/" || h.Interval != DefaultHealthInterval || h.Timeout != DefaultHealthTimeout ||
		h.HealthyThreshold != 2 || h.UnhealthyThreshold != 3 {
		t.Fatalf("health defaults not applied: %+v", h)
	}
	if o := c.Outlier; o.ConsecutiveFailures != 5 || o.BaseEjection != 30*time.Second || o.MaxEjection != 300*time.Second {
		t.Fatalf("outlier defaults not applied: %+v", o)
	}
}

func TestMaxConns(t *testing.T) {
	p := mustPool(t, PoolConfig{Targets: targets(1), MaxConns: 3}, nil)
	tg := p.targets[0]
	for i := range 3 {
		if !tg.Acquire() {
			t.Fatalf("acquire %d refused under the cap", i)
		}
	}
	if tg.Acquire() {
		t.Fatal("acquire over max_conns admitted")
	}
	tg.Release()
	if !tg.Acquire() {
		t.Fatal("acquire after release refused")
	}

	// Concurrent acquirers never exceed the cap.
	p2 := mustPool(t, PoolConfig{Targets: targets(1), MaxConns: 5}, nil)
	t2 := p2.targets[0]
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak := int64(0)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				if t2.Acquire() {
					n := t2.InFlight()
					mu.Lock()
					peak = max(peak, n)
					mu.Unlock()
					t2.Release()
				}
			}
		}()
	}
	wg.Wait()
	if peak > 5 || t2.InFlight() != 0 {
		t.Fatalf("peak %d (cap 5), left in flight %d", peak, t2.InFlight())
	}

	// No cap: always admitted.
	p3 := mustPool(t, PoolConfig{Targets: targets(1)}, nil)
	for range 100 {
		if !p3.targets[0].Acquire() {
			t.Fatal("acquire refused without a cap")
		}
	}
}

func TestReloadSurvival(t *testing.T) {
	cfg := PoolConfig{Name: "u", Targets: targets(3), Outlier: &OutlierConfig{ConsecutiveFailures: 1, BaseEjection: time.Minute},
		HealthCheck: &HealthCheckConfig{Interval: time.Hour}}
	old := mustPool(t, cfg, nil)
	now := nowNS()
	setHealthy(old, 0, false)
	old.targets[1].ReportFailure(now) // ejected
	if !old.targets[1].Ejected(now) {
		t.Fatal("target 1 not ejected")
	}
	held := old.targets[2]
	for i := 0; i < 2; i++ { // two requests in flight on target 2
		if !held.Acquire() {
			t.Fatal("acquire failed")
		}
	}

	// Reload: target 3 is new, the others keep their state.
	cfg.Targets = append(targets(3), TargetConfig{Address: "10.0.0.9:80", Weight: 2})
	cfg.Algorithm = LeastRequest
	nw := mustPool(t, cfg, old)
	if nw.targets[0].Healthy() {
		t.Error("health state lost on reload")
	}
	if !nw.targets[1].Ejected(now) {
		t.Error("ejection lost on reload")
	}
	if got := nw.targets[2].InFlight(); got != 2 {
		t.Errorf("in-flight after reload %d, want 2", got)
	}
	if !nw.targets[3].Healthy() || nw.targets[3].InFlight() != 0 {
		t.Error("new target does not start healthy and idle")
	}
	// The retry budget carries over: what the old pool saved is still
	// there, not a fresh allowance.
	if nw.RetryBudget() != old.RetryBudget() {
		t.Error("the retry budget was not carried over by the reload")
	}
	// Releases on the old Target balance the shared count.
	held.Release()
	held.Release()
	if got := nw.targets[2].InFlight(); got != 0 {
		t.Errorf("in-flight after old releases %d, want 0", got)
	}
	// Each pool applies max-half over its own targets on the shared
	// state: 1 of 3 ejected in the old pool, so the old pool refuses a
	// second one, while the new pool (4 targets) allows it.
	old.targets[2].ReportFailure(now)
	if old.targets[2].Ejected(now) {
		t.Error("old pool ejected 2 of 3 targets")
	}
	nw.targets[2].ReportFailure(now)
	if !nw.targets[2].Ejected(now) || !old.targets[2].Ejected(now) {
		t.Error("ejection through the new pool not shared")
	}

	// Dropping health checks on reload makes every target healthy again:
	// nothing would ever mark it healthy otherwise.
	cfg.HealthCheck = nil
	nw2 := mustPool(t, cfg, nw)
	if !nw2.targets[0].Healthy() {
		t.Error("target stays unhealthy after health checks were removed")
	}
}

func TestReloadInvalidatesPanicCacheOfOtherPool(t *testing.T) {
	cfg := PoolConfig{Targets: targets(4), HealthCheck: &HealthCheckConfig{Interval: time.Hour},
		Outlier: &OutlierConfig{ConsecutiveFailures: 1, BaseEjection: time.Minute}}
	old := mustPool(t, cfg, nil)
	nw := mustPool(t, cfg, old)
	now := nowNS()
	if nw.Panicking(now) {
		t.Fatal("panicking with all targets up")
	}
	// Health flips and ejections recorded through the old pool (its
	// checker still running during the swap) must reach the new pool's
	// decision: 2 unhealthy, and both healthy ones ejected, is panic.
	setHealthy(old, 0, false)
	setHealthy(old, 1, false)
	old.targets[2].ReportFailure(now)
	old.targets[3].ReportFailure(now)
	if !nw.Panicking(now) {
		t.Fatal("new pool missed health changes made through the old pool")
	}
}

func TestPickExcluding(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			p := mustPool(t, PoolConfig{Algorithm: alg, Targets: targets(3)}, nil)
			now := nowNS()
			for i := range 3000 {
				first := p.Pick(hashKey(i), now)
				next := p.PickExcluding(hashKey(i), now, first)
				if next == nil || next == first {
					t.Fatalf("retry picked %v after %v", next, first)
				}
			}
			// The sole target is returned when nothing else may be used.
			one := mustPool(t, PoolConfig{Algorithm: alg, Targets: targets(1)}, nil)
			tg := one.Pick(1, now)
			if got := one.PickExcluding(1, now, tg); got != tg {
				t.Fatalf("single target: got %v", got)
			}
		})
	}
}

func TestSnapshotJSON(t *testing.T) {
	p := mustPool(t, PoolConfig{Name: "orders", Targets: targets(2, 3, 1), MaxConns: 10,
		Outlier: &OutlierConfig{ConsecutiveFailures: 1, BaseEjection: time.Minute}}, nil)
	p.targets[0].Acquire()
	p.targets[1].ReportFailure(nowNS())
	b, err := json.Marshal(p.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Name      string
		Algorithm string
		Available int
		Panic     bool
		Targets   []map[string]any
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "orders" || got.Algorithm != RoundRobin || got.Available != 1 || got.Panic || len(got.Targets) != 2 {
		t.Fatalf("snapshot %s", b)
	}
	t0, t1 := got.Targets[0], got.Targets[1]
	if t0["address"] != "10.0.0.1:80" || t0["weight"] != 3.0 || t0["healthy"] != true || t0["in_flight"] != 1.0 || t0["max_conns"] != 10.0 {
		t.Fatalf("target 0 %v", t0)
	}
	if t1["ejected"] != true || t1["ejected_until"] == nil || t1["available"] != false || t1["ejections_total"] != 1.0 {
		t.Fatalf("target 1 %v", t1)
	}
	t.Logf("%s", b)
}

// A target at its max_conns is passed over while another has room, by
// every algorithm; with all full a pick still returns one, whose Acquire
// fails (the caller answers 503 overloaded).
func TestPickSkipsFullTargets(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			p := mustPool(t, PoolConfig{Algorithm: alg, Targets: targets(2), MaxConns: 1}, nil)
			now := nowNS()
			full := p.targets[0]
			if !full.Acquire() {
				t.Fatal("first acquire")
			}
			for i := range 200 {
				if got := p.Pick(hashKey(i), now); got != p.targets[1] {
					t.Fatalf("pick %d: target %d, want the one with room", i, got.index)
				}
			}
			other := p.targets[1]
			if !other.Acquire() {
				t.Fatal("second target's acquire")
			}
			got := p.Pick(hashKey(1), now)
			if got == nil || got.Acquire() {
				t.Fatalf("all full: pick %v should be a full target", got)
			}
			full.Release()
			other.Release()
		})
	}
}

// Unreachable: a failed connect marks a target for the window unless a
// connect succeeds; 5xx-style failures do not; out of rotation counts.
func TestUnreachable(t *testing.T) {
	p := mustPool(t, PoolConfig{Targets: targets(2), Outlier: &OutlierConfig{ConsecutiveFailures: 1, BaseEjection: time.Second}}, nil)
	a, b := p.Targets()[0], p.Targets()[1]
	now := nowNS()
	const window = int64(time.Second)
	if a.Unreachable(now, window) || p.AllUnreachable(now, window) {
		t.Fatal("a fresh pool is unreachable")
	}
	a.ReportConnectFailure(now)
	if !a.Unreachable(now+1, window) || a.Unreachable(now+window, window) {
		t.Fatal("a failed connect marks the target for the window only")
	}
	a.ReportConnected()
	if a.Unreachable(now+1, window) {
		t.Fatal("a successful connect clears the mark")
	}
	a.ReportConnectFailure(now)
	b.ReportFailure(now) // a 5xx answer: ejects b (ConsecutiveFailures 1)
	if !b.Ejected(now + 1) {
		t.Fatal("b not ejected")
	}
	if !p.AllUnreachable(now+1, window) {
		t.Fatal("one target failing its connects and the other ejected: not all unreachable")
	}
}
