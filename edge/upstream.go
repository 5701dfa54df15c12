package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/portico-gw/portico/balancer"
	"github.com/portico-gw/portico/edge/timewheel"
	"github.com/portico-gw/portico/parser"
	"github.com/portico-gw/portico/policy"
	edgetls "github.com/portico-gw/portico/tls"
)

// upstreamIdleTimeout closes pooled connections nobody used for this long,
// below the keep-alive timeout of common origins (nginx 75 s, Node 5 s is the
// outlier, handled by the reused-connection retry).
const upstreamIdleTimeout = 30 * time.Second

// maxResponseHead bounds an upstream response head; larger is a 502.
const maxResponseHead = 64 << 10

// hostPool is one loop's keep-alive pool for one target address. Loop-owned:
// no locks.
type hostPool struct {
	lp             *loop
	addr           string
	tlsCfg         *tls.Config // nil: plaintext upstream
	tlsGen         uint64      // snapshot generation tlsCfg came from
	idle           []*upConn   // oldest first; get takes the newest
	maxIdle        int
	connectTimeout time.Duration
	sweep          timewheel.Timer // trims idle beyond maxIdle
	lowIdle        int             // fewest idle connections since the sweep was armed
	quickCloseAt   *atomic.Int64   // when the target last closed a connection right after its answer (interval-clock ns; shared by the loops)
}

// An upstream that closes each connection right after its answer, without
// "Connection: close", makes every reuse a race its FIN may win. A request
// that can be sent again loses nothing (it is retried on a fresh
// connection); one whose body has left cannot be, so while the target has
// been seen doing this lately (quickCloseMemory) such requests take a new
// connection rather than an idle one.
const (
	quickClose       = 100 * time.Millisecond // idle this briefly before the peer closed
	quickCloseMemory = 10 * time.Second
)

// idleSweepDelay is how long the idle pool may exceed max_idle_conns before
// the surplus is closed. Under steady concurrency above the cap, a
// connection released now is taken again within microseconds; closing it at
// once would turn every request into a dial (seen with 256 clients over a
// cap of 64: 1.8x the CPU per request). The cap still bounds what stays
// open once load drops.
const idleSweepDelay = time.Second

// OnTimer closes idle connections beyond the cap that were not needed
// during the last interval. get takes the newest, so the lowIdle oldest
// ones sat untouched all along; closing only those keeps a pool whose idle
// count swings above the cap under steady load from being churned (every
// closed connection would come back as a dial, and a request behind a dial
// waits for it: at 256 clients over a cap of 64 that was the p99).
func (hp *hostPool) OnTimer(*timewheel.Timer, int64) {
	surplus := min(len(hp.idle)-hp.maxIdle, hp.lowIdle)
	for ; surplus > 0; surplus-- {
		uc := hp.idle[0]
		hp.idle = hp.idle[1:]
		hp.lp.wheel.Stop(&uc.timer)
		uc.discard()
	}
	if len(hp.idle) > hp.maxIdle {
		hp.lowIdle = len(hp.idle)
		hp.lp.schedule(&hp.sweep, idleSweepDelay)
	}
}

// closeIdle closes every idle connection of the pool.
func (hp *hostPool) closeIdle() {
	for _, uc := range hp.idle {
		hp.lp.wheel.Stop(&uc.timer)
		uc.discard()
	}
	clear(hp.idle)
	hp.idle = hp.idle[:0]
	hp.lowIdle = 0
}

// noteIdleLow records how low the idle list went since the sweep was armed.
func (hp *hostPool) noteIdleLow() {
	if len(hp.idle) < hp.lowIdle {
		hp.lowIdle = len(hp.idle)
	}
}

// upConn is one upstream connection. It is owned by the loop of the client
// that uses it (DESIGN.md principle 1: dialed off the loop, enrolled onto it).
type upConn struct {
	hp      *hostPool
	gc      gnet.Conn // nil while dialing
	cc      *clientConn
	pending []byte // written before the dial completed
	reused  bool
	dead    bool
	paused  bool          // reads switched off until the client drains (see pause.go)
	tls     *edgetls.Conn // upstream TLS session, handshaken by the dialer
	tlsCfg  *tls.Config   // what it was dialed with; another after a reload: not pooled
	plain   plainBuf      // decrypted response bytes not yet consumed
	wbuf    []byte
	gotData bool
	timer   timewheel.Timer
	idleAt  int64 // when it last went idle (unix ns)
	idleFor int64 // how long it had been idle when last reused (ns)
	// peerClosed: the upstream's TLS close_notify came; the TCP close
	// follows, and the connection must not be reused meanwhile.
	peerClosed bool
	// broken: its TLS session failed (a record that does not decrypt, or
	// one we cannot seal). It is dead for reuse, but its exchange still
	// ends in onClose as a reset would: 502, or an answer cut short.
	broken bool
	// answeredEarly: this exchange's answer began before its request body
	// was all sent; the connection is closed after it (readHead).
	answeredEarly bool
	// heldAfterHEAD: it answered HEAD with a length or chunking, so a
	// faulty upstream may still send the body; it sits out headHold before
	// the pool has it (release).
	heldAfterHEAD bool

	stallSince time.Time // paused: when its client last read (clientStalled)
	stallOut   int       // paused: the client's queued bytes then
	stallLook  time.Time // paused: when clientStalled last looked

	resp      parser.Response
	headDone  bool
	interim   int // 1xx responses of this exchange (bounded: maxInterim)
	bodyKind  int
	bodyLeft  int64
	dec       parser.ChunkedDecoder
	chunkOut  bool // re-encode to the client as chunked (close-delimited upstream body)
	respBytes int64
	trailers  []byte // the chunked body's trailer section, forwarded after the last chunk
}

// get returns an idle connection bound to cc, or starts dialing a new one.
func (hp *hostPool) get(cc *clientConn) *upConn {
	if !cc.resendable() {
		now := hp.lp.nanos()
		if at := hp.quickCloseAt.Load(); at != 0 && now-at < int64(quickCloseMemory) {
			// The target closes connections right after answering: only
			// one that outlived quickClose (and has no close pending) is
			// safe for a request that cannot be sent again.
			if uc := hp.takeSurvivor(now); uc != nil {
				uc.bind(cc, now)
				return uc
			}
			return hp.dialNew(cc)
		}
	}
	for n := len(hp.idle); n > 0; n = len(hp.idle) {
		uc := hp.idle[n-1]
		hp.idle = hp.idle[:n-1]
		hp.noteIdleLow()
		hp.lp.wheel.Stop(&uc.timer)
		if uc.dead {
			continue
		}
		if !cc.resendable() && uc.gc != nil && hp.lp.nanos()-uc.idleAt >= int64(peekAfterIdle) && peerGone(uc.gc.Fd()) {
			uc.discard()
			continue
		}
		uc.bind(cc, hp.lp.nanos())
		return uc
	}
	hp.lowIdle = 0 // nothing idle: whatever is released next was needed
	return hp.dialNew(cc)
}

// bind hands an idle connection to cc.
func (uc *upConn) bind(cc *clientConn, now int64) {
	uc.cc = cc
	uc.reused = true
	uc.idleFor = now - uc.idleAt
	uc.resetResponse()
}

// takeSurvivor removes and returns the newest idle connection that has
// been idle for quickClose or more and has no close pending, or nil.
func (hp *hostPool) takeSurvivor(now int64) *upConn {
	for i := len(hp.idle) - 1; i >= 0; i-- {
		uc := hp.idle[i]
		if uc.dead || uc.gc == nil || now-uc.idleAt < int64(quickClose) || peerGone(uc.gc.Fd()) {
			continue
		}
		hp.idle = append(hp.idle[:i], hp.idle[i+1:]...)
		hp.noteIdleLow()
		hp.lp.wheel.Stop(&uc.timer)
		return uc
	}
	return nil
}

// A request that could not be sent again if its connection failed before
// any answer (a body that has left, or a method that is not idempotent,
// which the upstream may have acted on before it closed: a POST charged
// twice) checks an idle connection for a pending close (peerGone) before
// taking it, when the connection sat idle for peekAfterIdle or more: one
// taken again sooner (under load, microseconds after its last answer) was
// not closed by an idle timeout, and an upstream that closes right after
// each answer is the quick-close case above; so the busy path makes no
// extra system call.
const peekAfterIdle = 500 * time.Millisecond

// peerGone reports whether an idle upstream connection was closed by its
// peer (or sent bytes nobody asked for) without the loop having seen it
// yet: one non-blocking peek.
func peerGone(fd int) bool {
	var b [1]byte
	_, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err != unix.EAGAIN
}

// dialNew starts a new connection for cc; requests written before it opens
// are queued.
func (hp *hostPool) dialNew(cc *clientConn) *upConn {
	uc := &upConn{hp: hp, cc: cc, tlsCfg: hp.tlsCfg}
	uc.timer.Init(uc)
	uc.resetResponse()
	go uc.dial(hp.lp, hp.addr, hp.connectTimeout)
	return uc
}

func (uc *upConn) resetResponse() {
	uc.headDone, uc.gotData, uc.chunkOut = false, false, false
	uc.interim = 0
	uc.bodyKind, uc.bodyLeft, uc.respBytes = bodyNone, 0, 0
	uc.trailers = uc.trailers[:0]
}

// dial runs off the loop (connect_timeout needs a blocking dial), then
// enrolls the socket onto the owning loop, which calls onOpen.
func (uc *upConn) dial(lp *loop, addr string, timeout time.Duration) {
	tlsCfg := uc.tlsCfg
	if timeout <= 0 {
		timeout = time.Second
	}
	deadline := time.Now().Add(timeout)
	var c net.Conn
	err := errFDLimit
	if lp.s.fd.takeUpstream(lp.s.clients.Load()) {
		d := net.Dialer{Deadline: deadline}
		if c, err = d.Dial("tcp", addr); err != nil {
			lp.s.fd.dropUpstream()
		}
	}
	inHandshake := false
	if err == nil && tlsCfg != nil {
		// The handshake runs here, off the loop, within what is left of
		// connect_timeout; the loop then only encrypts and decrypts records.
		uc.tls, err = edgetls.Client(c, tlsCfg, max(time.Until(deadline), time.Millisecond))
		if err != nil {
			inHandshake = true
			_ = c.Close()
			c = nil
			lp.s.fd.dropUpstream()
		}
	}
	if err == nil {
		var ch <-chan gnet.RegisteredResult
		ch, err = lp.el.Enroll(gnet.NewContext(context.Background(), uc), c)
		if err == nil {
			res := <-ch
			err = res.Err
		}
		_ = c.Close() // gnet holds a dup of the socket
		if err != nil {
			lp.s.fd.dropUpstream() // from here gnet's OnClose uncounts it
		}
	}
	if err != nil {
		// Out of descriptors (the guard's refusal, or the kernel's when
		// something uncounted took the reserve) says nothing about the
		// target: logged for the gateway, not against the target.
		local := err == errFDLimit || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
		if local {
			if warnDue(&lp.s.fd.warnedAt, balancer.Now()) {
				lp.s.log.Warn("upstream dial refused: the open-file limit is near", "target", addr, "error", err.Error(),
					"upstream_connections", lp.s.fd.upstreams.Load(), "next_warning_after", warnEvery.String())
			}
		} else {
			lp.s.logDialFailure(addr, inHandshake, err)
		}
		_ = lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			lp.enter()
			uc.onDialFailed(local)
			lp.flushDirty()
			return nil
		}))
	}
}

// warnEvery bounds how often one cause (a failing target, HTTP/2 connection
// errors) writes a warning to the log; the rest go to debug level.
const warnEvery = 10 * time.Second

// warnDue reports whether a warning paced by at may be written at now, and
// claims it.
func warnDue(at *atomic.Int64, now int64) bool {
	last := at.Load()
	return now-last >= int64(warnEvery) && at.CompareAndSwap(last, now)
}

// logDialFailure logs why a dial failed: at warning level at most once per
// target every warnEvery, at debug level otherwise. Runs on the
// dialing goroutine.
func (s *Server) logDialFailure(addr string, inHandshake bool, err error) {
	msg := "upstream connect failed"
	if inHandshake {
		msg = "upstream TLS handshake failed"
	}
	s.warnTarget(addr, false, msg, err)
}

// targetWarnings paces the warnings about one target.
type targetWarnings struct{ dial, answer atomic.Int64 }

// warnTarget logs msg about a target at warning level at most once every
// warnEvery per kind (a failed dial, an invalid answer), at debug level
// otherwise.
func (s *Server) warnTarget(addr string, answer bool, msg string, err error) {
	v, _ := s.targetWarnedAt.LoadOrStore(addr, new(targetWarnings))
	at := &v.(*targetWarnings).dial
	if answer {
		at = &v.(*targetWarnings).answer
	}
	if warnDue(at, balancer.Now()) {
		s.log.Warn(msg, "target", addr, "error", err.Error(), "next_warning_after", warnEvery.String())
		return
	}
	s.log.Debug(msg, "target", addr, "error", err.Error())
}

func (uc *upConn) onOpen(c gnet.Conn) {
	uc.gc = c
	if uc.dead {
		_ = c.Close()
		return
	}
	if uc.cc == nil { // client left while we dialed: keep it if there is room
		uc.release()
		return
	}
	if t := uc.cc.target; t != nil {
		t.ReportConnected()
	}
	if len(uc.pending) > 0 {
		uc.send(uc.pending)
		uc.pending = uc.pending[:0]
	}
	if uc.cc != nil && uc.cc.state == stateBody {
		uc.cc.process() // body bytes held back while dialing
	}
}

// onDialFailed ends a dial that failed. One the descriptor guard refused
// (local) says nothing about the target: 503, not counted against it, and
// not retried on another (the next dial would meet the same limit).
func (uc *upConn) onDialFailed(local bool) {
	uc.dead = true
	cc := uc.cc
	if cc == nil || cc.uc != uc {
		return
	}
	cc.uc = nil
	if local {
		uc.pending = nil
		cc.failUpstream(errDescriptorLimit)
		return
	}
	// Nothing left: the head and any body bytes read meanwhile are all
	// still here, for a retry on another target to send.
	cc.carry, uc.pending = uc.pending, nil
	cc.upstreamFailed(retryConnectFailure, errBadGateway)
}

// write sends b upstream, or queues it while the dial is in flight.
func (uc *upConn) write(b []byte) {
	if uc.dead {
		return
	}
	if uc.gc == nil {
		uc.pending = append(uc.pending, b...)
		return
	}
	if len(uc.wbuf)+len(b) > coalesceMax {
		uc.flush()
		if uc.dead {
			return // the flush found the connection gone
		}
		if len(b) > coalesceMax {
			uc.send(b)
			return
		}
	}
	if len(uc.wbuf) == 0 {
		uc.hp.lp.dirtyUps = append(uc.hp.lp.dirtyUps, uc)
	}
	uc.wbuf = append(uc.wbuf, b...)
}

func (uc *upConn) flush() {
	if len(uc.wbuf) > 0 && !uc.dead && uc.gc != nil {
		uc.send(uc.wbuf)
	}
	uc.wbuf = uc.wbuf[:0]
}

// discard abandons the connection: its message state is unknown.
func (uc *upConn) discard() {
	uc.dead = true
	uc.cc = nil
	if uc.gc != nil {
		_ = uc.gc.Close()
	}
}

// headHold is how long a connection that answered HEAD sits out before
// it is reused, when the same answer to GET would have had a body. An
// upstream that sends that body anyway (a HEAD routed to the GET handler
// of a server that does not strip it) sends it right after the head; if
// the connection were reused meanwhile, those bytes would be read as the
// next request's answer, and a body that is itself a crafted response
// would reach another client (HEAD response-queue poisoning). Bytes that
// come while it sits out close it (onTraffic). nginx and HAProxy reuse at
// once. The cost falls on HEAD-heavy clients: each HEAD answered in the
// last headHold holds a connection, so back-to-back HEADs dial (measured:
// 1,000 HEAD/s kept 122 upstream connections open instead of 1). 100 ms
// covers a body held back by the upstream's Nagle until our delayed ACK
// (40 ms) of the head.
const headHold = 100 * time.Millisecond

// release returns a clean connection to its pool, or closes it.
func (uc *upConn) release() {
	uc.cc = nil
	hp := uc.hp
	if uc.dead || uc.peerClosed || uc.answeredEarly || uc.gc == nil || hp.maxIdle <= 0 || hp.lp.s.draining.Load() || uc.tlsCfg != hp.tlsCfg ||
		uc.tls != nil && uc.tls.Buffered() > 0 { // in the middle of a record: not between answers
		uc.discard()
		return
	}
	if uc.heldAfterHEAD {
		uc.idleAt = hp.lp.nanos() // an upstream that closes now still counts as a quick closer
		hp.lp.schedule(&uc.timer, headHold)
		return // OnTimer releases it again
	}
	hp.idle = append(hp.idle, uc)
	uc.idleAt = hp.lp.nanos()
	hp.lp.schedule(&uc.timer, upstreamIdleTimeout)
	if len(hp.idle) > hp.maxIdle && !hp.sweep.Pending() {
		hp.lowIdle = len(hp.idle)
		hp.lp.schedule(&hp.sweep, idleSweepDelay)
	}
}

// OnTimer fires when a pooled connection sat idle for upstreamIdleTimeout,
// or when one held after a HEAD answer (headHold) may join the pool.
func (uc *upConn) OnTimer(*timewheel.Timer, int64) {
	if uc.cc != nil || uc.dead {
		return
	}
	if uc.heldAfterHEAD {
		uc.heldAfterHEAD = false
		uc.release()
		return
	}
	uc.removeIdle()
	uc.discard()
}

func (uc *upConn) removeIdle() {
	hp := uc.hp
	for i, x := range hp.idle {
		if x == uc {
			hp.idle = append(hp.idle[:i], hp.idle[i+1:]...)
			hp.noteIdleLow()
			return
		}
	}
}

func (uc *upConn) onClose(err error) {
	wasDead := uc.dead
	uc.dead = true
	uc.hp.lp.wheel.Stop(&uc.timer)
	cc := uc.cc
	uc.cc = nil
	if cc == nil {
		if !wasDead && uc.idleAt != 0 && uc.hp.lp.nanos()-uc.idleAt < int64(quickClose) {
			uc.hp.quickCloseAt.Store(uc.hp.lp.nanos())
		}
		uc.removeIdle()
		return
	}
	if (wasDead && !uc.broken) || cc.uc != uc {
		return
	}
	cc.uc = nil
	if uc.headDone && uc.bodyKind == bodyUntilClose && uc.closedCleanly(err) {
		uc.finishCloseDelimited(cc)
		return
	}
	if uc.headDone {
		uc.cutResponse(cc) // truncated
		return
	}
	if uc.reused && !uc.gotData && uc.idleFor < int64(quickClose) {
		// Closed as it was reused, right after its last answer: the
		// target's habit. (One idle for long was its idle timeout
		// meeting our reuse, a race any keep-alive upstream has.)
		uc.hp.quickCloseAt.Store(uc.hp.lp.nanos())
	}
	if uc.reused && !uc.gotData && cc.resendable() && !cc.staleRetried &&
		(cc.rt == nil || cc.rt.retryAttempts == 0 || cc.retriesLeft > 0) {
		// The classic keep-alive race: the upstream closed an idle
		// connection just as we reused it. An idempotent request is sent
		// again on a fresh connection to the same target, once, as Go's
		// and nginx's clients do. A route with retries pays for it with
		// one of its attempts, so the upstream never sees more than
		// attempts + 1 copies of a request.
		cc.staleRetried = true
		if cc.rt != nil && cc.rt.retryAttempts > 0 {
			cc.retriesLeft--
		}
		nu := uc.hp.dialNew(cc)
		cc.uc = nu
		nu.write(cc.headCopy)
		cc.resendBody(nu)
		return
	}
	cc.upstreamFailed(retryReset, errBadGateway)
}

// closedCleanly says whether the close that ends a close-delimited body
// marks it complete: an orderly FIN (or, over TLS, close_notify), not a
// reset, whose unsent data the upstream's kernel threw away. A TLS close
// without close_notify counts as orderly, as nginx, Go and curl take it:
// Python's ssl, among others, never sends one (RFC 9112 §9.8 would call
// such a body incomplete).
//
// The body is not whole either when bytes that came were never relayed
// (they die with the connection), or when the close came while reads
// were paused for a slow client: then no read saw the end, gnet closed on
// an error or hang-up event and reports it as io.EOF, and only the
// socket's pending error tells a reset from the rare orderly case.
func (uc *upConn) closedCleanly(err error) bool {
	if uc.broken || !(uc.peerClosed || err == nil || errors.Is(err, io.EOF)) {
		return false
	}
	if uc.plain.len() > 0 || (uc.gc != nil && uc.gc.InboundBuffered() > 0) {
		return false
	}
	if uc.paused && uc.gc != nil {
		if e, gerr := unix.GetsockoptInt(uc.gc.Fd(), unix.SOL_SOCKET, unix.SO_ERROR); gerr != nil || e != 0 {
			return false
		}
	}
	return true
}

func (uc *upConn) onTraffic() gnet.Action {
	if uc.cc == nil || uc.dead {
		// Unsolicited bytes on an idle connection (or one held after a
		// HEAD answer). Not marked dead: a TLS upstream's close begins
		// as bytes (close_notify), and onClose must still count a close
		// right after an answer as the target's habit (quickClose).
		return gnet.Close
	}
	if uc.paused {
		uc.hp.lp.setReadInterest(uc.gc, false) // gnet re-armed reads after a flush
		return gnet.None
	}
	if uc.tls == nil {
		uc.gotData = true // (TLS: when plaintext comes, readAndPump)
	}
	if !uc.readAndPump() {
		uc.dead, uc.broken = true, true // onClose ends the exchange
		return gnet.Close
	}
	if uc.dead {
		return gnet.Close
	}
	return gnet.None
}

// readAndPump decrypts what the socket holds, when the connection is TLS, and
// pumps it to the client. It reports false when the TLS session failed.
func (uc *upConn) readAndPump() bool {
	if uc.tls == nil {
		uc.pump()
		return true
	}
	ok, eof := uc.decrypt()
	if uc.plain.len() > 0 {
		// Only plaintext is an answer: a bare close_notify on a reused
		// connection is the keep-alive race (retried like a TCP close).
		uc.gotData = true
	}
	if eof {
		uc.peerClosed = true // never back to the pool, even if the answer ends in this pump
	}
	if ok {
		uc.pump()
	}
	uc.plain.settle() // the loop's plaintext scratch is free again
	if ok && uc.peerClosed && !uc.dead && uc.gc != nil && uc.plain.len() == 0 {
		// The upstream's close_notify, often in the same read as the end
		// of its answer: that answer was relayed above; the close then
		// ends it as a TCP close would (a close-delimited body, or a
		// connection that cannot be reused). While a paused pump still
		// holds plaintext, the close waits for the resume that relays it.
		_ = uc.gc.Close()
	}
	return ok
}

// pump relays whatever gnet has buffered for this connection, pausing when
// the client falls behind.
func (uc *upConn) pump() {
	cc := uc.cc
	for !uc.dead && uc.cc == cc && cc != nil {
		buf := uc.input()
		if len(buf) == 0 {
			return
		}
		if !uc.headDone {
			n, ok := uc.readHead(cc, buf)
			if !ok {
				return
			}
			uc.consumeInput(n)
			continue
		}
		n := uc.forwardBody(cc, buf)
		uc.consumeInput(n)
		if n == 0 {
			return
		}
		if uc.cc == cc && !cc.closed && cc.gc.OutboundBuffered() > highWater {
			uc.hp.lp.pauseUpstream(uc)
			return
		}
	}
}

// readHead parses the response head and writes the client's version of it.
func (uc *upConn) readHead(cc *clientConn, buf []byte) (int, bool) {
	uc.resp.Reset()
	n, err := parser.ParseResponse(buf, &uc.resp, maxResponseHead)
	if err == parser.ErrNeedMore {
		if len(buf) > maxResponseHead {
			err = parser.ErrNeedMore // fall through to the failure below
		} else {
			return 0, false
		}
	}
	if err != nil {
		if err == parser.ErrNeedMore {
			err = errAnswerHeadTooLarge
		}
		uc.hp.lp.s.warnTarget(uc.hp.addr, true, "upstream answer invalid", err)
		uc.badResponse(cc)
		return 0, false
	}
	st := uc.resp.Status
	if st >= 100 && st < 200 {
		if st == 101 { // Upgrade is hop-by-hop and never requested by us
			uc.abandon(cc)
			cc.failUpstream(errBadGateway)
			return 0, false
		}
		if uc.interim++; uc.interim > maxInterim {
			// An endless stream of 1xx would keep the exchange (and the
			// client) busy until the route timeout: answer 502 instead.
			uc.hp.lp.s.warnTarget(uc.hp.addr, true, "upstream answer invalid", errTooManyInterim)
			uc.badResponse(cc)
			return 0, false
		}
		switch {
		case st == 100:
			if cc.expect100 && !cc.http10 {
				cc.writeClient(cc.continueHead())
				cc.expect100 = false // once: a retry's target may send its own
				if cc.state == stateBody {
					cc.armBodyTimer() // the body is due now
				}
			}
		case !cc.http10: // 102, 103 …: a proxy forwards them (RFC 9110 §15.2), never to HTTP/1.0
			cc.writeClient(uc.buildInformationalHead(cc))
		}
		return n, true
	}
	rt := cc.rt
	if rt.retryOn&statusRetryMask(st) != 0 && cc.canRetry() && cc.retryBudgetOK() {
		// Drop this answer and try another target.
		uc.abandon(cc)
		cc.target.ReportFailure(balancer.Now())
		cc.retry()
		return 0, false
	}
	uc.headDone = true
	// An answer begun before the whole request body was sent (an early
	// 401 or 413, or an upstream answering as it reads): whether the
	// upstream reads the rest of the body or takes it for its next
	// request cannot be known, so the connection is not reused after
	// (as nginx does); a body a client sent whole never leaves it to
	// chance.
	uc.answeredEarly = !cc.reqDone
	cc.respBegun = true
	cc.dropBodyCopy() // nothing is resent once the answer has begun
	cc.status = st
	if st >= 500 {
		cc.target.ReportFailure(balancer.Now())
	} else {
		cc.target.ReportSuccess()
	}
	if cc.up != nil {
		cc.up.duration.Update(cc.lp.now().Sub(cc.upstreamStart).Seconds())
	}
	switch parser.ResponseBodyKind(cc.isHEAD, &uc.resp) {
	case parser.BodyNone:
		uc.bodyKind = bodyNone
	case parser.BodyContentLength:
		uc.bodyKind, uc.bodyLeft = bodyLength, uc.resp.ContentLength
		if uc.bodyLeft == 0 {
			uc.bodyKind = bodyNone
		}
	case parser.BodyChunked:
		uc.bodyKind = bodyChunked
		uc.dec.Reset()
		if !cc.http10 { // HTTP/1.0 has no trailers
			uc.dec.KeepTrailers(&uc.trailers)
		}
	default:
		uc.bodyKind = bodyUntilClose
	}
	if uc.bodyKind != bodyNone && cc.acceptEnc != encIdentity && compressible(&uc.resp, &cc.rt.respHeaders) {
		cc.z = cc.lp.compressors.take(cc.acceptEnc)
	}
	// The client's framing: a length is kept only when the bytes pass
	// unchanged; otherwise chunked, and HTTP/1.0, which has no chunked
	// coding (RFC 9112 §6.1), gets the body delimited by the close.
	if uc.bodyKind == bodyChunked || uc.bodyKind == bodyUntilClose || (uc.bodyKind == bodyLength && cc.z != nil) {
		uc.chunkOut = !cc.http10
		if cc.http10 {
			cc.keepAlive = false
		}
	}
	if !cc.reqDone {
		// The upstream answered before reading the whole body: the client's
		// remaining body cannot be skipped reliably, so close after this.
		cc.keepAlive = false
	}
	head := uc.buildClientHead(cc)
	cc.writeClient(head)
	cc.notePendingHead(len(head))
	if uc.bodyKind == bodyNone {
		if len(buf) > n {
			// Bytes after a bodiless response (a 204 or 304 with a body,
			// or a stray message) would be read as the next exchange's
			// answer: the connection is not reused.
			uc.dead = true
		}
		if cc.isHEAD {
			switch parser.ResponseBodyKind(false, &uc.resp) {
			case parser.BodyNone:
			case parser.BodyUntilClose:
				// An answer to HEAD with neither length nor chunking: the
				// same answer to GET would have run until the close, and
				// such an upstream tends to close right after this one
				// too. A request sent on the connection would race that
				// close, and one that cannot be resent would get a 502:
				// not reused.
				uc.dead = true
			default:
				// The answer to GET would have had a body: a faulty
				// upstream may still send it (see headHold).
				uc.heldAfterHEAD = true
			}
		}
		uc.responseDone(cc)
	}
	return n, true
}

// abandon retires uc from cc's exchange: it is never reused, and cc no
// longer reads from it.
func (uc *upConn) abandon(cc *clientConn) {
	uc.dead = true
	cc.uc = nil
	uc.cc = nil
}

// badResponse answers 502 for an upstream response that cannot be relayed
// (unparsable, or interim responses without end), counted against the
// target.
func (uc *upConn) badResponse(cc *clientConn) {
	uc.abandon(cc)
	cc.target.ReportFailure(balancer.Now())
	cc.failUpstream(errBadGateway)
}

// cutResponse ends an exchange whose response broke after its head (the
// upstream closed mid-body, or sent a bad chunk). A head still queued is
// taken back and the client gets a plain 502; one that has left can only
// be followed by a close, and the log keeps the status the client got,
// with bad_gateway as the reason.
func (uc *upConn) cutResponse(cc *clientConn) {
	if cc.retractHead() {
		uc.badResponse(cc)
		return
	}
	uc.abandon(cc)
	cc.target.ReportFailure(balancer.Now())
	cc.keepAlive = false
	cc.errCode = errBadGateway.code
	cc.finishRequest()
}

var (
	errAnswerHeadTooLarge = fmt.Errorf("response head over %d KiB", maxResponseHead>>10)
	errTooManyInterim     = fmt.Errorf("more than %d interim (1xx) responses", maxInterim)
)

// maxInterim bounds the informational responses forwarded for one
// exchange (Go's HTTP client stops after 5; 103 Early Hints come once or
// twice).
const maxInterim = 8

// continueHead is the 100 Continue Portico sends, with the request's id:
// SPEC §3 puts X-Request-Id on every response.
func (cc *clientConn) continueHead() []byte {
	b := append(cc.lp.scratch[:0], "HTTP/1.1 100 Continue\r\nX-Request-Id: "...)
	b = append(b, cc.reqID...)
	b = append(b, "\r\n\r\n"...)
	cc.lp.scratch = b[:0]
	return b
}

func statusRetryMask(st int) retryMask {
	switch st {
	case 502:
		return retry502
	case 503:
		return retry503
	case 504:
		return retry504
	}
	return 0
}

// buildInformationalHead is the client's copy of a 1xx head: the relayed
// status and fields, nothing of ours.
func (uc *upConn) buildInformationalHead(cc *clientConn) []byte {
	b := append(uc.appendRelayedHead(cc, cc.lp.scratch[:0]), "X-Request-Id: "...)
	b = append(b, cc.reqID...)
	b = append(b, "\r\n\r\n"...)
	cc.lp.scratch = b[:0]
	return b
}

// appendRelayedHead appends the upstream's status line and the fields that
// pass to the client: not hop-by-hop or named by Connection, not framing
// (we re-frame), not what Portico sets itself or the route removes.
func (uc *upConn) appendRelayedHead(cc *clientConn, b []byte) []byte {
	r := &uc.resp
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, ' ')
	b = append(b, r.Reason...)
	b = append(b, "\r\n"...)
	ops := &cc.rt.respHeaders
	hasConnection := parser.ConnectionNamesOthers(r.Fields)
	// The client gets an encoded body, or a 304 standing for one: its
	// validator is weak and its ranges are not offered.
	encoded := cc.z != nil || (len(cc.rt.compress) > 0 && cc.acceptEnc != encIdentity && notModifiedOfEncoded(r, ops))
	for i := range r.Fields {
		f := &r.Fields[i]
		if parser.IsHopByHop(f.Name) || parser.EqualFoldString(f.Name, "Content-Length") ||
			parser.EqualFoldString(f.Name, "X-Request-Id") || (hasConnection && parser.ConnectionLists(r.Fields, f.Name)) ||
			opsDrop(f.Name, ops) || (cc.hasLimit && hasPrefixFold(f.Name, "RateLimit-")) {
			continue
		}
		if encoded {
			switch {
			case parser.EqualFoldString(f.Name, "Accept-Ranges"):
				continue // ranges of the encoded body are not offered
			case parser.EqualFoldString(f.Name, "ETag") && !hasPrefixFold(f.Value, "W/"):
				// The encoded body differs byte for byte from what the
				// strong validator names (RFC 9110 §8.8.1).
				b = append(b, f.Name...)
				b = append(b, ": W/"...)
				b = append(b, f.Value...)
				b = append(b, "\r\n"...)
				continue
			}
		}
		b = append(b, f.Name...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}
	return b
}

func (uc *upConn) buildClientHead(cc *clientConn) []byte {
	r := &uc.resp
	ops := &cc.rt.respHeaders
	b := uc.appendRelayedHead(cc, cc.lp.scratch[:0])
	b = appendHeaderOps(b, ops)
	b = cc.appendRateLimitHeaders(b, cc.rt.respHeaders.ownRateLimit)
	if cc.z != nil {
		b = append(b, "Content-Encoding: "...)
		b = append(b, encodingNames[cc.z.enc]...)
		b = append(b, "\r\n"...)
		if !varyListsAcceptEncoding(r.Fields, ops) {
			b = append(b, "Vary: Accept-Encoding\r\n"...)
		}
	} else if len(cc.rt.compress) > 0 && (compressible(r, ops) || notModifiedOfEncoded(r, ops)) && !varyListsAcceptEncoding(r.Fields, ops) {
		// Sent as is only because of this request's Accept-Encoding: a
		// cache must not hand it to a client that accepts a coding
		// (RFC 9110 §12.5.5).
		b = append(b, "Vary: Accept-Encoding\r\n"...)
	}
	switch {
	case uc.chunkOut:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case (uc.bodyKind == bodyLength && cc.z == nil) || (uc.bodyKind == bodyNone && r.ContentLength >= 0 && r.Status != 204 && r.Status >= 200):
		b = append(b, "Content-Length: "...)
		b = appendInt(b, max(r.ContentLength, 0))
		b = append(b, "\r\n"...)
	}
	if _, ok := parser.Lookup(r.Fields, "Date"); !ok && !cc.rt.respHeaders.ownDate {
		// RFC 9110 §6.6.1: a recipient with a clock adds the Date an
		// origin left out (unless the route's response_headers give one).
		b = append(b, "Date: "...)
		b = append(b, cc.lp.httpDate()...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "X-Request-Id: "...)
	b = append(b, cc.reqID...)
	b = cc.appendConnectionHeader(b)
	b = append(b, "\r\n\r\n"...)
	cc.lp.scratch = b[:0]
	return b
}

// forwardBody relays response body bytes to the client; it returns how many
// input bytes it consumed.
func (uc *upConn) forwardBody(cc *clientConn, buf []byte) int {
	switch uc.bodyKind {
	case bodyLength:
		k := int64(len(buf))
		if k > uc.bodyLeft {
			k = uc.bodyLeft // anything beyond is a protocol error; the conn is not reused
		}
		uc.relay(cc, buf[:k])
		uc.bodyLeft -= k
		if uc.bodyLeft == 0 {
			if int64(len(buf)) > k {
				uc.dead = true
			}
			uc.endBody(cc)
			uc.responseDone(cc)
		} else {
			uc.flushEncoded(cc)
		}
		return int(k)
	case bodyChunked:
		total := 0
		for total < len(buf) {
			consumed, data, done, err := uc.dec.Decode(buf[total:])
			total += consumed
			if err != nil {
				uc.cutResponse(cc)
				return total
			}
			if len(data) > 0 {
				uc.relay(cc, data)
			}
			if done {
				if total < len(buf) || uc.tls != nil && uc.tls.Buffered() > 0 {
					// Bytes after the message, or part of a TLS record
					// after it: not reused.
					uc.dead = true
				}
				uc.endBody(cc)
				uc.responseDone(cc)
				return total
			}
			if consumed == 0 {
				break
			}
		}
		uc.flushEncoded(cc)
		return total
	case bodyUntilClose:
		uc.relay(cc, buf)
		uc.flushEncoded(cc)
		return len(buf)
	}
	return len(buf)
}

// relay passes decoded body bytes on: into the encoder, or to the client in
// its framing.
func (uc *upConn) relay(cc *clientConn, data []byte) {
	if cc.z != nil {
		cc.z.write(data)
		return
	}
	uc.frame(cc, data)
}

// frame writes body bytes to the client as one chunk, or bare when the
// client's framing is a length or the close.
func (uc *upConn) frame(cc *clientConn, data []byte) {
	if uc.chunkOut {
		cc.writeThrough(len(data), parser.AppendChunkHeader(cc.lp.scratch[:0], len(data)), data, crlf)
	} else {
		cc.writeThrough(len(data), data)
	}
	cc.bytesOut += int64(len(data))
}

// flushEncoded sends what the encoder produced so far, so a response that
// streams slowly reaches the client as it comes, not when it ends.
func (uc *upConn) flushEncoded(cc *clientConn) {
	if z := cc.z; z != nil && !cc.closed {
		z.flush()
		if len(z.out) > 0 {
			uc.frame(cc, z.out)
			z.out = z.out[:0]
		}
	}
}

// endBody writes the end of the client's body: the encoder's last bytes and
// the last chunk.
func (uc *upConn) endBody(cc *clientConn) {
	if z := cc.z; z != nil {
		z.finish()
		if len(z.out) > 0 {
			uc.frame(cc, z.out)
			z.out = z.out[:0]
		}
	}
	if uc.chunkOut {
		cc.writeClient(appendLastChunk(cc.lp.scratch[:0], uc.trailers, cc.rt.responseNames(), cc.z != nil))
	}
}

func (uc *upConn) finishCloseDelimited(cc *clientConn) {
	uc.endBody(cc)
	cc.respDone = true
	if cc.reqDone {
		cc.finishRequest()
	} else {
		cc.keepAlive = false
		cc.finishRequest()
	}
}

// responseDone completes the exchange: the connection goes back to the pool
// when both messages on it are complete.
func (uc *upConn) responseDone(cc *clientConn) {
	cc.respDone = true
	cc.uc = nil
	if cc.reqDone && !uc.resp.KeepAlive {
		uc.dead = true
	}
	if cc.reqDone {
		uc.release()
		cc.finishRequest() // starts pipelined requests waiting behind this one
		return
	}
	// The request body is still arriving: this connection carries half a
	// message and cannot be reused; the client connection closes after.
	uc.discard()
	cc.keepAlive = false
	if _, stream := cc.gc.(*streamIO); !stream || cc.bodyWithheld() {
		// An HTTP/1.1 connection closes now: the lingering close reads
		// and drops the rest of the body, and a client that was sent a
		// final answer may skip its body altogether (RFC 9110 §10.1.1,
		// also after a 100), which waiting for it would have held until
		// the idle timeout.
		cc.reqDone = true
		cc.finishRequest()
		return
	}
	cc.state = stateDiscard
	// The upstream's part is over: its target's slot (max_conns, in-flight)
	// is free now, not when the client gets round to ending its body.
	if cc.target != nil {
		cc.target.Release()
		cc.target = nil
	}
	// The rest of the body is now only read away: bounded like any body
	// wait (a client that held its body for a 100 Continue that never
	// came had no timer at all).
	cc.expect100 = false
	cc.armBodyTimer()
}

// canRetry: attempts left, an idempotent request that can be sent again
// (no body, or all of it sent so far kept: retrybody.go), and no response
// byte reached the client.
func (cc *clientConn) canRetry() bool {
	return cc.retriesLeft > 0 && !cc.respBegun && cc.idempotent && cc.bodyResendable()
}

// retryBudgetOK asks the upstream's retry budget for one more retry of
// this request: past it, the client gets the failure instead.
func (cc *clientConn) retryBudgetOK() bool {
	return cc.up.pool.RetryBudget().TryRetry(cc.lp.nanos() / int64(time.Second))
}

func (cc *clientConn) retry() {
	cc.retriesLeft--
	failed := cc.target
	failed.Release()
	cc.target = nil
	if !cc.connectUpstream(failed) {
		return
	}
	if cc.bodyKind == bodyNone {
		cc.reqDone = true
		cc.state = stateAwait
	}
}

// upstreamFailed handles a connection that failed before a response head:
// a reused keep-alive connection closed under us is retried once on a fresh
// one (the classic idle race); configured retries go to another target.
func (cc *clientConn) upstreamFailed(kind retryMask, e *errorKind) {
	now := balancer.Now()
	if cc.target != nil {
		cc.target.ReportFailure(now)
		if kind == retryConnectFailure {
			cc.target.ReportConnectFailure(now)
		}
	}
	// A failed connect when no target of a pool of several can be
	// reached (each is out of rotation or had its own connect fail just
	// before, this request's included) is "no healthy target": 503, and
	// no retry, which would only wait out one more refusal or
	// connect_timeout per target in series. So with all targets down the
	// first request gets its 503 once its retries have reached each, and
	// every later one after a single connect attempt. A pool of one
	// target refusing is "upstream refused" (502) as SPEC §4 has it;
	// health checks, when configured, still turn it into 503 by taking
	// the target out.
	allDown := kind == retryConnectFailure && cc.up != nil && len(cc.up.pool.Targets()) > 1 &&
		cc.up.pool.AllUnreachable(now, int64(unreachableFor(cc.up.connectTimeout)))
	// A failed connect sent nothing: its retry adds no work to any target
	// beyond the one request, so the retry budget (which keeps retries
	// from multiplying load on a struggling upstream) does not apply. What
	// the dial held (the head and the body read so far) goes to the next
	// target as it is; the rest of the body follows.
	carry := cc.carry
	cc.carry = nil
	if kind == retryConnectFailure && !allDown && cc.rt != nil && cc.rt.retryOn&kind != 0 && cc.retriesLeft > 0 && !cc.respBegun &&
		(cc.bodyKind == bodyNone || cc.bytesIn == 0 || carry != nil) {
		cc.carry = carry
		cc.retry() // never sent: safe to retry for any method
		return
	}
	if !allDown && cc.rt != nil && cc.rt.retryOn&kind != 0 && cc.canRetry() && cc.retryBudgetOK() {
		cc.retry()
		return
	}
	if allDown || kind == retryConnectFailure && cc.up != nil && cc.up.pool.Panicking(now) {
		e = errUnavailable
	}
	cc.failUpstream(e)
}

// unreachableFor is how long a failed connect marks a target unreachable
// unless a connect succeeds sooner: long enough for a request to each of a
// few blackholed targets to renew its mark, short enough that a target
// nothing picks (a consistent-hash pool's) is tried again soon.
func unreachableFor(connectTimeout time.Duration) time.Duration {
	return max(time.Second, 2*connectTimeout)
}

// Consistent-hash key kinds (SPEC §2 upstreams[].hash_on).
const (
	hashNone = iota
	hashIP
	hashConsumer
	hashHeader
	hashCookie
)

func parseHashOn(s string) (int, string) {
	switch {
	case s == "ip":
		return hashIP, ""
	case s == "consumer":
		return hashConsumer, ""
	case strings.HasPrefix(s, "header:"):
		return hashHeader, strings.TrimPrefix(s, "header:")
	case strings.HasPrefix(s, "cookie:"):
		return hashCookie, strings.TrimPrefix(s, "cookie:")
	}
	return hashNone, ""
}

// hashKey is the consistent-hash key of the request for its upstream; 0
// (spread by the pool like any other key) when the request has no value.
func (cc *clientConn) hashKey(u *upstreamRT) uint64 {
	switch u.hashOn {
	case hashIP:
		return xxhash.Sum64String(cc.clientAddr())
	case hashConsumer:
		if cc.id != nil && cc.id.Consumer != "" {
			return xxhash.Sum64String(cc.id.Consumer)
		}
	case hashHeader:
		if v, ok := cc.hdrs.Get(u.hashName); ok && len(v) > 0 {
			return xxhash.Sum64(v)
		}
	case hashCookie:
		if v, ok := policy.CookieValue(cc.cookies(), u.hashName); ok && len(v) > 0 {
			return xxhash.Sum64(v)
		}
	default:
		return 0 // not consistent_hash: the key is unused
	}
	// No value to hash: any target will do, and one fixed target for every
	// such request would be a hot spot. Spread them (as Envoy does).
	return rand.Uint64()
}

// send writes b to the upstream socket, through the TLS session when there
// is one.
func (uc *upConn) send(b []byte) {
	if uc.tls == nil {
		writeConn(uc.gc, b)
		return
	}
	out, err := uc.hp.lp.seal(uc.tls, b)
	if err != nil {
		uc.dead, uc.broken = true, true // onClose ends the exchange
		_ = uc.gc.Close()
		return
	}
	writeConn(uc.gc, out)
}

// input is what the response parser reads: gnet's buffer, or the plaintext
// of the upstream TLS session.
func (uc *upConn) input() []byte {
	if uc.tls == nil {
		buf, _ := uc.gc.Peek(-1)
		return buf
	}
	return uc.plain.bytes()
}

func (uc *upConn) consumeInput(n int) {
	if uc.tls == nil {
		consume(uc.gc, n)
		return
	}
	uc.plain.consume(n)
}

// decrypt feeds the socket's bytes to the TLS session and reads every
// complete record into plain. ok is false when the session failed; eof
// reports the upstream's close_notify (readRecords).
func (uc *upConn) decrypt() (ok, eof bool) {
	if buf, _ := uc.gc.Peek(-1); len(buf) > 0 {
		err := uc.tls.FeedInto(uc.hp.lp.tlsIn, buf)
		consume(uc.gc, len(buf))
		if err != nil {
			return false, false
		}
	}
	ok, eof = uc.plain.readRecords(uc.tls, uc.hp.lp)
	uc.tls.Settle() // FeedInto's scratch is free again
	if out := uc.tls.TakeOutput(); len(out) > 0 {
		writeConn(uc.gc, out) // a KeyUpdate answer
	}
	return ok, eof
}
