package balancer

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// upstream is a loopback server whose health answer the test controls,
// and which can be stopped and restarted on the same address.
type upstream struct {
	t      *testing.T
	addr   string
	status atomic.Int32
	delay  atomic.Int64
	hits   atomic.Int64
	active atomic.Int64
	peak   atomic.Int64
	mu     sync.Mutex
	srv    *httptest.Server
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{t: t}
	u.status.Store(200)
	u.start("127.0.0.1:0")
	t.Cleanup(u.stop)
	return u
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.hits.Add(1)
	n := u.active.Add(1)
	defer u.active.Add(-1)
	for {
		p := u.peak.Load()
		if n <= p || u.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if d := time.Duration(u.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
	}
	if r.URL.Path != "/healthz" || r.Header.Get("User-Agent") != "portico-health-check" {
		w.WriteHeader(404)
		return
	}
	w.WriteHeader(int(u.status.Load()))
}

func (u *upstream) start(addr string) {
	var ln net.Listener
	var err error
	// Re-binding a just-closed port can take a moment.
	for range 50 {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		u.t.Fatalf("cannot listen on %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(u)
	srv.Listener = ln
	srv.Start()
	u.mu.Lock()
	u.srv, u.addr = srv, ln.Addr().String()
	u.mu.Unlock()
}

func (u *upstream) stop() {
	u.mu.Lock()
	srv := u.srv
	u.srv = nil
	u.mu.Unlock()
	if srv != nil {
		srv.CloseClientConnections()
		srv.Close()
	}
}

// waitFor polls cond every 2ms until it holds or limit passes, and returns
// the time it took.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < limit {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v", what, limit)
	return 0
}

const (
	testInterval = 25 * time.Millisecond
	testMargin   = 400 * time.Millisecond // scheduling slack under -race on a shared 2-core box
)

func healthPool(t *testing.T, ups []*upstream, onChange func(*Target, bool)) *Pool {
	t.Helper()
	tcs := make([]TargetConfig, len(ups))
	for i, u := range ups {
		tcs[i] = TargetConfig{Address: u.addr}
	}
	p := mustPool(t, PoolConfig{Name: "hc", Targets: tcs, OnChange: onChange, HealthCheck: &HealthCheckConfig{
		Path: "/healthz", Interval: testInterval, Timeout: 20 * time.Millisecond, HealthyThreshold: 2, UnhealthyThreshold: 3,
	}}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	p.Start(ctx)
	t.Cleanup(func() { cancel(); p.Stop() })
	return p
}

func TestHealthCheck503AndRecovery(t *testing.T) {
	a, b := newUpstream(t), newUpstream(t)
	var mu sync.Mutex
	var changes []bool
	p := healthPool(t, []*upstream{a, b}, func(tg *Target, healthy bool) {
		if tg.Address() == a.addr {
			mu.Lock()
			changes = append(changes, healthy)
			mu.Unlock()
		}
	})
	ta := p.targets[0]
	waitFor(t, time.Second, "first checks", func() bool { return a.hits.Load() >= 2 && b.hits.Load() >= 2 })
	if !ta.Healthy() {
		t.Fatal("healthy target marked unhealthy")
	}

	a.status.Store(503)
	took := waitFor(t, 3*testInterval+testMargin, "503 target turns unhealthy", func() bool { return !ta.Healthy() })
	t.Logf("503: unhealthy after %v (interval %v × unhealthy_threshold 3 = %v)", took, testInterval, 3*testInterval)
	// The other target is unaffected. (Its own 20 ms checks may time out
	// now and then on a loaded machine under -race: it must be healthy
	// again within the margin, not necessarily at this instant.)
	waitFor(t, 2*testInterval+testMargin, "the other target is healthy", p.targets[1].Healthy)
	now := nowNS()
	for range 100 {
		if p.Pick(0, now) == ta {
			t.Fatal("unhealthy target picked")
		}
	}
	snap := p.Snapshot()
	if snap.Targets[0].Healthy || snap.Targets[0].LastCheckError == "" || snap.Targets[0].LastCheck == nil {
		t.Fatalf("snapshot %+v", snap.Targets[0])
	}

	a.status.Store(200)
	took = waitFor(t, 2*testInterval+testMargin, "recovered target turns healthy", ta.Healthy)
	t.Logf("recovery: healthy after %v (interval × healthy_threshold 2 = %v)", took, 2*testInterval)

	// OnChange reports each transition once: down, then up (a loaded
	// machine may add a timed-out check's down-and-up in between).
	mu.Lock()
	defer mu.Unlock()
	ok := len(changes) >= 2 && len(changes)%2 == 0
	for i := 0; ok && i < len(changes); i++ {
		ok = changes[i] == (i%2 == 1)
	}
	if !ok {
		t.Fatalf("OnChange saw %v, want [false true] (or more such pairs)", changes)
	}
}

func TestHealthCheckClosedAndRestarted(t *testing.T) {
	a, b := newUpstream(t), newUpstream(t)
	p := healthPool(t, []*upstream{a, b}, nil)
	ta := p.targets[0]
	addr := a.addr
	waitFor(t, time.Second, "first checks", func() bool { return a.hits.Load() >= 1 })

	a.stop()
	took := waitFor(t, 3*testInterval+testMargin, "closed target turns unhealthy", func() bool { return !ta.Healthy() })
	t.Logf("closed: unhealthy after %v", took)

	a.start(addr)
	took = waitFor(t, 2*testInterval+testMargin, "restarted target turns healthy", ta.Healthy)
	t.Logf("restarted: healthy after %v", took)
}

func TestHealthCheckSlowTarget(t *testing.T) {
	a, b := newUpstream(t), newUpstream(t)
	p := healthPool(t, []*upstream{a, b}, nil)
	a.delay.Store(int64(200 * time.Millisecond)) // over the 20ms timeout
	took := waitFor(t, 3*(testInterval+20*time.Millisecond)+testMargin, "slow target turns unhealthy", func() bool { return !p.targets[0].Healthy() })
	t.Logf("slow: unhealthy after %v", took)
	waitFor(t, 2*testInterval+testMargin, "the other target is healthy (a slow target does not hold up its checks)", p.targets[1].Healthy)
}

func TestCheckWorkers(t *testing.T) {
	for _, c := range []struct {
		n                 int
		interval, timeout time.Duration
		want              int
	}{
		{1, 5 * time.Second, time.Second, 1},
		{3, 5 * time.Second, time.Second, 3},
		{12, 400 * time.Millisecond, 100 * time.Millisecond, 4},
		{100, 5 * time.Second, time.Second, 21},
		{40, 100 * time.Millisecond, 90 * time.Millisecond, 37},
		{4096, time.Second, time.Second, maxCheckWorkers},
	} {
		if got := checkWorkers(c.n, c.interval, c.timeout); got != c.want {
			t.Errorf("checkWorkers(%d, %v, %v) = %d, want %d", c.n, c.interval, c.timeout, got, c.want)
		}
	}
}

// TestHealthCheckHangingTargetsDelayNoOther: a pool with many targets that
// accept a connection and never answer (each check runs to its timeout)
// still checks its other targets once per interval, so a failing one is
// taken out within about interval × unhealthy_threshold + timeout.
func TestHealthCheckHangingTargetsDelayNoOther(t *testing.T) {
	const hanging = 40
	var tcs []TargetConfig
	for range hanging {
		ln, err := net.Listen("tcp", "127.0.0.1:0") // never accepted: the kernel completes handshakes, nobody answers
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		tcs = append(tcs, TargetConfig{Address: ln.Addr().String()})
	}
	live := newUpstream(t)
	tcs = append(tcs, TargetConfig{Address: live.addr})
	interval, timeout := 100*time.Millisecond, 90*time.Millisecond
	p := mustPool(t, PoolConfig{Name: "hang", Targets: tcs, HealthCheck: &HealthCheckConfig{
		Path: "/healthz", Interval: interval, Timeout: timeout, HealthyThreshold: 1, UnhealthyThreshold: 2}}, nil)
	p.Start(context.Background())
	t.Cleanup(p.Stop)
	waitFor(t, 2*time.Second, "the live target checked", func() bool { return live.hits.Load() >= 2 })
	live.status.Store(500)
	// 2 checks 100 ms (+10%) apart, each up to 90 ms: about 310 ms. With
	// 4 workers shared by 41 targets a round took 41 × 90 / 4 ≈ 920 ms.
	took := waitFor(t, 4*time.Second, "the failing target taken out", func() bool { return !p.targets[hanging].Healthy() })
	if limit := 2*(interval+interval/10) + timeout + testMargin; took > limit {
		t.Fatalf("taken out after %v, want within %v: hanging targets held up its checks", took, limit)
	}
	t.Logf("taken out after %v", took)
}

// TestHealthCheckEveryInterval: checks start every interval (+ jitter),
// whatever each one takes: a target answering in 150 ms of a 200 ms
// interval was checked every 350 ms, so a failure took that much longer to
// count.
func TestHealthCheckEveryInterval(t *testing.T) {
	u := newUpstream(t)
	u.delay.Store(int64(150 * time.Millisecond))
	p := mustPool(t, PoolConfig{Name: "cadence", Targets: []TargetConfig{{Address: u.addr}}, HealthCheck: &HealthCheckConfig{
		Path: "/healthz", Interval: 200 * time.Millisecond, Timeout: 190 * time.Millisecond}}, nil)
	p.Start(context.Background())
	t.Cleanup(p.Stop)
	waitFor(t, 2*time.Second, "the first check", func() bool { return u.hits.Load() >= 1 })
	first := u.hits.Load()
	took := waitFor(t, 5*time.Second, "8 more checks", func() bool { return u.hits.Load() >= first+8 })
	// 8 intervals of 200-220 ms: about 1.7 s; from each check's end, 2.9 s.
	if took > 2300*time.Millisecond {
		t.Fatalf("8 checks took %v: the interval runs from each check's end", took)
	}
	t.Logf("8 checks in %v", took)
}

func TestHealthCheckBoundedConcurrencyAndStop(t *testing.T) {
	ups := make([]*upstream, 12)
	for i := range ups {
		ups[i] = newUpstream(t)
		ups[i].delay.Store(int64(30 * time.Millisecond))
	}
	var peak atomic.Int64
	sample := func() {
		var n int64
		for _, u := range ups {
			n += u.active.Load()
		}
		if n > peak.Load() {
			peak.Store(n)
		}
	}
	// A timeout (capped at the interval) long enough that no check is abandoned: the server's
	// handler then always finishes before the checker's worker does, so
	// server-side concurrency bounds the checker's.
	tcs := make([]TargetConfig, len(ups))
	for i, u := range ups {
		tcs[i] = TargetConfig{Address: u.addr}
	}
	interval, timeout := 400*time.Millisecond, 100*time.Millisecond
	bound := checkWorkers(len(ups), interval, timeout) // 12 × 100/400 + 1 = 4
	p := mustPool(t, PoolConfig{Targets: tcs, HealthCheck: &HealthCheckConfig{
		Path: "/healthz", Interval: interval, Timeout: timeout}}, nil)
	p.Start(context.Background())
	t.Cleanup(p.Stop)
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		sample()
		time.Sleep(time.Millisecond)
	}
	if got := peak.Load(); got > int64(bound) || got == 0 {
		t.Fatalf("peak concurrent checks %d, want 1..%d", got, bound)
	}
	t.Logf("12 targets, 30ms checks: peak %d concurrent checks", peak.Load())

	p.Stop()
	// A request written just before Stop may reach its server a moment
	// later (much later on a loaded machine under -race); let those land
	// before counting.
	time.Sleep(250 * time.Millisecond)
	var hits int64
	for _, u := range ups {
		hits += u.hits.Load()
	}
	time.Sleep(5 * testInterval)
	var after int64
	for _, u := range ups {
		after += u.hits.Load()
	}
	if after != hits {
		t.Fatalf("%d checks after Stop", after-hits)
	}
	// Start again after Stop works, and Start is idempotent.
	p.Start(context.Background())
	p.Start(context.Background())
	waitFor(t, time.Second, "checks resume", func() bool {
		var n int64
		for _, u := range ups {
			n += u.hits.Load()
		}
		return n > after
	})
	p.Stop()
	p.Stop()
}

func TestHealthCheckContextCancel(t *testing.T) {
	a := newUpstream(t)
	p := mustPool(t, PoolConfig{Targets: []TargetConfig{{Address: a.addr}}, HealthCheck: &HealthCheckConfig{
		Path: "/healthz", Interval: testInterval, Timeout: 10 * time.Millisecond}}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	p.Start(ctx)
	waitFor(t, time.Second, "first check", func() bool { return a.hits.Load() >= 1 })
	cancel()
	time.Sleep(2 * testInterval) // let the checker notice
	h := a.hits.Load()
	time.Sleep(4 * testInterval)
	if a.hits.Load() != h {
		t.Fatal("checks continue after the context ended")
	}
	if !p.targets[0].Healthy() {
		t.Fatal("cancellation counted as a failure")
	}
	p.Stop()
}

func TestNoHealthCheckStartIsNoop(t *testing.T) {
	p := mustPool(t, PoolConfig{Targets: targets(2)}, nil)
	p.Start(context.Background())
	p.Stop()
	if p.checker != nil {
		t.Fatal(errors.New("checker started without a health check config"))
	}
}

// TestReloadHealthChecksOnOff: building a pool changes no shared state (a
// reload may fail after it, and the old pool's checker runs until the new
// pool is published); a pool without checks ignores health bits, even one
// the old checker sets after the new pool was built; checks that come back
// start from healthy targets.
func TestReloadHealthChecksOnOff(t *testing.T) {
	tcs := []TargetConfig{{Address: "127.0.0.1:1"}, {Address: "127.0.0.1:2"}}
	hc := &HealthCheckConfig{Interval: time.Hour}
	checked := mustPool(t, PoolConfig{Name: "u", Targets: tcs, HealthCheck: hc}, nil)
	down := checked.targets[0]
	if down.s.healthy.CompareAndSwap(true, false) {
		checked.flipped(down, false)
	}

	unchecked, err := NewPool(PoolConfig{Name: "u", Targets: tcs}, checked)
	if err != nil {
		t.Fatal(err)
	}
	// Built, not published: the live pool still sees the target down.
	if down.Healthy() {
		t.Fatal("building a pool without checks marked the live pool's target healthy")
	}
	if n := checked.AvailableCount(nowNS()); n != 1 {
		t.Fatalf("live pool: %d available, want 1", n)
	}
	// The old checker records one more failure after the new pool was
	// built: the new pool, which has no checker to undo it, ignores it.
	unchecked.targets[1].s.healthy.Store(false)
	for i, tg := range unchecked.targets {
		if !tg.Healthy() || !tg.Available(nowNS()) {
			t.Fatalf("target %d unusable in a pool without health checks", i)
		}
	}
	got := map[string]int{}
	for i := 0; i < 40; i++ {
		got[unchecked.Pick(uint64(i), nowNS()).Address()]++
	}
	if len(got) != 2 {
		t.Fatalf("picks %v, want both targets", got)
	}

	// Checks come back: the stale bits are reset when the pool starts.
	rechecked, err := NewPool(PoolConfig{Name: "u", Targets: tcs, HealthCheck: hc}, unchecked)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rechecked.Start(ctx)
	defer rechecked.Stop()
	for i, tg := range rechecked.targets {
		if !tg.Healthy() {
			t.Fatalf("target %d still down after checks restarted", i)
		}
	}
}

// A failed check's error (logged, and shown by GET /upstreams) names the
// path but not its query, which may carry a token.
func TestHealthCheckErrorHidesQuery(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every check is refused
	p := mustPool(t, PoolConfig{Targets: []TargetConfig{{Address: addr}}, HealthCheck: &HealthCheckConfig{
		Path: "/healthz?token=SECRET123", Interval: testInterval, Timeout: testInterval, UnhealthyThreshold: 1, HealthyThreshold: 1}}, nil)
	p.Start(context.Background())
	t.Cleanup(p.Stop)
	waitFor(t, 3*testInterval+testMargin, "refused target turns unhealthy", func() bool { return !p.targets[0].Healthy() })
	msg := p.Snapshot().Targets[0].LastCheckError
	if strings.Contains(msg, "SECRET123") || !strings.Contains(msg, "GET /healthz") {
		t.Fatalf("last check error %q: want the path without its query", msg)
	}
}
