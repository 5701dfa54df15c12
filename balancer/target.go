package balancer

import (
	"sync/atomic"
	"time"
)

// targetState is the mutable state of one target address. A reload hands
// the same *targetState to the new pool's Target, so health, ejection and
// in-flight counts survive it, and Release on an old Target still balances
// an Acquire made before the reload.
type targetState struct {
	// inflight changes on every request from every loop: keep it on its
	// own cache line so picks reading the fields below do not contend.
	inflight atomic.Int64
	_        [56]byte

	healthy      atomic.Bool  // active health; starts true
	ejectedUntil atomic.Int64 // Unix ns; ejected while now < ejectedUntil
	consecFails  atomic.Int32 // passive failures in a row
	ejections    atomic.Int32 // ejection streak, for doubling
	ejectTotal   atomic.Int64 // ejections ever, for /upstreams
	lastEjection atomic.Int64 // duration of the latest ejection, ns
	// connectFailedAt: Unix ns of the latest failed connect, 0 once a
	// connect succeeded since. Apart from consecFails, which 5xx answers
	// raise too: only a failed connect says a target cannot be reached.
	connectFailedAt atomic.Int64

	// Active-check bookkeeping, written by health workers only.
	checkOKs   atomic.Int32
	checkFails atomic.Int32
	lastCheck  atomic.Int64 // interval-clock ns (Now) of the latest completed check
	lastError  atomic.Pointer[string]
	_          [8]byte
}

func newTargetState() *targetState {
	s := &targetState{}
	s.healthy.Store(true)
	return s
}

// Target is one upstream instance of a Pool. Its accessors are safe from
// any goroutine. A Target belongs to the Pool that returned it; after a
// reload the old Target still works (it shares state with the new one).
type Target struct {
	address  string
	weight   int
	index    int
	maxConns int64
	pool     *Pool
	s        *targetState
}

// Address returns the target's host:port.
func (t *Target) Address() string { return t.address }

// Weight returns the target's normalised weight (≥ 1).
func (t *Target) Weight() int { return t.weight }

// Index returns the target's position in Pool.Targets(); callers may use
// it to index per-loop connection pools.
func (t *Target) Index() int { return t.index }

// Pool returns the pool this target belongs to.
func (t *Target) Pool() *Pool { return t.pool }

// Healthy reports the active health-check state (true when checks are off).
func (t *Target) Healthy() bool { return !t.pool.checked || t.s.healthy.Load() }

// Ejected reports whether passive outlier detection has ejected the
// target at time now (Unix ns).
func (t *Target) Ejected(now int64) bool { return now < t.s.ejectedUntil.Load() }

// Available reports whether the target is healthy and not ejected at now.
func (t *Target) Available(now int64) bool {
	return t.Healthy() && now >= t.s.ejectedUntil.Load()
}

// LastCheckError returns the error of the last failed health check since
// the last passing one, or "".
func (t *Target) LastCheckError() string {
	if e := t.s.lastError.Load(); e != nil {
		return *e
	}
	return ""
}

// InFlight returns the requests currently between Acquire and Release,
// counted across every loop and across reloads.
func (t *Target) InFlight() int64 { return t.s.inflight.Load() }

// Full reports whether the target is at its max_conns cap (never, without
// one). A pick passes over full targets while another has room.
func (t *Target) Full() bool {
	return t.maxConns > 0 && t.s.inflight.Load() >= t.maxConns
}

// Acquire counts one more in-flight request. It returns false, and counts
// nothing, when the pool's MaxConns is set and the target is at the cap;
// the caller then answers 503. Every true result needs one Release.
func (t *Target) Acquire() bool {
	if t.maxConns <= 0 {
		t.s.inflight.Add(1)
		return true
	}
	for {
		n := t.s.inflight.Load()
		if n >= t.maxConns {
			return false
		}
		if t.s.inflight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release ends an in-flight request counted by a successful Acquire.
func (t *Target) Release() { t.s.inflight.Add(-1) }

// ReportSuccess records a successful exchange: it resets the consecutive
// failure count used by outlier ejection.
func (t *Target) ReportSuccess() {
	// Load first: a plain store on every success would bounce the cache
	// line between loops even when nothing changes.
	if t.s.consecFails.Load() != 0 {
		t.s.consecFails.Store(0)
	}
}

// ReportFailure records a failed exchange (connect error, reset, 5xx) at
// now (Unix ns). Once the pool's outlier ConsecutiveFailures is reached,
// the target is ejected unless that would eject more than half the pool.
func (t *Target) ReportFailure(now int64) {
	o := t.pool.cfg.Outlier
	if o == nil {
		// No ejection configured; the streak is still reported
		// (/upstreams).
		t.s.consecFails.Add(1)
		return
	}
	if now < t.s.ejectedUntil.Load() {
		// Late answers of requests sent before the ejection (or panic-mode
		// traffic) say nothing new, and must not take the pool's lock.
		return
	}
	if int(t.s.consecFails.Add(1)) < o.ConsecutiveFailures {
		return
	}
	t.pool.eject(t, now)
}

// ReportConnectFailure records that a connect to the target failed at now
// (Unix ns), for Unreachable.
func (t *Target) ReportConnectFailure(now int64) { t.s.connectFailedAt.Store(now) }

// ReportConnected records a successful connect: the target is reachable.
func (t *Target) ReportConnected() {
	if t.s.connectFailedAt.Load() != 0 { // load first: a store per connect would bounce the line
		t.s.connectFailedAt.Store(0)
	}
}

// Unreachable reports whether no request should expect to reach the
// target at now: it is out of rotation (failing its health checks, or
// ejected), or its latest connect failed less than within ago with none
// succeeding since.
func (t *Target) Unreachable(now, within int64) bool {
	if !t.Available(now) {
		return true
	}
	f := t.s.connectFailedAt.Load()
	return f != 0 && now-f < within
}

// Ejections returns how many times the target has been ejected.
func (t *Target) Ejections() int64 { return t.s.ejectTotal.Load() }

// ConsecutiveFailures returns the passive failures reported in a row.
func (t *Target) ConsecutiveFailures() int { return int(t.s.consecFails.Load()) }

// EjectedUntil returns when the current or latest ejection ends (Unix ns;
// 0 if never ejected).
func (t *Target) EjectedUntil() int64 { return t.s.ejectedUntil.Load() }

// ejectionDuration computes the next ejection's length: base doubled per
// ejection in the current streak, capped at max. The streak restarts when
// the target stayed un-ejected for at least as long as its latest
// ejection lasted.
func (s *targetState) ejectionDuration(now int64, base, max time.Duration) (d time.Duration, streak int32) {
	streak = s.ejections.Load()
	if streak > 0 && now-s.ejectedUntil.Load() >= s.lastEjection.Load() {
		streak = 0
	}
	d = base
	for i := int32(0); i < streak && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d, streak + 1
}
