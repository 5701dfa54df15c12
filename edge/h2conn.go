package edge

import (
	"bytes"
	"errors"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/net/http2"

	"github.com/portico-gw/portico/balancer"
	"github.com/portico-gw/portico/edge/h2"
	"github.com/portico-gw/portico/edge/timewheel"
	"github.com/portico-gw/portico/parser"
)

// h2Conn is one downstream HTTP/2 connection (h2c prior knowledge, or h2
// by ALPN). Frames go through edge/h2's ServerConn; each stream becomes a
// clientConn whose downstream is a streamIO, so routing, auth, limits,
// balancing, upstream pools, retries, timeouts and logging are exactly the
// HTTP/1.1 pipeline. Loop-owned.
type h2Conn struct {
	lp       *loop
	gc       downstream // the socket, or its TLS session
	bl       *boundListener
	sc       *h2.ServerConn
	proto    *clientConn // the connection's first clientConn: peer address, listener
	free     []*clientConn
	closing  []*clientConn // stream conns whose Close ran this event
	closed   bool
	dirty    bool // Output has bytes to move to the socket
	stalled  bool // the socket's outbound queue is over highWater
	goaway   bool
	goawayAt time.Time       // when the first, graceful GOAWAY went out
	timer    timewheel.Timer // idle timeout while no stream is open
	htimer   timewheel.Timer // header timeout while a header block is half received
	// htimerBlocks is HeaderBlocks when htimer was set: a block completed
	// since then starts the next one's timeout afresh.
	htimerBlocks uint64
	// ptimer trims free: stream conns that sat unused in the pool for a
	// whole poolTrimEvery (freeLow of them) are dropped, so a connection
	// that once ran many streams does not keep their buffers while idle;
	// so are its output buffers (ServerConn.Trim).
	ptimer  timewheel.Timer
	freeLow int
	// lastBusy is when a stream was last seen open: idle_timeout counts
	// from there, so frames that open no stream (PING, SETTINGS, a header
	// block trickled byte by byte) never keep an idle connection alive.
	lastBusy   int64
	lastOpened uint64 // streams opened as of lastBusy
	lastActive int    // streams open at the last noteBusy
	abandon    bool   // header timeout: close once the GOAWAY is out
	errNoted   bool   // the connection error was counted
	holdShare  int64  // body bytes a held stream waits for (holdShare)
}

// holdShare is how much of a content-length body a stream of a connection
// with this window and stream limit waits for before it takes an upstream
// (awaitBody). Held streams return no credit, and consumed bytes come back
// to the client only once half the window has (edge/h2's batched
// connection WINDOW_UPDATE): with every held stream short of its share
// and the uncredited half just short of its update, the client must still
// have window left, so the shares of all streams together stay under half
// the window (8 KiB with 4 MiB and 256 streams). Fixed per connection, as
// its stream limit is.
func holdShare(connWindow uint32, maxStreams int) int64 {
	return min(bodyWait, int64(connWindow/2)/int64(max(maxStreams, 1)))
}

// Over-size header blocks are answered by the shared error path, not by edge/h2.
var _ h2.HeadersTooLargeHandler = (*h2Conn)(nil)

func (lp *loop) newH2Conn(cc *clientConn, gc downstream) *h2Conn {
	ls := cc.listener()
	h := &h2Conn{lp: lp, gc: gc, bl: cc.bl, proto: cc}
	h.sc = h2.NewServerConn(h2.Config{
		MaxConcurrentStreams: uint32(ls.h2MaxStreams),
		MaxHeaderBytes:       ls.maxHeaderBytes,
		ConnWindowSize:       h2.DefaultConnWindowSize,
	}, h)
	h.holdShare = holdShare(h2.DefaultConnWindowSize, ls.h2MaxStreams)
	h.timer.Init(h)
	h.htimer.Init(h)
	h.ptimer.Init(h)
	lp.h2conns[h] = struct{}{}
	lp.schedule(&h.timer, ls.idleTimeout)
	// The preface and first request, within header_timeout of the accept
	// as an HTTP/1.1 connection's first head (a TLS handshake included):
	// from the handshake's end it gave a client up to twice as long.
	first := ls.headerTimeout - lp.now().Sub(cc.start)
	lp.schedule(&h.htimer, max(first, 0))
	return h
}

// upgradeToH2 turns a plaintext connection whose first bytes are the HTTP/2
// client preface into an h2Conn.
func (cc *clientConn) upgradeToH2() {
	lp := cc.lp
	delete(lp.clients, cc)
	lp.wheel.Stop(&cc.timer)
	h := lp.newH2Conn(cc, cc.raw)
	cc.raw.SetContext(h)
	h.onTraffic()
}

func (h *h2Conn) onTraffic() gnet.Action {
	if h.closed {
		if raw, ok := h.gc.(gnet.Conn); ok && h.lp.lingers(raw) {
			// Closing, output still leaving: the client's WINDOW_UPDATEs,
			// PINGs and GOAWAY are read and dropped (closeWhenSent).
			consume(raw, raw.InboundBuffered())
			h.lp.lingerInput(raw)
			return gnet.None
		}
		return gnet.Close
	}
	buf, _ := h.gc.Peek(-1)
	if len(buf) > 0 {
		n, err := h.sc.Feed(buf)
		if err != nil {
			// The connection is over: what else the client sends is
			// dropped, not kept (a client flooding a connection whose
			// GOAWAY cannot leave grew its input buffer without bound),
			// and the error is counted once.
			n = len(buf)
			if !h.errNoted {
				h.errNoted = true
				h.lp.s.noteH2ConnError(h.proto.listener().name, h.proto.peerStr, err)
			}
		}
		consume(h.gc, n)
		h.markDirty()
		h.noteBusy()
		if h.awaitingHeaders(buf[n:]) {
			// One header_timeout per block: a busy connection whose reads
			// keep ending inside the next block must not carry the first
			// block's deadline over the ones completed since.
			// Until the first request opens a stream, the preface's deadline
			// holds: blocks that open none (malformed, refused) do not
			// extend it.
			if blocks := h.sc.HeaderBlocks(); !h.htimer.Pending() || blocks != h.htimerBlocks && h.sc.Opened() > 0 {
				h.htimerBlocks = blocks
				h.lp.schedule(&h.htimer, h.proto.listener().headerTimeout)
			}
		} else if h.sc.Opened() > 0 {
			// Until the first request, the timer set at the preface runs
			// on through SETTINGS, PINGs and WINDOW_UPDATEs.
			h.lp.wheel.Stop(&h.htimer)
		}
	}
	return gnet.None
}

// awaitingHeaders: a header block is half received, or the bytes left
// over after the last whole frame start a HEADERS or CONTINUATION frame
// (or are too few to tell).
func (h *h2Conn) awaitingHeaders(partial []byte) bool {
	if h.sc.AwaitingHeaders() {
		return true
	}
	if len(partial) == 0 {
		return false
	}
	if len(partial) < 4 {
		return true
	}
	t := http2.FrameType(partial[3])
	return t == http2.FrameHeaders || t == http2.FrameContinuation
}

// noteBusy stamps lastBusy while a stream is open, when one opened since
// the last stamp (a request answered within the event that brought it, a
// direct_response or a 404, is never seen open), or when one ended since
// the last look: a stream's end is counted when its last DATA is queued,
// before the flush that calls this, and a long poll answered after a
// minute must be idle from its answer, not from its request.
func (h *h2Conn) noteBusy() {
	active := h.sc.Active()
	if opened := h.sc.Opened(); active > 0 || opened != h.lastOpened || active < h.lastActive {
		h.lastBusy, h.lastOpened = h.lp.nanos(), opened
	}
	h.lastActive = active
}

// OnTimer closes an idle connection (no open stream for idle_timeout), or
// one whose header block did not complete within header_timeout, or that
// sent no request within header_timeout of the preface (as an HTTP/1.1
// connection must send its first head: holding a connection open with
// SETTINGS and PINGs alone would otherwise last idle_timeout).
func (h *h2Conn) OnTimer(t *timewheel.Timer, now int64) {
	if h.closed {
		return
	}
	if t == &h.ptimer {
		h.trimPool()
		return
	}
	ls := h.proto.listener()
	if t == &h.htimer {
		buf, _ := h.gc.Peek(-1)
		if h.sc.Opened() > 0 && !h.awaitingHeaders(buf) {
			return
		}
		h.lp.s.log.Debug("http2 header timeout", "remote", h.proto.peerStr)
		h.abandon = true
		h.sc.GoAway(false)
		h.markDirty()
		return
	}
	if h.sc.Stats().Active > 0 {
		h.lp.schedule(&h.timer, ls.idleTimeout)
		return
	}
	if idle := time.Duration(now - h.lastBusy); h.lastBusy != 0 && idle < ls.idleTimeout {
		h.lp.schedule(&h.timer, ls.idleTimeout-idle)
		return
	}
	h.sc.GoAway(false)
	h.markDirty()
}

// markDirty queues the connection's output for the end of this round of
// events rather than of this callback: responses of several streams that
// complete in one epoll round (one per upstream socket) then leave in one
// write, and over TLS in one record, instead of one each.
func (h *h2Conn) markDirty() {
	if !h.dirty {
		h.dirty = true
		h.lp.deferH2(h)
	}
}

// flush moves the ServerConn's output to the socket while the socket's queue
// is under highWater; a client that does not read stalls us there and, past
// the ServerConn's own bound, its streams' WriteData stop taking bytes,
// which pauses their upstreams.
func (h *h2Conn) flush() {
	h.dirty = false
	if h.closed {
		return
	}
	h.noteBusy() // a stream that ends in this flush was open until now
	for i := 0; i < 16; i++ {
		out := h.sc.Output()
		if len(out) == 0 {
			break
		}
		// A finished connection writes what is left (the GOAWAY, bounded)
		// even past highWater: it closes once that is out, and the
		// lingering close bounds a client that never reads it.
		if h.gc.OutboundBuffered() > highWater && !h.sc.Done() && !h.abandon {
			if !h.stalled {
				h.stalled = true
				h.lp.stalledH2 = append(h.lp.stalledH2, h)
				h.lp.stalledN.Store(int32(len(h.lp.stalledH2)))
				h.lp.wakeBy(h.lp.nanos() + int64(pausedTick))
			}
			break
		}
		if raw, ok := h.gc.(gnet.Conn); ok {
			writeConn(raw, out)
		} else {
			_, _ = h.gc.Write(out)
		}
		h.sc.ConsumeOutput(len(out)) // may call OnWritable, producing more
	}
	h.finishClosing()
	if (h.sc.Done() || h.abandon) && len(h.sc.Output()) == 0 {
		h.closed = true
		if raw, ok := h.gc.(gnet.Conn); ok {
			h.lp.closeWhenSent(raw, h.proto.listener().idleTimeout)
		} else {
			_ = h.gc.Close()
		}
	}
}

// finishClosing runs the cleanup of stream exchanges that closed during
// this event, outside the pipeline's own call stack.
func (h *h2Conn) finishClosing() {
	for len(h.closing) > 0 {
		cc := h.closing[len(h.closing)-1]
		h.closing = h.closing[:len(h.closing)-1]
		cc.onClose(nil)
		if sio := cc.gc.(*streamIO); sio.ended {
			h.release(cc)
		} else {
			sio.releaseWhenDone = true
		}
	}
}

// drain starts a graceful GOAWAY (SIGTERM): open streams complete. The
// final GOAWAY follows the PING answer (the state machine sends it then);
// for a client that does not answer, later calls send it once
// goawayGrace has passed, time for requests the client had in flight
// when the first GOAWAY left to arrive (the drain loop calls this every
// few milliseconds: sending it on the next call cut off any client more
// than that far away).
func (h *h2Conn) drain() {
	now := h.lp.now()
	if !h.goaway {
		h.goaway = true
		h.goawayAt = now
		h.sc.GoAway(true)
		h.markDirty()
	} else if now.Sub(h.goawayAt) >= goawayGrace {
		h.sc.GoAway(true) // the final GOAWAY
		h.markDirty()
	}
}

// goawayGrace is how long the final GOAWAY waits for a PING answer.
const goawayGrace = time.Second

func (h *h2Conn) onClose() {
	h.closed = true
	delete(h.lp.h2conns, h)
	h.lp.wheel.Stop(&h.timer)
	h.lp.wheel.Stop(&h.htimer)
	h.lp.wheel.Stop(&h.ptimer)
	h.free = nil
	h.sc.Close() // OnReset(CANCEL) for every open stream
	h.finishClosing()
}

// streamConn returns a pooled clientConn bound to s.
func (h *h2Conn) streamConn(s *h2.Stream) *clientConn {
	var cc *clientConn
	if n := len(h.free); n > 0 {
		cc = h.free[n-1]
		h.free[n-1] = nil
		h.free = h.free[:n-1]
		h.freeLow = min(h.freeLow, n-1)
		sio := cc.gc.(*streamIO)
		sio.reset(s)
		cc.closed, cc.state, cc.paused = false, stateIdle, false
	} else {
		p := h.proto
		cc = &clientConn{lp: h.lp, bl: h.bl, peer: p.peer, peerStr: p.peerStr, peerPort: p.peerPort, proto: "HTTP/2.0",
			certSubject: p.certSubject, certSHA256: p.certSHA256}
		cc.init()
		sio := &streamIO{h: h, cc: cc}
		sio.reset(s)
		cc.gc = sio
	}
	return cc
}

// pooledBufMax is the largest buffer a finished stream conn keeps: a
// download that buffered its full share (up to highWater), or a head of
// tens of KiB, must not pin it for as long as the connection lives. Larger
// ones are dropped when the stream ends, pooled or not (something may
// still point at the conn for a while: its buffers must not stay with it).
const pooledBufMax = 64 << 10

// poolMax stream conns at most are kept per connection, and those that
// sat unused for poolTrimEvery are dropped.
const (
	poolMax       = 64
	poolTrimEvery = 5 * time.Second
)

func (h *h2Conn) release(cc *clientConn) {
	sio := cc.gc.(*streamIO)
	sio.s = nil
	if cap(sio.in) > pooledBufMax {
		sio.in, sio.inOff = nil, 0
	}
	for _, b := range [...]*[]byte{&sio.out, &sio.head, &sio.trailers, &cc.wbuf, &cc.reqTrailers,
		&cc.cookieBuf, &cc.rewriteRaw, &cc.rewriteBuf} {
		if cap(*b) > pooledBufMax {
			*b = nil
		}
	}
	if h.closed || len(h.free) >= poolMax {
		return
	}
	h.free = append(h.free, cc)
	if !h.ptimer.Pending() {
		h.freeLow = len(h.free)
		h.lp.schedule(&h.ptimer, poolTrimEvery)
	}
}

// trimPool drops the stream conns no stream took since the last trim (the
// bottom freeLow of the stack: pops take from the top), and the
// connection's own output buffers if a burst grew them.
func (h *h2Conn) trimPool() {
	if k := min(h.freeLow, len(h.free)); k > 0 {
		n := copy(h.free, h.free[k:])
		clear(h.free[n:])
		h.free = h.free[:n]
	}
	h.freeLow = len(h.free)
	if busy := h.sc.Trim(); busy || len(h.free) > 0 {
		h.lp.schedule(&h.ptimer, poolTrimEvery)
	}
}

// OnRequest turns the stream's request into HTTP/1.1 bytes for the shared
// pipeline: the request line, Host from :authority, the fields, framing.
func (h *h2Conn) OnRequest(s *h2.Stream) {
	cc := h.streamConn(s)
	s.Data = cc
	sio := cc.gc.(*streamIO)
	sio.reqEnded = s.EndStream()
	if len(s.Authority()) == 0 {
		// Neither :authority nor Host: an http(s) target URI always has a
		// host (RFC 9110 §4.2.1, §7.2), so answer as HTTP/1.1 does a
		// request without Host, 400 bad_request. Not malformed in RFC
		// 9113 §8.1.1's sense, so no stream error is owed; nginx answers
		// 400 as well ("client sent no :authority").
		cc.rejectH2Head(s, errBadRequest)
		return
	}
	if string(s.Method()) == "CONNECT" {
		// The gateway does not tunnel: 501, as for HTTP/1.1 (parser).
		cc.rejectH2Head(s, errNotImplemented)
		return
	}
	b := sio.in[:0]
	b = append(b, s.Method()...)
	b = append(b, ' ')
	b = append(b, s.Path()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, s.Authority()...)
	b = append(b, "\r\n"...)
	cookies := 0
	for i, n := 0, s.NumFields(); i < n; i++ {
		name, value := s.Field(i)
		switch {
		case parser.EqualFoldString(name, "host"), parser.EqualFoldString(name, "te"), parser.EqualFoldString(name, "transfer-encoding"):
			continue
		case parser.EqualFoldString(name, "cookie"):
			cookies++ // joined below into one field, as HTTP/1.1 expects
			continue
		}
		b = append(b, name...)
		b = append(b, ": "...)
		b = append(b, value...)
		b = append(b, "\r\n"...)
	}
	if cookies > 0 {
		b = append(b, "cookie: "...)
		first := true
		for i, n := 0, s.NumFields(); i < n; i++ {
			if name, value := s.Field(i); parser.EqualFoldString(name, "cookie") {
				if !first {
					b = append(b, "; "...)
				}
				first = false
				b = append(b, value...)
			}
		}
		b = append(b, "\r\n"...)
	}
	if !s.EndStream() && s.ContentLength() < 0 {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
		sio.chunked = true
	}
	// Each stream is one exchange: the pipeline closes it after the answer.
	b = append(b, "Connection: close\r\n\r\n"...)
	sio.in = b
	cc.process()
}

// OnHeadersTooLarge answers a stream whose request header block was over
// max_header_bytes (h2.HeadersTooLargeHandler) as HTTP/1.1 answers an
// over-size head: SPEC §4's 431 envelope (414 when the request line alone
// is over), X-Request-Id, Date, one access-log line and the no-route
// metric. The answer is written before this returns: past the hard caps
// the connection ends right after.
func (h *h2Conn) OnHeadersTooLarge(s *h2.Stream) {
	cc := h.streamConn(s)
	s.Data = cc
	cc.gc.(*streamIO).reqEnded = s.EndStream()
	e := errHeaderTooLarge
	if s.LineTooLong() {
		e = errURITooLong
	}
	cc.rejectH2Head(s, e)
}

// rejectH2Head answers e to a stream that never became a request: the
// per-request state startRequest would set is set from what the stream
// decoded before its limit, then the shared error path responds, logs and
// counts. The exchange closes with the answer (Connection: close), which
// writes it to the stream synchronously (closeNow flushes).
func (cc *clientConn) rejectH2Head(s *h2.Stream, e *errorKind) {
	cc.start = cc.lp.now()
	cc.snap = cc.lp.s.snap.Load()
	cc.ls = cc.listener()
	cc.resetExchange()
	cc.http10, cc.bodyKind = false, bodyNone
	// The client's id only if it was decoded before the limit.
	var clientID []byte
	for name, value := range s.Fields() {
		if parser.EqualFoldString(name, "x-request-id") {
			clientID = value
			break
		}
	}
	cc.newRequestID(clientID)
	method, path := s.Method(), s.Path()
	// As logFromRaw for an HTTP/1.1 head: bounded, and the path without
	// its query (which can carry credentials).
	if i := bytes.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	cc.logMethod = append(cc.logMethod[:0], method[:min(len(method), 256)]...)
	cc.logPath = append(cc.logPath[:0], path[:min(len(path), 256)]...)
	host := s.Authority()
	cc.logHost = append(cc.logHost[:0], host[:min(len(host), 256)]...)
	cc.logRemote, cc.logTarget = cc.logRemote[:0], ""
	cc.isHEAD = isHEAD(method)
	cc.respondError(e, true)
}

func (h *h2Conn) OnData(s *h2.Stream, data []byte, end bool) {
	cc, _ := s.Data.(*clientConn)
	if cc == nil || cc.closed {
		s.Consumed(len(data))
		return
	}
	sio := cc.gc.(*streamIO)
	sio.reqEnded = sio.reqEnded || end
	if sio.chunked {
		if len(data) > 0 {
			sio.in = parser.AppendChunk(sio.in, data)
		}
		if end {
			sio.in = parser.AppendLastChunk(sio.in)
		}
	} else {
		sio.in = append(sio.in, data...)
	}
	sio.uncredited += len(data)
	if !cc.paused {
		cc.process()
	}
}

// OnTrailers ends the request body with its trailers. They reach the
// upstream in the chunked body's trailer section, where the pipeline
// filters them as it does an HTTP/1.1 client's; a body framed by
// Content-Length has no place for them, and they are dropped (RFC 9110
// §6.5.1 lets a recipient discard trailers).
func (h *h2Conn) OnTrailers(s *h2.Stream) {
	cc, _ := s.Data.(*clientConn)
	if cc == nil || cc.closed {
		return
	}
	sio := cc.gc.(*streamIO)
	sio.reqEnded = true
	if !sio.chunked {
		h.OnData(s, nil, true)
		return
	}
	sio.in = append(sio.in, "0\r\n"...)
	for name, value := range s.Trailers() {
		sio.in = append(sio.in, name...)
		sio.in = append(sio.in, ": "...)
		sio.in = append(sio.in, value...)
		sio.in = append(sio.in, "\r\n"...)
	}
	sio.in = append(sio.in, "\r\n"...)
	if !cc.paused {
		cc.process()
	}
}

func (h *h2Conn) OnReset(s *h2.Stream, _ http2.ErrCode) {
	cc, _ := s.Data.(*clientConn)
	if cc == nil {
		return
	}
	sio := cc.gc.(*streamIO)
	sio.s, sio.ended = nil, true // the stream is gone: nothing more may be written to it
	if s.ResetHere() {
		// The client broke the stream (RFC 9113 §8.1.1 malformed, flow
		// control): its log line is a 400, not a client that went away;
		// past the response head, the status it got with the reason.
		if cc.status == 0 {
			cc.status = errBadRequest.status
		}
		if cc.errCode == "" {
			cc.errCode = errBadRequest.code
		}
	}
	if !cc.closed {
		h.closeExchange(cc)
	} else if sio.releaseWhenDone {
		sio.releaseWhenDone = false
		h.release(cc)
	}
}

func (h *h2Conn) OnWritable(s *h2.Stream) {
	if cc, _ := s.Data.(*clientConn); cc != nil {
		cc.gc.(*streamIO).pump()
	}
}

// streamIO presents one HTTP/2 stream as an HTTP/1.1 connection to a
// clientConn: the request arrives as HTTP/1.1 bytes in in, and the HTTP/1.1
// response the pipeline writes is parsed back into HEADERS and DATA.
type streamIO struct {
	h          *h2Conn
	s          *h2.Stream
	cc         *clientConn
	in         []byte
	inOff      int
	uncredited int // DATA bytes not yet returned to the client as window
	chunked    bool
	reqEnded   bool // the client ended the request (END_STREAM seen)

	head     []byte // response head bytes until complete
	headDone bool
	resp     parser.Response
	bodyKind int
	left     int64
	dec      parser.ChunkedDecoder
	trailers []byte // the response's trailer section, sent as a trailing HEADERS
	out      []byte // response body the stream's window did not take yet
	respEnd  bool   // the body is complete; END_STREAM follows out
	ended    bool   // END_STREAM or RST_STREAM written; s dropped
	fields   [][2][]byte

	releaseWhenDone bool // the exchange closed; back to the pool once ended
}

func (sio *streamIO) reset(s *h2.Stream) {
	sio.s = s
	sio.in, sio.inOff, sio.uncredited, sio.chunked, sio.reqEnded = sio.in[:0], 0, 0, false, false
	sio.head, sio.headDone, sio.bodyKind, sio.left = sio.head[:0], false, bodyNone, 0
	sio.trailers = sio.trailers[:0]
	sio.out, sio.respEnd, sio.ended, sio.releaseWhenDone = sio.out[:0], false, false, false
}

func (sio *streamIO) Peek(int) ([]byte, error) { return sio.in[sio.inOff:], nil }
func (sio *streamIO) InboundBuffered() int     { return len(sio.in) - sio.inOff }

// Response bytes a stream buffers while its client grants no window (out)
// are bounded per connection, not only per stream: at highWater per
// stream, a client opening 256 downloads and never sending WINDOW_UPDATE
// made the gateway hold 1.3-1.7 MiB for each, over 300 MiB. Each open
// stream gets an equal share of h2ConnBudget, between h2StreamFloor and
// highWater:
//   - up to 4 open streams keep highWater each: one download, or a few,
//     runs exactly as over HTTP/1.1, and 4 MiB keeps a connection's
//     aggregate throughput (measured: 64 parallel downloads on one
//     connection as fast as one);
//   - 16 KiB, one default-size DATA frame, keeps every stream moving, and
//     256 streams (the default h2_max_concurrent_streams) still fit in the
//     4 MiB; past that a connection holds streams x 16 KiB, bounded by
//     h2_max_concurrent_streams.
//
// A share rather than a cap on the sum: with a cap, streams the client
// never reads would block the ones it does read, whose upstreams could not
// resume until bytes that never leave had left. With a share, a stream
// pauses and resumes on its own bytes only. Each stream may overshoot its
// share by one upstream read (64 KiB), the unit the pipeline pauses at.
const (
	h2ConnBudget  = 4 << 20
	h2StreamFloor = 16 << 10
)

// OutboundBuffered reports the stream's buffered response bytes scaled
// from its share of the connection's budget to highWater: the pipeline,
// which pauses an upstream above highWater and resumes it below lowWater,
// then pauses at the share and resumes at a quarter of it.
func (sio *streamIO) OutboundBuffered() int {
	n := len(sio.out)
	if sio.cc != nil {
		n += len(sio.cc.wbuf) // queued by the pipeline, ours at the end of the event
	}
	share := sio.h.streamShare()
	if share >= highWater {
		return n
	}
	return int(int64(n) * highWater / int64(share))
}

// streamShare is each open stream's share of h2ConnBudget (see there).
func (h *h2Conn) streamShare() int {
	active := h.sc.Active()
	if active <= h2ConnBudget/highWater {
		return highWater
	}
	return max(h2ConnBudget/active, h2StreamFloor)
}

// Discard consumes request bytes; DATA payload consumed goes back to the
// client as flow-control credit (framing bytes we added never count, so
// credit never exceeds what the client sent).
func (sio *streamIO) Discard(n int) (int, error) {
	sio.inOff += n
	if sio.inOff >= len(sio.in) {
		sio.in, sio.inOff = sio.in[:0], 0
	}
	if c := min(n, sio.uncredited); c > 0 && sio.s != nil {
		sio.uncredited -= c
		sio.s.Consumed(c)
		sio.h.markDirty()
	}
	return n, nil
}

// Write takes HTTP/1.1 response bytes from the pipeline.
func (sio *streamIO) Write(b []byte) (int, error) {
	n := len(b)
	if sio.s == nil || sio.ended {
		return n, nil
	}
	for len(b) > 0 && !sio.respEnd {
		if !sio.headDone {
			// The head is read where it lies; only one split across writes
			// is gathered in sio.head. (Gathering every first write, body
			// bytes and all, cost a copy and kept up to coalesceMax per
			// stream for the stream's life.)
			src := b
			if len(sio.head) > 0 {
				sio.head = append(sio.head, b...)
				src = sio.head
			}
			b = nil
			for !sio.headDone && len(src) > 0 {
				hn, err := parseOwnHead(src, &sio.resp)
				if err == parser.ErrNeedMore {
					sio.head = append(sio.head[:0], src...) // (src may lie in sio.head: append moves with overlap)
					return n, nil
				}
				if err != nil {
					// Not a head the pipeline writes: the stream is reset,
					// and the log says the answer did not get through.
					if sio.cc != nil && sio.cc.errCode == "" {
						sio.cc.errCode = errBadGateway.code
					}
					sio.end(true)
					return n, nil
				}
				sio.writeHead() // done with sio.resp, which views src, before returning
				if sio.s == nil {
					return n, nil
				}
				src = src[hn:]
				if sio.headDone { // else a 1xx went out: the final head follows
					sio.body(src) // copies into out before head is reused
					src = nil
				}
			}
			sio.head = sio.head[:0]
			continue
		}
		sio.body(b)
		b = nil
	}
	sio.pump()
	return n, nil
}

func (sio *streamIO) writeHead() {
	r := &sio.resp
	sio.fields = sio.fields[:0]
	for i := range r.Fields {
		f := &r.Fields[i]
		if parser.EqualFoldString(f.Name, "Transfer-Encoding") || parser.EqualFoldString(f.Name, "Connection") {
			continue
		}
		if r.Status == 304 && parser.EqualFoldString(f.Name, "Content-Length") {
			// Allowed (RFC 9113 §8.1.1: the size of what was not sent),
			// but Go's HTTP/2 client then waits for that many bytes and
			// fails with "unexpected EOF"; it says nothing the client
			// does not already have.
			continue
		}
		sio.fields = append(sio.fields, [2][]byte{f.Name, f.Value})
	}
	if r.Status < 200 { // 100 or an informational head such as 103 Early Hints
		_ = sio.s.WriteHeaders(r.Status, sio.fields, false)
		// Out now, not with the final head: a client holding its body
		// for 100 Continue, or acting on 103 hints, waits for it.
		sio.h.markDirty()
		return
	}
	sio.headDone = true
	switch parser.ResponseBodyKind(sio.cc.isHEAD, r) {
	case parser.BodyContentLength:
		sio.bodyKind, sio.left = bodyLength, r.ContentLength
	case parser.BodyChunked:
		sio.bodyKind = bodyChunked
		sio.dec.Reset()
		sio.dec.KeepTrailers(&sio.trailers)
	default:
		sio.bodyKind = bodyNone
	}
	end := sio.bodyKind == bodyNone
	if sio.s.WriteHeaders(r.Status, sio.fields, end) != nil || end {
		sio.respEnd = true
		sio.end(false)
	}
}

// end marks the stream finished for us; after END_STREAM or RST_STREAM the
// *h2.Stream may be reused by the connection, so it is dropped here.
//
// When the request had not ended, the connection now drops the rest of its
// body itself (h2.Config.MaxDiscardBytes) and no OnData or OnReset comes
// for it: an exchange still waiting for body bytes (stateDiscard after an
// early 401/404/429 or a direct_response) is closed here, which logs it
// once, instead of waiting forever.
func (sio *streamIO) end(reset bool) {
	if sio.s != nil && reset {
		sio.s.Reset(http2.ErrCodeInternal)
	}
	sio.s = nil
	sio.ended = true
	if sio.releaseWhenDone {
		sio.releaseWhenDone = false
		sio.h.release(sio.cc)
		return
	}
	if !sio.reqEnded {
		sio.h.closeExchange(sio.cc)
	}
}

// closeExchange ends a stream's exchange outside the pipeline's call stack:
// cleanup (onClose) runs in finishClosing. Idempotent.
func (h *h2Conn) closeExchange(cc *clientConn) {
	if cc.closed {
		return
	}
	cc.closed = true
	h.closing = append(h.closing, cc)
	h.markDirty()
}

// body decodes the HTTP/1.1 framing of response body bytes into out.
func (sio *streamIO) body(b []byte) {
	switch sio.bodyKind {
	case bodyLength:
		k := min(int64(len(b)), sio.left)
		sio.out = append(sio.out, b[:k]...)
		sio.left -= k
		if sio.left == 0 {
			sio.respEnd = true
		}
	case bodyChunked:
		for len(b) > 0 {
			consumed, data, done, err := sio.dec.Decode(b)
			b = b[consumed:]
			if err != nil {
				sio.respEnd = true
				return
			}
			sio.out = append(sio.out, data...)
			if done {
				sio.respEnd = true
				return
			}
			if consumed == 0 {
				return
			}
		}
	}
}

// pump hands buffered body bytes to the stream as its windows allow; the
// stream ends with the last DATA, or with a trailing HEADERS when the body
// had trailers.
func (sio *streamIO) pump() {
	if sio.s == nil || sio.ended || !sio.headDone {
		return
	}
	sio.h.markDirty()
	withTrailers := sio.respEnd && len(sio.trailers) > 0
	if len(sio.out) > 0 {
		n, err := sio.s.WriteData(sio.out, sio.respEnd && !withTrailers)
		if err != nil {
			sio.end(false)
			return
		}
		if n < len(sio.out) {
			sio.out = sio.out[:copy(sio.out, sio.out[n:])]
			return
		}
		sio.out = sio.out[:0]
		if !sio.respEnd {
			return
		}
	} else if !sio.respEnd {
		return
	} else if !withTrailers {
		_, _ = sio.s.WriteData(nil, true)
	}
	if withTrailers {
		// The pipeline filtered them already (appendLastChunk).
		_ = sio.s.WriteTrailersFunc(func(e *h2.HeaderEncoder) {
			parser.ForEachTrailer(sio.trailers, e.Add)
		})
	}
	sio.end(false)
}

// Close ends the exchange: a response cut short resets the stream; a
// complete one keeps the stream until its last DATA fits the window.
func (sio *streamIO) Close() error {
	cc := sio.cc
	if cc.closed {
		return nil
	}
	cc.flush() // what the pipeline queued this event goes before the end
	if cc.closed {
		return nil // the flush ended the response and, with it, the exchange (end)
	}
	cc.closed = true
	if !sio.ended && !(sio.headDone && sio.respEnd) {
		sio.end(true)
	}
	sio.h.closing = append(sio.h.closing, cc)
	sio.h.markDirty()
	return nil
}

// noteH2ConnError counts an HTTP/2 connection the gateway ended with an
// error (a GOAWAY: a flood defence, a protocol violation) in
// portico_h2_connection_errors_total{listener,reason}, and logs it at
// warning level at most once every warnEvery (an attack makes many).
func (s *Server) noteH2ConnError(listener, peer string, err error) {
	reason := "other"
	var ce *h2.ConnError
	if errors.As(err, &ce) && ce.Reason != "" {
		reason = ce.Reason
	}
	s.metrics.h2ErrorCounter(listener, reason).Inc()
	now := balancer.Now()
	if warnDue(&s.h2WarnedAt, now) {
		s.log.Warn("http2 connection ended with an error", "listener", listener, "remote", peer, "error", err.Error(),
			"next_warning_after", warnEvery.String())
		return
	}
	s.log.Debug("http2 connection ended with an error", "listener", listener, "remote", peer, "error", err.Error())
}
