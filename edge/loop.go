package edge

import (
	"context"
	"math"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/portico-gw/portico/balancer"
	"github.com/portico-gw/portico/edge/h2"
	"github.com/portico-gw/portico/edge/timewheel"
	edgetls "github.com/portico-gw/portico/tls"
)

// tickInterval is the resolution of each loop's timer wheel: a timeout
// fires within a tick or so of its deadline. Header and idle timeouts are
// seconds long, but a route timeout of 100 ms is a real setting, and a 504
// 40 ms late is within what a client expects where 100 ms late (with 50 ms
// ticks) was not. The loop is woken only when a timer is due (drive), so
// the finer tick costs an idle loop nothing.
const tickInterval = 20 * time.Millisecond

// loop is the state one gnet event loop owns: its timer wheel, its upstream
// keep-alive pools and its client connections. Only that loop's goroutine
// touches it (the driver goroutine only enqueues ticks via Execute).
type loop struct {
	s     *Server
	el    gnet.EventLoop
	wheel *timewheel.Wheel
	pools map[poolKey]*hostPool
	// poolSweep drops the pools of targets the live snapshot no longer
	// has (poolSweeper), armed while there are pools.
	poolSweep timewheel.Timer
	clients   map[*clientConn]struct{}
	scratch   []byte // reused to build heads; never retained across calls
	// plainScratch receives the plaintext a callback decrypts; plainHolder
	// is the plainBuf using it until its settle (see plainBuf).
	plainScratch []byte
	plainHolder  *plainBuf
	tlsOut       []byte // records being sealed, sent before the next seal (see seal)
	tlsIn        []byte // ciphertext fed to a TLS session until it is decrypted (FeedInto)
	addrBuf      []byte
	date         []byte // IMF-fixdate of dateSec, for the Date of responses Portico makes
	dateSec      int64

	dirtyClients []*clientConn // connections with coalesced writes to flush
	dirtyUps     []*upConn
	dirtyH2      []*h2Conn
	spareUps     []*upConn // the other half of each dirty list (see flushDirty)
	spareClients []*clientConn
	spareH2      []*h2Conn
	flushing     bool

	h2Deferred    []*h2Conn // HTTP/2 connections to flush after this epoll round
	h2Spare       []*h2Conn
	h2FlushQueued bool
	h2FlushFn     gnet.Runnable
	stalledH2     []*h2Conn // HTTP/2 connections whose socket queue is full
	h2conns       map[*h2Conn]struct{}
	handshakes    *edgetls.HandshakeLimiter // caps this loop's TLS handshake goroutines

	compressors compressors // response encoders, reused across responses

	retryCopyBytes int      // retry body copies reserved (retrybody.go)
	retryCopies    [][]byte // emptied copies kept for reuse

	clock      time.Time // the current callback's time, read once (see now)
	clockValid bool

	epfd          int // the loop's epoll fd (0: not looked up yet, -1: unavailable)
	pausedUp      []*upConn
	pausedClients []*clientConn
	pausedN       atomic.Int32 // read by the driver goroutine to tick faster
	stalledN      atomic.Int32
	// wakeAt is when the driver next ticks the loop (unix ns): the next
	// timer's tick, or sooner while connections are paused. kick tells the
	// driver the plan changed.
	wakeAt atomic.Int64
	kick   chan struct{}
	// lingering: client sockets closed by us with output still queued in
	// gnet, by when they are closed anyway (closeWhenSent).
	lingering map[gnet.Conn]*linger
	tickFn    gnet.Runnable
}

func newLoop(s *Server, el gnet.EventLoop) *loop {
	lp := &loop{
		s:          s,
		el:         el,
		wheel:      timewheel.New(tickInterval, 512),
		pools:      make(map[poolKey]*hostPool),
		clients:    make(map[*clientConn]struct{}),
		h2conns:    make(map[*h2Conn]struct{}),
		handshakes: edgetls.NewHandshakeLimiter(edgetls.HandshakeLimits{}),
		scratch:    make([]byte, 0, 8192),
		kick:       make(chan struct{}, 1),
	}
	lp.wakeAt.Store(math.MaxInt64)
	lp.plainScratch = make([]byte, 0, plainScratchSize)
	lp.tlsOut = make([]byte, 0, 80<<10)
	lp.tlsIn = make([]byte, 0, 128<<10)
	lp.h2FlushFn = gnet.RunnableFunc(func(context.Context) error {
		lp.enter()
		lp.flushDeferredH2()
		return nil
	})
	lp.tickFn = gnet.RunnableFunc(func(context.Context) error { // flushes in tick
		lp.enter()
		lp.tick()
		return nil
	})
	return lp
}

// pausedTick is how often paused connections are checked for resumption: at
// 1 MiB high water it still lets a fast reader pull 500 MiB/s.
const pausedTick = 2 * time.Millisecond

// drive enqueues a tick on the loop when it is due (wakeAt) until the
// server stops. A loop with nothing timed is not woken at all: each
// wake-up of an idle loop costs far more than its tick (the runtime's
// sysmon takes the loop's P back from the blocked epoll_wait and spins
// for a while after), about 1% of a core per 10 wake-ups a second here.
func (lp *loop) drive(stop <-chan struct{}) {
	t := time.NewTimer(tickInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-lp.kick: // a new plan: sleep until it
		case <-t.C:
			// Until the tick plans anew (it stores wakeAt and kicks).
			lp.wakeAt.Store(balancer.Now() + int64(tickInterval))
			if lp.el.Execute(context.Background(), lp.tickFn) != nil {
				return
			}
		}
		d := time.Duration(lp.wakeAt.Load() - balancer.Now())
		t.Reset(min(max(d, 0), maxDriveSleep)) // Go 1.23+: no stale tick survives Reset
	}
}

// maxDriveSleep bounds a loop's sleep with nothing timed, as a safety net.
const maxDriveSleep = time.Minute

// wakeBy asks the driver to tick the loop by at (unix ns) if it planned to
// sleep longer. Safe from any goroutine.
func (lp *loop) wakeBy(at int64) {
	for {
		cur := lp.wakeAt.Load()
		if at >= cur {
			return
		}
		if lp.wakeAt.CompareAndSwap(cur, at) {
			break
		}
	}
	lp.kickDriver()
}

// kickDriver tells the driver that wakeAt changed; a pending kick says it
// already.
func (lp *loop) kickDriver() {
	select {
	case lp.kick <- struct{}{}:
	default:
	}
}

// planWake sets when the driver next ticks: soon while connections are
// paused (their resumption is polled), else at the next timer's tick.
func (lp *loop) planWake(now int64) {
	at := lp.wheel.NextExpiry(wakeLookAhead)
	if lp.pausedN.Load() > 0 || lp.stalledN.Load() > 0 {
		at = min(at, now+int64(pausedTick))
	} else if lp.s.draining.Load() {
		at = min(at, now+int64(tickInterval))
	}
	lp.wakeAt.Store(at)
	lp.kickDriver()
}

// wakeLookAhead is how many wheel ticks planWake looks ahead (a loop whose
// timers are all further away wakes at the end of them to look again).
const wakeLookAhead = 256

// coalesceMax bounds the bytes gathered per connection before a write.
const coalesceMax = 32 << 10

// flushDirty writes what each connection gathered during this event. Every
// entry point into the loop's code (gnet callbacks, ticks, Execute'd tasks)
// ends with it. Upstreams first: a request leaves before the next response.
func (lp *loop) flushDirty() {
	// A flush can re-enter the loop's handlers (gnet closes a connection
	// synchronously when a write fails, and OnClose ends in flushDirty):
	// the outer call finishes the job, so inner calls return at once.
	if lp.flushing {
		return
	}
	lp.flushing = true
	for round := 0; round < 8 && len(lp.dirtyUps)+len(lp.dirtyClients)+len(lp.dirtyH2) > 0; round++ {
		// Swap each list out before walking it: flushes may queue more.
		ups := lp.dirtyUps
		lp.dirtyUps = lp.spareUps[:0]
		for i, uc := range ups {
			uc.flush()
			ups[i] = nil
		}
		lp.spareUps = ups[:0]
		clients := lp.dirtyClients // HTTP/2 streams write into their h2Conn here
		lp.dirtyClients = lp.spareClients[:0]
		for i, cc := range clients {
			cc.flush()
			clients[i] = nil
		}
		lp.spareClients = clients[:0]
		conns := lp.dirtyH2
		lp.dirtyH2 = lp.spareH2[:0]
		for i, h := range conns {
			h.flush()
			conns[i] = nil
		}
		lp.spareH2 = conns[:0]
	}
	lp.flushing = false
	lp.clockValid = false // the callback ends here: the next one reads the clock again
}

// now is the time of the current loop callback. Every step of a request
// that one callback runs (its start, the upstream start, its timers, the
// end of the previous exchange) happens within microseconds, so one clock
// read serves them all instead of one vDSO call each (about 2% of the
// CPU per request at 8 reads). Every entry point into the loop's code
// calls enter, and flushDirty, which ends each of them, resets it too.
func (lp *loop) now() time.Time {
	if !lp.clockValid {
		lp.clock, lp.clockValid = time.Now(), true
	}
	return lp.clock
}

// nanos is now on the interval clock (balancer.NanosAt): what timers,
// rate limits, ejections and every other interval are measured on, which a
// step of the wall clock cannot move. now itself stays wall time, for
// Date and the access log.
func (lp *loop) nanos() int64 { return balancer.NanosAt(lp.now()) }

// readClock reads the clock anew for the rest of the callback: for a
// duration that began in this same callback.
func (lp *loop) readClock() time.Time {
	lp.clock, lp.clockValid = time.Now(), true
	return lp.clock
}

// enter marks the start of a loop callback.
func (lp *loop) enter() { lp.clockValid = false }

// deferH2 schedules h's flush as a loop task. gnet runs queued tasks after
// it has dispatched every event of the current epoll round, so whatever
// streams complete in that round share one flush.
func (lp *loop) deferH2(h *h2Conn) {
	lp.h2Deferred = append(lp.h2Deferred, h)
	if !lp.h2FlushQueued {
		lp.h2FlushQueued = true
		if lp.el.Execute(context.Background(), lp.h2FlushFn) != nil {
			lp.flushDeferredH2() // the engine is stopping: flush now
		}
	}
}

// runTask runs fn on the loop, as a callback of its own (fresh clock,
// writes flushed after). Safe from any goroutine. When the engine is
// stopping the task is dropped; what waits on it has its own timer.
func (lp *loop) runTask(fn func()) {
	_ = lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		lp.enter()
		fn()
		lp.flushDirty()
		return nil
	}))
}

func (lp *loop) flushDeferredH2() {
	lp.h2FlushQueued = false
	for round := 0; round < 8 && len(lp.h2Deferred) > 0; round++ {
		conns := lp.h2Deferred
		lp.h2Deferred = lp.h2Spare[:0]
		for i, h := range conns {
			h.flush() // may re-defer h (OnWritable produced more)
			conns[i] = nil
		}
		lp.h2Spare = conns[:0]
		lp.flushDirty()
	}
}

func (lp *loop) tick() {
	defer lp.flushDirty()
	now := lp.nanos()
	lp.wheel.Advance(now)
	lp.resumePaused()
	if lp.s.draining.Load() {
		lp.closeIdleClients(true)
	}
	lp.planWake(now)
}

// closeWhenSent closes a client socket once what is queued for it has
// reached the client. gnet's own close writes only what the kernel takes
// at once and drops the rest, which cut large answers to slow readers (a
// body delimited by the close even looked complete); and closing with the
// kernel's queue still full lets any byte the client sends meanwhile turn
// the close into a reset that discards that queue. So, as nginx's
// lingering close does: wait until gnet's queue is empty, shut the write
// side (the FIN follows the queued bytes), keep reading and discarding,
// and let the client's own close end it. A client that takes nothing for
// limit is cut with a reset, so the cut is not mistaken for the end of a
// body.
func (lp *loop) closeWhenSent(c gnet.Conn, limit time.Duration) {
	if lp.lingering == nil {
		lp.lingering = make(map[gnet.Conn]*linger)
	}
	if _, ok := lp.lingering[c]; ok {
		return
	}
	limit = max(limit, time.Second)
	now := lp.nanos()
	l := &linger{lp: lp, c: c, limit: int64(limit), deadline: now + int64(limit), left: -1, queued: -1,
		pace: tickInterval, lookEvery: lingerLookMin}
	l.timer.Init(l)
	lp.lingering[c] = l
	lp.lingerStep(l, now)
}

// lingerAfterSent bounds the wait for the client's close once everything
// reached it (nginx's lingering_timeout is 5 s too).
const lingerAfterSent = 5 * time.Second

// lingerLookMin is how soon after a change the kernel's queue (a system
// call) is looked at again; a queue that stands still is looked at ever
// more rarely, up to a quarter of the socket's limit.
const lingerLookMin = time.Second

// lingerPaceMax bounds the wait between looks at gnet's queue (no system
// call) while it is not empty: the FIN follows the last byte by at most
// this much, and for a body delimited by the close that FIN is its end.
const lingerPaceMax = 100 * time.Millisecond

// linger is a closing socket's progress (closeWhenSent). Each has its own
// timer, so a loop with thousands of closing sockets (slow readers, or
// clients that never read) visits only those due, not all of them every
// tick.
type linger struct {
	timer     timewheel.Timer
	lp        *loop
	c         gnet.Conn
	limit     int64         // ns without progress before the cut
	deadline  int64         // unix ns
	left      int           // bytes queued (gnet's and the kernel's) at the last look
	queued    int           // gnet's queue at the last step
	pace      time.Duration // until the next step while gnet's queue is not empty
	lookEvery time.Duration // between looks at the kernel's queue
	nextLook  int64         // unix ns of the next look at the kernel's queue
	shut      bool          // the write side is shut: waiting for the client's close
	lastInput int64         // unix ns the client last sent something (lingerInput)
}

// freshGrace is how long a drain or a retired listener leaves a connection
// that has not sent its first request yet.
const freshGrace = time.Second

// lingerQuiet is how long a closing socket's client must have sent nothing
// before a drain closes it without waiting for its close.
const lingerQuiet = 500 * time.Millisecond

// lingerInput notes that a closing socket's client is still sending.
func (lp *loop) lingerInput(c gnet.Conn) {
	if l := lp.lingering[c]; l != nil {
		l.lastInput = lp.nanos()
	}
}

func (l *linger) OnTimer(_ *timewheel.Timer, now int64) { l.lp.lingerStep(l, now) }

// lingerStep moves one closing socket on: shut it once gnet's queue is
// empty, extend its deadline while its queues shrink, cut it when none
// moved for the limit. gnet's queue is read without a system call, so it
// is looked at each tick while it moves (the FIN ends a close-delimited
// body: it should follow the last byte closely), ever more rarely while
// it stands still.
func (lp *loop) lingerStep(l *linger, now int64) {
	c := l.c
	queued := c.OutboundBuffered()
	if queued == 0 && !l.shut {
		l.shut = true
		if err := unix.Shutdown(c.Fd(), unix.SHUT_WR); err != nil {
			lp.dropLingering(c)
			_ = c.Close()
			return
		}
	}
	if queued != l.queued {
		l.pace = tickInterval
	} else {
		l.pace = min(2*l.pace, lingerPaceMax)
	}
	l.queued = queued
	if now >= l.nextLook || now >= l.deadline {
		left := queued + kernelSendQueue(c)
		if l.left < 0 || left < l.left {
			l.left, l.deadline = left, now+l.limit // progress
			l.lookEvery = lingerLookMin
		} else {
			l.lookEvery = min(2*l.lookEvery, time.Duration(l.limit/4))
		}
		l.nextLook = now + int64(l.lookEvery)
		if l.shut && left == 0 {
			// All of it reached the client: its close should follow; a
			// client that keeps its half open gets lingerAfterSent.
			l.deadline = min(l.deadline, now+int64(lingerAfterSent))
		}
		if now >= l.deadline {
			lp.dropLingering(c)
			if left > 0 {
				// Cut short: a reset, not a FIN that would read as the end.
				_ = unix.SetsockoptLinger(c.Fd(), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
			}
			_ = c.Close()
			return
		}
	}
	next := time.Duration(min(l.nextLook, l.deadline) - now)
	if !l.shut {
		next = min(next, l.pace)
	}
	lp.scheduleAt(&l.timer, max(next, 0), now)
}

// dropLingering forgets a socket that is closed or closing for good.
func (lp *loop) dropLingering(c gnet.Conn) {
	if len(lp.lingering) == 0 {
		return
	}
	if l := lp.lingering[c]; l != nil {
		lp.wheel.Stop(&l.timer)
		delete(lp.lingering, c)
	}
}

// lingers reports whether c is closing (closeWhenSent): what it receives
// is read and dropped.
func (lp *loop) lingers(c gnet.Conn) bool {
	if len(lp.lingering) == 0 {
		return false
	}
	_, ok := lp.lingering[c]
	return ok
}

func (lp *loop) schedule(t *timewheel.Timer, d time.Duration) {
	lp.scheduleAt(t, d, lp.nanos())
}

func (lp *loop) scheduleAt(t *timewheel.Timer, d time.Duration, now int64) {
	lp.wheel.Schedule(t, d, now)
	lp.wakeBy(t.FiresAt())
}

// expireDrain runs when drain_timeout has passed with exchanges still
// open, just before every connection is closed: an exchange with no
// answer begun gets a 503 it can act on (retry elsewhere) instead of a
// bare close; one whose answer is under way can only be cut, and its log
// line says why.
func (lp *loop) expireDrain() {
	var open []*clientConn
	for cc := range lp.clients {
		open = append(open, cc)
	}
	var streams []*h2.Stream
	for h := range lp.h2conns {
		streams = h.sc.DeliveredStreams(streams)
	}
	for _, s := range streams {
		if cc, ok := s.Data.(*clientConn); ok {
			open = append(open, cc)
		}
	}
	for _, cc := range open {
		switch cc.state {
		case stateBody, stateAwait, stateKeyWait, stateBodyWait:
		default:
			continue
		}
		if cc.closed {
			continue
		}
		// Let go of the upstream first, so its close (in any order with
		// the client's) is not reported as the upstream's failure.
		cc.abortUpstream()
		if cc.respBegun {
			cc.errCode = codeDrainTimeout // cut: the close says the rest
			continue
		}
		cc.respondError(errShuttingDown, true)
	}
	lp.flushDirty()
	lp.flushDeferredH2()
}

// outputQueued reports whether one of the loop's client connections has
// bytes queued for its client.
func (lp *loop) outputQueued() bool {
	for cc := range lp.clients {
		if !cc.closed && cc.gc.OutboundBuffered() > 0 {
			return true
		}
	}
	for h := range lp.h2conns {
		// A 503 queued behind another stream's download may wait for the
		// connection window too, not only for the socket.
		if !h.closed && (len(h.sc.Output()) > 0 || h.gc.OutboundBuffered() > 0 || h.sc.WaitingForWindow()) {
			return true
		}
	}
	return false
}

// codeDrainTimeout is logged for an exchange cut by the end of a drain.
const codeDrainTimeout = "drain_timeout"

// closeIdleClients closes connections that sit between requests and moves
// HTTP/2 connections towards their final GOAWAY: all of them while
// draining, else those of retired listeners, so keep-alive clients
// reconnect elsewhere.
func (lp *loop) closeIdleClients(all bool) {
	now := lp.now()
	for cc := range lp.clients {
		if !all && !cc.bl.retired.Load() || cc.state != stateIdle || cc.gc.InboundBuffered() != 0 {
			continue
		}
		// A connection that has not had its first exchange yet gets
		// freshGrace from its accept: its request (or the rest of its TLS
		// handshake) may be on its way, and closing it would drop a
		// connection accepted to be used. One exchange, answered with
		// Connection: close, then the close; a silent one (a browser's
		// preconnect) is closed after the grace.
		if cc.served == 0 && now.Sub(cc.start) < freshGrace {
			continue
		}
		cc.closeNow()
	}
	for h := range lp.h2conns {
		if all || h.bl.retired.Load() {
			h.drain()
		}
	}
	if all {
		// A closing socket whose bytes have all reached the client (none
		// queued here, none unacknowledged in the kernel) and whose client
		// has gone quiet has nothing left to lose: waiting for its close,
		// as lingering does (lingerAfterSent), would hold the process's
		// exit for a client that keeps an idle connection open. A client
		// still sending (an upload refused with 413) keeps its lingering:
		// closing under its bytes would reset the connection.
		for c, l := range lp.lingering {
			if l.shut && balancer.NanosAt(now)-l.lastInput >= int64(lingerQuiet) && c.OutboundBuffered() == 0 && kernelSendQueue(c) == 0 {
				lp.dropLingering(c)
				_ = c.Close()
			}
		}
	}
	lp.flushDirty()
}

func (lp *loop) pool(u *upstreamRT, addr string) *hostPool {
	key := poolKey{upstream: u.name, addr: addr}
	hp := lp.pools[key]
	if hp == nil {
		if len(lp.pools) == 0 {
			lp.poolSweep.Init(poolSweeper{lp})
			lp.schedule(&lp.poolSweep, poolSweepEvery)
		}
		hp = &hostPool{lp: lp, addr: addr}
		at, _ := lp.s.quickClosers.LoadOrStore(addr, new(atomic.Int64))
		hp.quickCloseAt = at.(*atomic.Int64)
		hp.sweep.Init(hp)
		lp.pools[key] = hp
	}
	hp.maxIdle = u.maxIdle
	hp.connectTimeout = u.connectTimeout
	if cfg := u.tlsConfigs[addr]; cfg != hp.tlsCfg && u.gen >= hp.tlsGen {
		// A reload changed the upstream's TLS settings (or turned TLS on
		// or off): connections made under the old ones are not reused. A
		// request still running on an older snapshot does not turn the
		// pool back (it dials with the current settings).
		hp.tlsCfg, hp.tlsGen = cfg, u.gen
		hp.closeIdle()
	}
	return hp
}

// poolSweepEvery is how often a loop looks for keep-alive pools of
// targets that no upstream has any more (a reload removed them): their
// idle connections are closed and the pools dropped, so that with targets
// that come and go (pod addresses) pools do not pile up for the life of
// the process, and a removed target is not held open for
// upstreamIdleTimeout. A connection still serving a request finishes
// there, then idles out.
const poolSweepEvery = 5 * time.Second

type poolSweeper struct{ lp *loop }

func (ps poolSweeper) OnTimer(*timewheel.Timer, int64) {
	lp := ps.lp
	snap := lp.s.snap.Load()
	for key, hp := range lp.pools {
		if u := snap.upstreams[key.upstream]; u == nil || !u.addrs[key.addr] {
			lp.wheel.Stop(&hp.sweep)
			hp.closeIdle()
			delete(lp.pools, key)
		}
	}
	if len(lp.pools) > 0 {
		lp.schedule(&lp.poolSweep, poolSweepEvery)
	}
}

// poolKey names a loop's keep-alive pool: per upstream and target, since two
// upstreams may reach one address with different TLS settings.
type poolKey struct{ upstream, addr string }

// httpDate is the current time as an HTTP Date value (RFC 9110 §5.6.7),
// formatted at most once a second per loop.
func (lp *loop) httpDate() []byte {
	now := lp.now()
	if sec := now.Unix(); sec != lp.dateSec || lp.date == nil {
		lp.dateSec = sec
		lp.date = now.UTC().AppendFormat(lp.date[:0], "Mon, 02 Jan 2006 15:04:05 GMT")
	}
	return lp.date
}
