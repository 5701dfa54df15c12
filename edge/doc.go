// Package edge owns Portico's data path: the gnet event-loop handler, the
// HTTP/1.1 connection state machines on both sides (client and upstream),
// the request pipeline (normalise, route, rewrite, pick, proxy), per-loop
// upstream keep-alive pools, per-loop timers, the compiled config snapshot,
// reload and drain, metrics, access logging and the admin listener wiring.
//
// Ownership rule: everything reachable from a connection (its buffers, its
// upstream connection, its timers) is owned by the event loop that owns the
// connection and is touched only from that loop's goroutine. State shared
// across loops (the config snapshot, balancer health, limiter buckets) is
// read through atomics.
//
// edge is the only package that imports gnet and x/net/http2.
package edge
