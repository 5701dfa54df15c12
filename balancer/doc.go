// Package balancer owns upstream pools: the targets of one upstream, the
// algorithms that pick a target per request, active HTTP health checks,
// passive outlier ejection, panic mode, per-target connection caps and the
// per-upstream retry budget.
//
// It only picks. Connections are owned by the caller: every gateway event
// loop keeps its own keep-alive pool per target (Target.Index can key a
// per-loop slice). Picks run on many loops at once, so everything a pick
// reads (health, ejection, in-flight counts) is an atomic, and every Pick is
// lock-free and allocates nothing. The slow paths (health flips, ejection
// decisions, reloads) may take the pool's mutex.
//
// The caller's duties per request:
//
//	t := pool.Pick(hashKey, now)          // nil => 503 unavailable
//	if !t.Acquire() { /* 503: max_conns reached */ }
//	... proxy ...
//	t.ReportSuccess() or t.ReportFailure(now)   // connect error, reset, 5xx
//	t.Release()                            // exactly once per successful Acquire
//
// Times ("now") are read from this package's interval clock (Now, or
// NanosAt of a loop-cached time.Now), which a step of the wall clock
// cannot move. See README.md for the operator-facing description of the
// algorithms, thresholds and defaults.
package balancer
