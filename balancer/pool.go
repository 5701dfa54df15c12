package balancer

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Pool is one upstream: its targets, its picker, its health checker and
// its retry budget. Build it with NewPool; it is immutable except for the
// atomic per-target state, so all methods are safe for concurrent use.
type Pool struct {
	cfg     PoolConfig // normalised
	checked bool       // active health checks configured: the health bit counts
	// resetHealthOnStart: the targets come from a pool without checks,
	// whose health bits may be stale; the first Start marks them healthy.
	resetHealthOnStart bool
	targets            []*Target
	picker             Picker
	budget             *RetryBudget

	// panicWord caches the panic decision: bit 63 is "panic", the low 63
	// bits the Unix ns until which the decision holds (the earliest
	// ejection expiry). Recomputed under mu when stale or on any change.
	panicWord atomic.Uint64
	// panicGen is the stateGen the cached word was computed at; a change
	// made through any pool sharing our target states bumps stateGen.
	panicGen atomic.Uint64

	mu      sync.Mutex // slow paths: ejection decisions, panic recompute, checker start/stop
	checker *checker
}

const panicBit = 1 << 63

// stateGen counts health and ejection changes process-wide. Pools built
// across a reload share target states, so a change made through one pool
// must invalidate every pool's cached panic decision; changes are rare,
// so one global counter is cheap.
var stateGen atomic.Uint64

// NewPool builds a pool from cfg. When prev is non-nil (the same upstream
// before a reload), targets whose address is in both keep their health,
// ejection and in-flight state, and the retry budget carries over (a
// reload must not buy an outage a fresh allowance of retries). The
// caller should Start the new pool and then Stop prev once the new pool is
// published; prev keeps working for requests still using it.
func NewPool(cfg PoolConfig, prev *Pool) (*Pool, error) {
	ncfg, err := cfg.normalize()
	if err != nil {
		return nil, fmt.Errorf("cannot build upstream pool %q: %w", cfg.Name, err)
	}
	p := &Pool{cfg: ncfg, checked: ncfg.HealthCheck != nil}
	p.resetHealthOnStart = prev != nil && prev.cfg.HealthCheck == nil && p.checked
	var old map[string]*targetState
	if prev != nil {
		old = make(map[string]*targetState, len(prev.targets))
		for _, t := range prev.targets {
			old[t.address] = t.s
		}
	}
	p.targets = make([]*Target, len(ncfg.Targets))
	for i, tc := range ncfg.Targets {
		// Building a pool changes no shared state: it may never be
		// published (a reload that fails further on), and the previous
		// pool's checker runs until this one is. A pool without checks
		// ignores the health bit instead (Target.Healthy); Start resets
		// it when checks come back after a spell without.
		s := old[tc.Address]
		if s == nil {
			s = newTargetState()
		}
		p.targets[i] = &Target{
			address:  tc.Address,
			weight:   tc.Weight,
			index:    i,
			maxConns: int64(ncfg.MaxConns),
			pool:     p,
			s:        s,
		}
	}
	p.picker = newPicker(ncfg.Algorithm, p.targets)
	if prev != nil && prev.cfg.RetryPercent == ncfg.RetryPercent && prev.cfg.RetryMinPerSecond == ncfg.RetryMinPerSecond {
		p.budget = prev.budget
	} else {
		p.budget = NewRetryBudget(ncfg.RetryPercent, ncfg.RetryMinPerSecond)
	}
	p.mu.Lock()
	p.refreshLocked(Now())
	p.mu.Unlock()
	return p, nil
}

// Name returns the upstream's name.
func (p *Pool) Name() string { return p.cfg.Name }

// Algorithm returns the normalised algorithm name.
func (p *Pool) Algorithm() string { return p.cfg.Algorithm }

// Config returns the normalised configuration (defaults filled in).
func (p *Pool) Config() PoolConfig { return p.cfg }

// AllUnreachable reports whether every target of the pool is Unreachable
// at now.
func (p *Pool) AllUnreachable(now, within int64) bool {
	for _, t := range p.targets {
		if !t.Unreachable(now, within) {
			return false
		}
	}
	return true
}

// Targets returns the pool's targets in configuration order. The slice is
// shared: do not modify it.
func (p *Pool) Targets() []*Target { return p.targets }

// RetryBudget returns the upstream's retry budget.
func (p *Pool) RetryBudget() *RetryBudget { return p.budget }

// Pick chooses a target for a request at now (Unix ns). hashKey is only
// used by consistent_hash (the caller's xxhash of the ip, consumer, header
// or cookie). Targets failing their health checks are never returned;
// ejected ones only in panic mode. A target at its max_conns is passed
// over while another has room; when all are full one is returned anyway,
// and its Acquire fails (503 overloaded). It returns nil when no target
// may be used. Lock-free and allocation-free.
func (p *Pool) Pick(hashKey uint64, now int64) *Target {
	return p.pick(hashKey, Filter{Now: now, IgnoreEjection: p.panicking(now)})
}

// PickExcluding is Pick for a retry: it avoids exclude when another target
// may be used, and returns exclude itself only when it is the sole option.
func (p *Pool) PickExcluding(hashKey uint64, now int64, exclude *Target) *Target {
	f := Filter{Now: now, IgnoreEjection: p.panicking(now), Exclude: exclude}
	if t := p.pick(hashKey, f); t != nil {
		return t
	}
	if exclude == nil {
		return nil
	}
	f.Exclude = nil
	return p.pick(hashKey, f)
}

func (p *Pool) pick(hashKey uint64, f Filter) *Target {
	if p.cfg.MaxConns > 0 {
		f.SkipFull = true
		if t := p.picker.Pick(hashKey, f); t != nil {
			return t
		}
		f.SkipFull = false
	}
	return p.picker.Pick(hashKey, f)
}

// Panicking reports whether the pool is in panic mode at now.
func (p *Pool) Panicking(now int64) bool { return p.panicking(now) }

// AvailableCount returns how many targets are healthy and not ejected.
func (p *Pool) AvailableCount(now int64) int {
	n := 0
	for _, t := range p.targets {
		if t.Available(now) {
			n++
		}
	}
	return n
}

func (p *Pool) panicking(now int64) bool {
	w := p.panicWord.Load()
	if now < int64(w&^panicBit) && p.panicGen.Load() == stateGen.Load() {
		return w&panicBit != 0
	}
	// An ejection expired: recompute, unless someone else is already
	// doing so (then the slightly stale answer is fine for this pick).
	if p.mu.TryLock() {
		p.refreshLocked(now)
		p.mu.Unlock()
		w = p.panicWord.Load()
	}
	return w&panicBit != 0
}

// refreshLocked recomputes the panic decision. Every change of health or
// ejection calls it after the change, under mu, so the stored word never
// lags a change; ejection expiry is covered by the validity time.
func (p *Pool) refreshLocked(now int64) {
	gen := stateGen.Load()
	avail, healthy := 0, 0
	until := int64(math.MaxInt64)
	for _, t := range p.targets {
		e := t.s.ejectedUntil.Load()
		ejected := now < e
		if ejected {
			until = min(until, e)
		}
		if t.Healthy() {
			healthy++
			if !ejected {
				avail++
			}
		}
	}
	w := uint64(until) &^ panicBit
	// Panic mode relaxes only passive ejection: when ejections leave fewer
	// than the threshold's share of the healthy targets, traffic spreads
	// over every healthy target again (a burst of errors from a shared
	// cause must not concentrate the load on a few). Targets failing their
	// active health checks stay out: SPEC §4 answers "no healthy target"
	// with 503, and sending to targets known to be down would be worse.
	if th := p.cfg.PanicThreshold; th > 0 && healthy > 0 && avail*100 < th*healthy {
		w |= panicBit
	}
	p.panicWord.Store(w)
	p.panicGen.Store(gen)
}

// refresh is refreshLocked for callers that do not hold mu.
func (p *Pool) refresh() {
	p.mu.Lock()
	p.refreshLocked(Now())
	p.mu.Unlock()
}

// eject runs when t reached the consecutive-failure threshold. It never
// ejects more than half the pool (rounded down, so a one-target pool is
// never ejected); when it refuses, the failure count restarts so the
// refusal is not retried on every further failure.
func (p *Pool) eject(t *Target, now int64) {
	o := p.cfg.Outlier
	p.mu.Lock()
	s := t.s
	if now < s.ejectedUntil.Load() {
		p.mu.Unlock()
		return
	}
	ejected := 0
	for _, x := range p.targets {
		if now < x.s.ejectedUntil.Load() {
			ejected++
		}
	}
	s.consecFails.Store(0)
	if (ejected+1)*2 > len(p.targets) {
		p.mu.Unlock()
		return
	}
	d, streak := s.ejectionDuration(now, o.BaseEjection, o.MaxEjection)
	s.ejections.Store(streak)
	s.ejectTotal.Add(1)
	s.lastEjection.Store(int64(d))
	s.ejectedUntil.Store(now + int64(d))
	stateGen.Add(1)
	p.refreshLocked(now)
	p.mu.Unlock()
	if p.cfg.OnEject != nil {
		p.cfg.OnEject(t, d)
	}
}

// Start begins active health checks, if configured, until ctx ends or
// Stop is called. Checks run on the pool's own goroutines (one scheduler
// and up to 4 workers), never on the caller's. Calling Start again before
// Stop does nothing, even after ctx ended; Stop then Start restarts.
func (p *Pool) Start(ctx context.Context) {
	if p.cfg.HealthCheck == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.checker != nil {
		return
	}
	if p.resetHealthOnStart {
		p.resetHealthOnStart = false
		for _, t := range p.targets {
			t.s.healthy.Store(true)
		}
		stateGen.Add(1)
	}
	p.checker = startChecker(ctx, p)
}

// Stop ends active health checks and waits for in-progress checks to
// finish. The pool stays usable for picks.
func (p *Pool) Stop() {
	p.mu.Lock()
	c := p.checker
	p.checker = nil
	p.mu.Unlock()
	if c != nil {
		c.stop()
	}
}

// TargetSnapshot is one target's state for the admin /upstreams answer.
type TargetSnapshot struct {
	Address             string     `json:"address"`
	Weight              int        `json:"weight"`
	Healthy             bool       `json:"healthy"`
	Ejected             bool       `json:"ejected"`
	EjectedUntil        *time.Time `json:"ejected_until,omitempty"`
	Available           bool       `json:"available"`
	InFlight            int64      `json:"in_flight"`
	MaxConns            int        `json:"max_conns"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	EjectionsTotal      int64      `json:"ejections_total"`
	LastCheck           *time.Time `json:"last_check,omitempty"`
	LastCheckError      string     `json:"last_check_error,omitempty"`
}

// PoolSnapshot is one upstream's state for the admin /upstreams answer.
type PoolSnapshot struct {
	Name         string           `json:"name"`
	Algorithm    string           `json:"algorithm"`
	HealthChecks bool             `json:"health_checks"`
	Available    int              `json:"available"`
	Panic        bool             `json:"panic"`
	Targets      []TargetSnapshot `json:"targets"`
}

// Snapshot returns the pool's current state, for JSON encoding. It
// allocates; it is meant for the admin listener, not the hot path.
func (p *Pool) Snapshot() PoolSnapshot {
	ns := Now()
	ps := PoolSnapshot{
		Name:         p.cfg.Name,
		Algorithm:    p.cfg.Algorithm,
		HealthChecks: p.cfg.HealthCheck != nil,
		Available:    p.AvailableCount(ns),
		Panic:        p.panicking(ns),
		Targets:      make([]TargetSnapshot, len(p.targets)),
	}
	for i, t := range p.targets {
		ts := TargetSnapshot{
			Address:             t.address,
			Weight:              t.weight,
			Healthy:             t.Healthy(),
			Ejected:             t.Ejected(ns),
			Available:           t.Available(ns),
			InFlight:            t.InFlight(),
			MaxConns:            int(t.maxConns),
			ConsecutiveFailures: t.ConsecutiveFailures(),
			EjectionsTotal:      t.Ejections(),
		}
		if ts.Ejected {
			u := WallAt(t.s.ejectedUntil.Load()).UTC()
			ts.EjectedUntil = &u
		}
		if lc := t.s.lastCheck.Load(); lc != 0 {
			c := WallAt(lc).UTC()
			ts.LastCheck = &c
		}
		if e := t.s.lastError.Load(); e != nil {
			ts.LastCheckError = *e
		}
		ps.Targets[i] = ts
	}
	return ps
}
