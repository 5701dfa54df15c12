package tls

import "sync/atomic"

// Default HandshakeLimits, per event loop.
const (
	DefaultMaxInFlight = 2
	DefaultMaxQueue    = 1024
)

// HandshakeLimits configures a HandshakeLimiter. Zero fields take the
// defaults.
type HandshakeLimits struct {
	// MaxInFlight caps handshakes computing at the same time (holding a
	// CPU slot). A handshake gives its slot back while it waits for the
	// peer's next flight, so a slow or stalled client costs a parked
	// goroutine, not a slot. Keeping this small (about one per loop) keeps
	// a handshake flood from crowding the loops' goroutines off the CPU.
	MaxInFlight int
	// MaxQueue caps handshakes waiting for a slot. Past
	// MaxInFlight+MaxQueue handshakes that want the CPU, Conn.Feed returns
	// ErrHandshakeRefused. Handshakes parked waiting for the peer are not
	// counted: a client that sends a ClientHello and goes silent must not
	// hold a place that a real client needs (slowloris); parked ones are
	// bounded by the listener's connection cap and the handshake timeout.
	MaxQueue int
}

// HandshakeLimiter bounds the handshake goroutines of one event loop (or of
// whatever group the owner chooses; it is safe for concurrent use). It
// outlives Server reloads: create one per loop and pass it to every
// NewConn on that loop.
type HandshakeLimiter struct {
	slots    chan struct{}
	capacity int64

	admitted     atomic.Int64 // in flight + queued: handshakes that want the CPU
	inFlight     atomic.Int64
	queued       atomic.Int64
	awaitingPeer atomic.Int64
	refused      atomic.Uint64
	completed    atomic.Uint64
	failed       atomic.Uint64
	timedOut     atomic.Uint64
}

// HandshakeStats is a snapshot of a HandshakeLimiter's gauges and counters,
// for metrics.
type HandshakeStats struct {
	InFlight     int64  // gauge: handshakes holding a CPU slot
	Queued       int64  // gauge: handshakes waiting for a CPU slot
	AwaitingPeer int64  // gauge: handshakes parked waiting for client bytes
	Refused      uint64 // counter: Feed returned ErrHandshakeRefused
	Completed    uint64 // counter: handshakes that succeeded
	Failed       uint64 // counter: handshakes that failed (timeouts included)
	TimedOut     uint64 // counter: of Failed, those that hit the timeout
}

// NewHandshakeLimiter returns a limiter with the given limits.
func NewHandshakeLimiter(l HandshakeLimits) *HandshakeLimiter {
	if l.MaxInFlight <= 0 {
		l.MaxInFlight = DefaultMaxInFlight
	}
	if l.MaxQueue < 0 {
		l.MaxQueue = 0
	} else if l.MaxQueue == 0 {
		l.MaxQueue = DefaultMaxQueue
	}
	return &HandshakeLimiter{
		slots:    make(chan struct{}, l.MaxInFlight),
		capacity: int64(l.MaxInFlight + l.MaxQueue),
	}
}

// Stats returns the current gauges and counters.
func (l *HandshakeLimiter) Stats() HandshakeStats {
	return HandshakeStats{
		InFlight:     l.inFlight.Load(),
		Queued:       l.queued.Load(),
		AwaitingPeer: l.awaitingPeer.Load(),
		Refused:      l.refused.Load(),
		Completed:    l.completed.Load(),
		Failed:       l.failed.Load(),
		TimedOut:     l.timedOut.Load(),
	}
}

// admit reserves room for one handshake or counts a refusal.
func (l *HandshakeLimiter) admit() bool {
	if l == nil {
		return true
	}
	if l.admitted.Add(1) > l.capacity {
		l.admitted.Add(-1)
		l.refused.Add(1)
		return false
	}
	return true
}

// acquire blocks until a CPU slot is free. Waiting is FIFO-ish (channel
// send order) and short: holders keep a slot only while computing.
func (l *HandshakeLimiter) acquire() {
	if l == nil {
		return
	}
	l.queued.Add(1)
	l.slots <- struct{}{}
	l.queued.Add(-1)
	l.inFlight.Add(1)
}

func (l *HandshakeLimiter) release() {
	if l == nil {
		return
	}
	l.inFlight.Add(-1)
	<-l.slots
}

// park/unpark bracket a wait for peer bytes, with the slot released and
// the handshake out of the admission count. Unparking may take the count
// past capacity for a moment: the handshake was admitted already, and
// its peer's bytes are here.
func (l *HandshakeLimiter) park() {
	if l == nil {
		return
	}
	l.release()
	l.admitted.Add(-1)
	l.awaitingPeer.Add(1)
}

func (l *HandshakeLimiter) unpark() {
	if l == nil {
		return
	}
	l.awaitingPeer.Add(-1)
	l.admitted.Add(1)
	l.acquire()
}

// countTimeout counts a handshake that hit its deadline: one admitted
// (finish), or one whose first record never came whole (Conn.TimeOut).
func (l *HandshakeLimiter) countTimeout() {
	if l == nil {
		return
	}
	l.failed.Add(1)
	l.timedOut.Add(1)
}

// finish ends an admitted handshake.
func (l *HandshakeLimiter) finish(err error) {
	if l == nil {
		return
	}
	l.admitted.Add(-1)
	switch {
	case err == nil:
		l.completed.Add(1)
	case err == ErrHandshakeTimeout:
		l.countTimeout()
	default:
		l.failed.Add(1)
	}
}
