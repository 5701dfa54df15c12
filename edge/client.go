package edge

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/portico-gw/portico/balancer"
	"github.com/portico-gw/portico/edge/accesslog"
	"github.com/portico-gw/portico/edge/h2"
	"github.com/portico-gw/portico/edge/timewheel"
	"github.com/portico-gw/portico/limiter"
	"github.com/portico-gw/portico/parser"
	"github.com/portico-gw/portico/policy"
)

// Client connection states. A connection handles one request at a time;
// pipelined requests wait, unparsed, in gnet's inbound buffer until the
// response before them is complete, which answers them in order.
const (
	stateIdle     = iota // between requests (idle timer armed)
	stateHead            // bytes of a head arrived (header timer armed)
	stateBody            // forwarding the request body
	stateAwait           // request sent; waiting for the response to finish
	stateDiscard         // reading and dropping a body we answered without
	stateClosing         // answered; closing once written
	stateKeyWait         // auth waits for a JWKS refetch; the head stays buffered (auth.go)
	stateBodyWait        // a Content-Length body (or its first bodyWait bytes) is read before an upstream is taken (awaitBody)
)

// bodyKind says how a message body is delimited.
const (
	bodyNone = iota
	bodyLength
	bodyChunked
	bodyUntilClose
)

// downstream is what a clientConn reads requests from and writes responses
// to: a gnet connection, or one HTTP/2 stream (streamIO) that presents
// itself as an HTTP/1.1 connection so every stream runs the same pipeline.
// Slices from Peek are valid until the next Discard.
type downstream interface {
	Peek(n int) ([]byte, error)
	Discard(n int) (int, error)
	InboundBuffered() int
	Write(b []byte) (int, error)
	OutboundBuffered() int
	Close() error
}

// clientConn is one downstream HTTP/1.1 exchange sequence: a TCP connection,
// or an HTTP/2 stream. Loop-owned.
type clientConn struct {
	lp         *loop
	gc         downstream
	raw        gnet.Conn // the socket for read pausing; nil for an HTTP/2 stream
	proto      string    // access log proto of a stream ("HTTP/2.0"); "" for HTTP/1.x
	bl         *boundListener
	peer       netip.Addr
	peerStr    string // "ip" as written into X-Forwarded-For
	peerPort   string
	peerHash   uint64 // limiter key of peerStr, computed on first use
	state      int
	closed     bool
	inProc     bool            // process is running (finishRequest must not re-enter it)
	wbuf       []byte          // writes coalesced within one event
	paused     bool            // reads switched off (see pause.go)
	served     int             // requests started on this connection
	keyWaited  bool            // this request already waited for a JWKS refetch once
	keyWaitGen uint32          // tells a stale wake-up from the current wait
	timer      timewheel.Timer // header or idle timeout
	rtimer     timewheel.Timer // route timeout

	req parser.Request

	// Per request; reset by finishRequest.
	snap        *snapshot
	ls          *listenerSnap
	rt          *route
	up          *upstreamRT
	target      *balancer.Target
	uc          *upConn
	reqID       []byte
	logMethod   []byte
	logHost     []byte
	logPath     []byte
	logRemote   []byte // client address behind trusted proxies, resolved while the head is valid
	logTarget   string // last target tried, kept for the log after the exchange is dropped
	http10      bool   // an HTTP/1.0 client: no chunked responses, keep-alive only when announced
	start       time.Time
	bytesIn     int64
	bytesOut    int64
	status      int
	errCode     string
	isHEAD      bool
	keepAlive   bool
	expect100   bool
	idempotent  bool
	bodyKind    int
	bodyLeft    int64
	bodySeen    int64
	maxBody     int64
	dec         parser.ChunkedDecoder
	reqTrailers []byte // the chunked request body's trailer section, forwarded upstream
	respBegun   bool
	limitsTaken []takenToken // checkLimits' scratch, reused
	cookieBuf   []byte       // several Cookie fields joined (cookies)
	carry       []byte       // what a failed dial held, for the retry to send
	bodyCopy    []byte       // body bytes sent, kept for a retry (retrybody.go)
	copying     bool         // bodyCopy holds every body byte sent so far
	pendingHead int          // 1 + offset in wbuf of a response head not yet sent, else 0
	respDone    bool
	logged      bool // the exchange has its access-log line and count
	reqDone     bool
	headPending int // bytes of the head being started, still in gnet's buffer
	// headScanned is how much of a head still arriving was searched for
	// its end without finding it, headParsed how much of it was last
	// parsed: a read is parsed again only once the end is there, the head
	// is past the limit, or it has doubled since (so an error in it is
	// still answered while it trickles), not from its first byte on every
	// read of a head that comes a byte at a time.
	headScanned, headParsed int
	retriesLeft             int
	staleRetried            bool   // the keep-alive race retry was used
	headCopy                []byte // upstream request head, kept for a retry until the response begins
	pathBuf                 []byte
	rewriteRaw              []byte // what follows the stripped prefix, to normalise (rewritePath)
	rewriteBuf              []byte // the path sent upstream on a route with a rewrite (rewritePath)
	upstreamStart           time.Time
	hdrs                    headerView
	hdrFunc                 policy.HeaderFunc // cc.hdrs.get, bound once per connection
	id                      *policy.Identity  // after auth; shared, read-only
	authChallenge           string            // WWW-Authenticate for the next 401
	certSubject             string            // verified mTLS client certificate (RFC 2253), per connection
	certSHA256              string
	limit                   limiter.Decision // tightest rate-limit decision (hasLimit)
	acceptEnc               uint8            // the coding a compressible response would get (compress.go)
	z                       *compressor      // encoding this response's body; nil: sent as is
	hasLimit                bool
	logEntry                accesslog.Entry
}

func (lp *loop) newClientConn(c gnet.Conn, bl *boundListener) *clientConn {
	cc := &clientConn{lp: lp, gc: c, raw: c, bl: bl}
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		cc.peer = ap.Addr().Unmap()
		cc.peerStr = cc.peer.String()
		cc.peerPort = strconv.Itoa(int(ap.Port()))
	}
	cc.init()
	lp.clients[cc] = struct{}{}
	// The first head must arrive within header_timeout of the accept (a
	// TLS handshake included), not idle_timeout: a connection that never
	// sends a byte would otherwise hold a slot for the whole keep-alive
	// idle time. Past it: 408 and close (SPEC §2), a connection that sent
	// nothing included (as HAProxy answers; nginx closes silently).
	cc.start = lp.now()
	cc.lp.schedule(&cc.timer, cc.listener().headerTimeout)
	return cc
}

// init prepares what every exchange on cc reuses: timers, id and path
// buffers, the header view.
func (cc *clientConn) init() {
	cc.timer.Init(cc)
	cc.rtimer.Init(cc)
	cc.reqID = make([]byte, 0, 128)
	cc.pathBuf = make([]byte, 0, 256)
	cc.hdrs.req = &cc.req
	cc.hdrFunc = cc.hdrs.get
}

func (cc *clientConn) listener() *listenerSnap {
	ls := cc.lp.s.snap.Load().listeners[cc.bl.name]
	if ls == nil { // cannot happen: a reload keeps every bound listener's snapshot
		ls = &listenerSnap{name: cc.bl.name, maxHeaderBytes: 64 << 10, headerTimeout: 10 * time.Second, idleTimeout: 60 * time.Second, maxBodyBytes: 10 << 20, proto: []byte("http")}
	}
	return ls
}

// closing reports whether the connection ends after its current exchange:
// the process drains, or a reload retired its listener.
func (cc *clientConn) closing() bool {
	return cc.lp.s.draining.Load() || cc.bl.retired.Load()
}

func (cc *clientConn) armIdle() {
	cc.lp.wheel.Stop(&cc.timer)
	cc.lp.schedule(&cc.timer, cc.listener().idleTimeout)
}

// OnTimer runs on the loop when the header/idle or route timer fires.
func (cc *clientConn) OnTimer(t *timewheel.Timer, _ int64) {
	if cc.closed {
		return
	}
	if t == &cc.rtimer {
		cc.onRouteTimeout()
		return
	}
	switch cc.state {
	case stateIdle:
		if cc.served == 0 && cc.speaksHTTP1() {
			// No head within header_timeout of the accept: 408 (SPEC §2).
			// Between keep-alive requests idle_timeout runs, and the close
			// is silent.
			cc.state = stateHead
			cc.resetExchange()
			cc.newRequestID(nil)
			cc.respondError(errRequestTimeout, true)
			return
		}
		if ts, ok := cc.gc.(*tlsSession); ok && cc.served == 0 {
			ts.tc.TimeOut() // a handshake left unfinished is counted as timed out
		}
		cc.closeNow()
	case stateKeyWait:
		cc.resumeAfterKeys(cc.keyWaitGen) // waited long enough: authenticate with what there is
	case stateHead:
		buf, _ := cc.gc.Peek(-1)
		if ls := cc.listener(); cc.served == 0 && (!ls.http1 || cc.raw != nil && ls.h2c && len(buf) >= len("PRI ") && isPrefacePrefix(buf)) {
			// An HTTP/2 preface that stopped short, or anything stalled on
			// an HTTP/2-only listener (plaintext or TLS): its client cannot
			// read an HTTP/1.1 408 (see readHead).
			cc.closeNow()
			return
		}
		cc.newRequestID(nil)
		cc.logFromRaw(buf) // what of the request line came, for the log
		cc.respondError(errRequestTimeout, true)
	case stateBody, stateDiscard, stateBodyWait:
		// No body byte for idle_timeout (armBodyTimer): a client trickling
		// or stalling its upload must not hold the connection (and an
		// upstream connection) for ever. Unanswered: 408 and close; an
		// answer already given or begun: close, logged with the reason.
		cc.abortUpstream()
		cc.countHeldBody()
		cc.respondError(errBodyTimeout, true)
	}
}

// countHeldBody counts, for the log's bytes_in, the body bytes a request
// held by awaitBody received before it was answered without them.
func (cc *clientConn) countHeldBody() {
	if cc.state == stateBodyWait {
		cc.bytesIn = min(cc.bodyLeft, int64(cc.gc.InboundBuffered()-cc.headPending))
	}
}

// speaksHTTP1 reports whether an HTTP/1.1 answer can be sent on the
// connection now: the listener speaks HTTP/1.1 (an HTTP/2-only listener's
// client would read it as garbage) and, over TLS, the handshake is done.
func (cc *clientConn) speaksHTTP1() bool {
	if !cc.listener().http1 {
		return cc.h1OnH2OnlyTLS()
	}
	if s, ok := cc.gc.(*tlsSession); ok {
		return s.ready && s.h2 == nil
	}
	return true
}

// h1OnH2OnlyTLS reports a TLS connection to an HTTP/2-only listener whose
// handshake agreed on no protocol: Go's crypto/tls completes it for a
// client that offered only http/1.1 instead of sending
// no_application_protocol (golang/go#46310), so that client speaks
// HTTP/1.1, and an HTTP/1.1 answer (readHead's 505) is one it can read.
func (cc *clientConn) h1OnH2OnlyTLS() bool {
	s, ok := cc.gc.(*tlsSession)
	return ok && s.ready && s.h2 == nil && s.tc.State().NegotiatedProtocol == ""
}

// errHTTP2Only and errH2COnly answer an HTTP/1.x request on an
// HTTP/2-only listener, TLS and plaintext.
var (
	errHTTP2Only = &errorKind{505, "http_version_not_supported", "this listener speaks HTTP/2 only: use a client that offers h2 (ALPN)"}
	errH2COnly   = &errorKind{505, "http_version_not_supported", "this listener speaks HTTP/2 only: use HTTP/2 with prior knowledge (h2c)"}
)

// armBodyTimer (re)starts the wait for the next request-body byte, for
// idle_timeout: always for an HTTP/1.x client; for an HTTP/2 stream only
// while its body is read away after an early answer. A stream's upload is
// otherwise paced by flow control and bounded by the route timeout while
// the upstream reads it; a discarded body has neither.
func (cc *clientConn) armBodyTimer() {
	if cc.raw != nil || cc.state == stateDiscard {
		cc.lp.schedule(&cc.timer, cc.listener().idleTimeout)
	}
}

func (cc *clientConn) onTraffic() gnet.Action {
	if cc.closed {
		return gnet.Close
	}
	if cc.paused {
		cc.lp.setReadInterest(cc.raw, false) // gnet re-armed reads after a flush
		return gnet.None
	}
	cc.process()
	if cc.closed {
		return gnet.Close
	}
	return gnet.None
}

// process runs the state machine over whatever is buffered.
func (cc *clientConn) process() {
	if cc.inProc {
		return
	}
	cc.inProc = true
	cc.processBuffered()
	cc.inProc = false
}

func (cc *clientConn) processBuffered() {
	for !cc.closed {
		switch cc.state {
		case stateIdle, stateHead:
			if cc.raw != nil && cc.gc.OutboundBuffered() > highWater {
				// Answers a pipelining client does not read, of requests
				// answered here (a direct_response, a 401, a 404), would
				// pile up with every request it sends: read no more until
				// they drain, as for an upstream's answer. (An HTTP/2
				// stream is held back by flow control instead.)
				cc.lp.pauseClient(cc)
				return
			}
			if !cc.readHead() {
				return
			}
		case stateBody, stateDiscard:
			if !cc.readBody() {
				return
			}
		case stateBodyWait:
			if !cc.bodyArrived() {
				return
			}
		case stateClosing:
			// Answered and closing (perhaps waiting for the answer to
			// leave): what else the client sends is never read.
			consume(cc.gc, cc.gc.InboundBuffered())
			if raw, ok := cc.gc.(gnet.Conn); ok {
				cc.lp.lingerInput(raw)
			}
			return
		default: // waiting on the upstream or on keys: leave bytes buffered
			if (cc.state == stateAwait || cc.state == stateKeyWait) && cc.gc.InboundBuffered() > cc.ls.maxHeaderBytes+pipelineSlack {
				cc.lp.pauseClient(cc) // a pipelining client must not make us buffer without bound
			}
			return
		}
	}
}

// prefaceRequestLine is the HTTP/1.1-shaped first line of the HTTP/2
// client preface.
var prefaceRequestLine = []byte(h2.ClientPreface[:len("PRI * HTTP/2.0\r\n")])

// methodStart reports whether b can begin an HTTP/1.x request line: upper-
// case letters up to the first space (every registered method is one).
// Anything else (a TLS ClientHello on a plaintext port) need not wait for
// the rest of a line.
func methodStart(b []byte) bool {
	for i, c := range b {
		if c == ' ' {
			return i > 0
		}
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// isPrefacePrefix reports whether b is the start of the HTTP/2 client
// preface.
func isPrefacePrefix(b []byte) bool {
	return len(b) <= len(h2.ClientPreface) && string(b) == h2.ClientPreface[:len(b)]
}

// readHead parses a request head and starts it. It reports whether progress
// was made and processing should continue.
func (cc *clientConn) readHead() bool {
	n := cc.gc.InboundBuffered()
	if n == 0 {
		return false
	}
	if cc.state == stateIdle {
		cc.state = stateHead
		// A new exchange begins with its first byte: an answer Portico
		// makes before startRequest (a parse error, a 408) must not see
		// the previous exchange's state (an answer begun, HEAD, identity).
		cc.resetExchange()
		cc.keyWaited = false
		cc.start = cc.lp.now() // the request's time runs from its first byte
		cc.lp.wheel.Stop(&cc.timer)
		cc.lp.schedule(&cc.timer, cc.listener().headerTimeout)
	}
	buf, _ := cc.gc.Peek(-1)
	ls := cc.listener()
	if cc.served == 0 && cc.raw != nil && ls.h2c && len(buf) > 0 && buf[0] == 'P' {
		isH2, needMore := h2.IsPreface(buf)
		if needMore {
			return false
		}
		if isH2 {
			cc.upgradeToH2()
			return false
		}
		// "PRI * HTTP/2.0" only ever begins an HTTP/2 preface: one that
		// breaks off after it is an HTTP/2 connection error (RFC 9113
		// §3.4), closed without an HTTP/1.1 answer that client could not
		// read, as on an HTTP/2-only listener below.
		if bytes.HasPrefix(buf, prefaceRequestLine) {
			consume(cc.gc, n)
			cc.closeNow()
			return false
		}
	}
	_, overTLS := cc.gc.(*tlsSession)
	// A connection's protocol is settled by its first request: a reload
	// that takes HTTP/1.1 off the listener applies to new connections, and
	// one already served goes on (SPEC §1: no accepted connection dropped).
	h2Only := !ls.http1 && cc.served == 0
	if h2OnlyTLS := h2Only && cc.h1OnH2OnlyTLS(); h2Only && (h2OnlyTLS || !overTLS && cc.raw != nil && !isPrefacePrefix(buf)) {
		// An HTTP/2-only listener, TLS or plaintext (h2c with prior
		// knowledge). Only an HTTP/1.x request line gets the 505, whose
		// client can read it; anything else (a preface without ALPN,
		// garbage) is closed in silence, as RFC 9113 §3.4 allows for an
		// invalid preface.
		b := bytes.TrimLeft(buf, "\r\n") // empty lines before a request line are ignored (RFC 9112 §2.2)
		end := bytes.IndexByte(b, '\n')
		if end < 0 && len(buf) < ls.maxHeaderBytes && methodStart(b) {
			return false // the request line is still coming (header_timeout bounds it)
		}
		line := b[:max(end, 0)]
		line = bytes.TrimSuffix(line, []byte("\r"))
		if end < 0 || !bytes.HasSuffix(line, []byte(" HTTP/1.1")) && !bytes.HasSuffix(line, []byte(" HTTP/1.0")) {
			consume(cc.gc, n)
			cc.closeNow()
			return false
		}
		cc.newRequestID(nil)
		cc.logFromRaw(b)
		consume(cc.gc, n)
		if h2OnlyTLS {
			cc.respondError(errHTTP2Only, true)
		} else {
			cc.respondError(errH2COnly, true)
		}
		return false
	}
	if h2Only && cc.raw != nil {
		// A plaintext HTTP/2-only listener and the start of a preface:
		// wait for the rest; anything else ends the connection without an
		// answer (an HTTP/1.1 response would be garbage to an HTTP/2
		// client).
		if len(buf) < len(h2.ClientPreface) && isPrefacePrefix(buf) {
			return false
		}
		consume(cc.gc, n)
		cc.closeNow()
		return false
	}
	if cc.headParsed > 0 && len(buf) < 2*cc.headParsed && len(buf) <= ls.maxHeaderBytes && parser.HeadEnd(buf, cc.headScanned) < 0 {
		cc.headScanned = len(buf)
		return false
	}
	cc.req.Reset()
	hn, err := parser.ParseRequest(buf, &cc.req, ls.maxHeaderBytes)
	if err == parser.ErrNeedMore {
		cc.headScanned, cc.headParsed = len(buf), len(buf)
		return false
	}
	cc.headScanned, cc.headParsed = 0, 0
	cc.snap = cc.lp.s.snap.Load()
	cc.ls = ls
	if err != nil {
		cc.newRequestID(nil)
		status := 400
		if pe, ok := err.(*parser.Error); ok {
			status = pe.Status
		}
		cc.logFromRaw(buf)
		consume(cc.gc, n)
		cc.respondError(errorForStatus(status), true)
		return false
	}
	cc.lp.wheel.Stop(&cc.timer)
	cc.served++
	cc.headPending = hn
	cc.startRequest(buf[:hn])
	if cc.state == stateKeyWait {
		// Parked: the head stays buffered and is read again on resume.
		cc.served--
		return false
	}
	if cc.state == stateBodyWait {
		return false // the head stays buffered until the body is in (bodyArrived)
	}
	consume(cc.gc, hn)
	cc.headPending = 0
	return true
}

// logFromRaw fills the access-log fields from an unparsable head as far as
// its first line goes, so rejected requests are still attributable.
func (cc *clientConn) logFromRaw(buf []byte) {
	cc.logMethod, cc.logPath, cc.logHost = cc.logMethod[:0], cc.logPath[:0], cc.logHost[:0]
	cc.logRemote, cc.logTarget = cc.logRemote[:0], ""
	line := buf
	for i, b := range buf {
		if b == '\r' || b == '\n' || i >= 256 {
			line = buf[:i]
			break
		}
	}
	// The log's proto: HTTP/1.1 unless the line says 1.0 (the parser may
	// have stopped before the version).
	cc.http10 = bytes.HasSuffix(line, []byte(" HTTP/1.0"))
	// The method is the token it begins with; only a single space after
	// it makes what follows a target. Credentials never reach the log:
	// the query and fragment are cut (as for parsed requests), and an
	// absolute-form target is logged by its path, without the authority
	// and any user:password in it.
	m := 0
	for m < len(line) && m < 32 && parser.ValidToken(line[m:m+1]) {
		m++
	}
	cc.logMethod = append(cc.logMethod, line[:m]...)
	if m == 0 || m == len(line) || line[m] != ' ' {
		cc.logHost = append(cc.logHost, rawHost(buf)...)
		return
	}
	target := line[m+1:]
	for j, b := range target {
		if b <= ' ' || b == 0x7f || b == '?' || b == '#' {
			target = target[:j]
			break
		}
	}
	if len(target) > 0 && target[0] != '/' {
		if i := bytes.Index(target, []byte("://")); i >= 0 {
			target = target[i+3:]
		}
		if i := bytes.IndexByte(target, '/'); i >= 0 {
			target = target[i:]
		} else {
			target = nil // authority only (absolute-form without a path, authority-form)
		}
	}
	cc.logPath = append(cc.logPath, target...)
	cc.logHost = append(cc.logHost, rawHost(buf)...)
}

// rawHost finds the Host field of a head that never parsed (a 408 on a
// partial head, a 400), for the log only: the first "Host:" line within
// the first 8 KiB, its value trimmed and cut at 256 bytes.
func rawHost(buf []byte) []byte {
	buf = buf[:min(len(buf), 8<<10)]
	for len(buf) > 0 {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			return nil // the line may still be arriving: not a whole value
		}
		line := bytes.TrimRight(buf[:i], "\r")
		buf = buf[i+1:]
		if len(line) == 0 {
			return nil // the head ended: what follows is a body or the next request
		}
		if len(line) >= 5 && parser.EqualFoldString(line[:5], "host:") {
			v := bytes.Trim(line[5:], " \t")
			return v[:min(len(v), 256)]
		}
	}
	return nil
}

func (cc *clientConn) newRequestID(client []byte) {
	cc.reqID = cc.reqID[:0]
	if client != nil && parser.ValidRequestID(client) {
		cc.reqID = append(cc.reqID, client...)
		return
	}
	cc.reqID = appendNewID(cc.reqID, requestIDLen/2)
}

// resetExchange clears what one exchange leaves on cc before the next.
func (cc *clientConn) resetExchange() {
	cc.bytesIn, cc.bytesOut, cc.status, cc.errCode = 0, 0, 0, ""
	cc.isHEAD, cc.expect100, cc.bodyKind = false, false, bodyNone
	cc.rt, cc.up, cc.target, cc.respBegun, cc.respDone, cc.reqDone = nil, nil, nil, false, false, false
	cc.pendingHead, cc.headScanned, cc.headParsed = 0, 0, 0
	cc.carry = nil
	cc.dropBodyCopy()
	cc.id, cc.authChallenge, cc.hasLimit = nil, "", false
	cc.staleRetried, cc.logged = false, false
}

// startRequest runs the pipeline for a parsed head: normalise, route, check
// limits, then answer directly or send the head upstream. head stays valid
// only during this call.
func (cc *clientConn) startRequest(head []byte) {
	r := &cc.req
	cc.resetExchange()
	cc.newRequestID(cc.hdrs.get("X-Request-Id"))
	cc.logMethod = append(cc.logMethod[:0], r.Method...)
	cc.logHost = append(cc.logHost[:0], r.Host...)
	// The path without its query: a query can carry credentials
	// (token_from query:, api keys) that must never reach the log.
	cc.logPath = append(cc.logPath[:0], r.Path...)
	cc.logRemote, cc.logTarget = cc.logRemote[:0], ""
	if len(cc.ls.trusted) > 0 && cc.lp.s.access.Enabled() {
		cc.logRemote = append(cc.logRemote, cc.clientAddr()...)
	}
	cc.http10 = cc.proto == "" && r.ProtoMinor == 0
	cc.isHEAD = isHEAD(r.Method)
	cc.keepAlive = r.KeepAlive && !cc.closing()
	cc.expect100 = r.Expect100
	cc.idempotent = idempotentMethod(r.Method)
	cc.bodySeen = 0
	switch {
	case r.Chunked:
		cc.bodyKind = bodyChunked
		cc.dec.Reset()
		cc.reqTrailers = cc.reqTrailers[:0]
		cc.dec.KeepTrailers(&cc.reqTrailers)
	case r.ContentLength > 0:
		cc.bodyKind, cc.bodyLeft = bodyLength, r.ContentLength
	default:
		cc.bodyKind, cc.bodyLeft = bodyNone, 0
	}

	if r.Form == parser.FormAsterisk {
		cc.respondAndSkipBody(errAsteriskTarget)
		return
	}
	var err error
	cc.pathBuf, err = parser.NormalizePath(cc.pathBuf[:0], r.Path)
	if err != nil {
		cc.respondError(errBadPath, true)
		return
	}
	cc.pathBuf = oneLeadingSlash(cc.pathBuf)
	idx := cc.snap.table.Lookup(r.Host, r.Method, cc.pathBuf, &cc.hdrs)
	if idx < 0 {
		cc.respondAndSkipBody(errNotFound)
		return
	}
	rt := cc.snap.routes[idx]
	cc.rt = rt
	cc.acceptEnc = encIdentity
	if len(rt.compress) > 0 && !cc.isHEAD {
		// HEAD gets the identity headers, as nginx's gzip does: no body
		// to encode, and no encoder taken for it.
		cc.acceptEnc = chooseEncoding(rt.compress, r.Fields)
	}
	if rt.auth != nil && !cc.authenticate(rt.auth) {
		return
	}
	if len(rt.limits) > 0 && !cc.checkLimits(rt.limits) {
		return
	}
	cc.maxBody = rt.maxBody
	if cc.maxBody <= 0 {
		cc.maxBody = cc.ls.maxBodyBytes
	}
	if cc.bodyKind == bodyLength && cc.maxBody > 0 && r.ContentLength > cc.maxBody {
		cc.respondError(errPayloadTooLarge, true)
		return
	}
	if rt.direct != nil {
		cc.respondDirect(rt.direct)
		return
	}
	if (rt.stripPrefix != "" || rt.addPrefix != "") && !cc.rewritePath() {
		cc.respondError(errBadPath, true)
		return
	}
	if cc.awaitBody() {
		return
	}
	cc.toUpstream()
}

// bodyWait is how much of a Content-Length request body is read before
// the request takes an upstream target (awaitBody): all of it when it is
// smaller. HTTP/2 streams wait for less (bodyWaitBytes).
const bodyWait = 64 << 10

// bodyWaitMax bounds that wait on a route without a timeout: at least
// bodyWait bytes in this time (2 KiB/s) or all of a smaller body.
const bodyWaitMax = 30 * time.Second

// awaitBody holds a request until its Content-Length body has arrived, or
// its first bodyWait bytes have (fewer on HTTP/2: bodyWaitBytes), before
// it takes an upstream target and connection: a client trickling its body
// cannot hold upstream capacity (a max_conns slot) for the route timeout
// at the cost of a few bytes, as HAProxy's http-buffer-request and nginx's
// request buffering avoid. The wait is bounded by idle_timeout between
// bytes (HTTP/1.1; an HTTP/2 stream has its connection's timers) and the
// route timeout (else bodyWaitMax) in all: past it, 408. Larger bodies
// then stream as they come, never held whole. Not held: chunked bodies and
// HTTP/2 ones of unknown length (a streaming client may wait for the
// upstream's answer before it sends more, as bidirectional calls do), and
// bodies behind Expect: 100-continue (the client waits for the upstream's
// 100). It reports whether the request was held.
func (cc *clientConn) awaitBody() bool {
	if cc.bodyKind != bodyLength || cc.expect100 || cc.bodyBuffered() {
		return false
	}
	cc.state = stateBodyWait
	cc.armBodyTimer()
	wait := cc.rt.timeout
	if wait <= 0 {
		wait = bodyWaitMax
	}
	cc.lp.schedule(&cc.rtimer, wait)
	return true
}

// bodyBuffered reports whether the body behind the head is in, or
// bodyWaitBytes of it are.
func (cc *clientConn) bodyBuffered() bool {
	return int64(cc.gc.InboundBuffered()-cc.headPending) >= min(cc.bodyLeft, cc.bodyWaitBytes())
}

// bodyWaitBytes is how much of a larger body awaitBody waits for; on
// HTTP/2, the connection's holdShare.
func (cc *clientConn) bodyWaitBytes() int64 {
	if sio, stream := cc.gc.(*streamIO); stream {
		return sio.h.holdShare
	}
	return bodyWait
}

// bodyArrived moves a request out of stateBodyWait once awaitBody's wait
// is over. The head is parsed again first: the fields parsed before may
// view a buffer that has moved since.
func (cc *clientConn) bodyArrived() bool {
	if !cc.bodyBuffered() {
		cc.armBodyTimer()
		return false
	}
	cc.lp.wheel.Stop(&cc.rtimer)
	cc.lp.wheel.Stop(&cc.timer)
	buf, _ := cc.gc.Peek(-1)
	hn, err := parser.ParseRequest(buf, &cc.req, cc.ls.maxHeaderBytes)
	if err != nil || hn != cc.headPending {
		consume(cc.gc, cc.gc.InboundBuffered())
		cc.respondError(errBadRequest, true) // cannot happen: the same bytes parsed before
		return false
	}
	cc.toUpstream()
	consume(cc.gc, hn)
	cc.headPending = 0
	return cc.state == stateBody
}

// toUpstream takes an upstream target and sends the request on.
func (cc *clientConn) toUpstream() {
	rt := cc.rt
	up := rt.pickUpstream()
	cc.up = up
	cc.retriesLeft = rt.retryAttempts
	if up.retried {
		up.pool.RetryBudget().Request() // what a retry may spend is earned by requests
	}
	cc.startBodyCopy()
	cc.headCopy = cc.buildUpstreamHead(cc.headCopy[:0])
	cc.upstreamStart = cc.lp.now()
	if rt.timeout > 0 {
		cc.lp.schedule(&cc.rtimer, rt.timeout)
	}
	if !cc.connectUpstream(nil) {
		return
	}
	cc.dropUnneededCopy()
	cc.state = stateBody
	if cc.bodyKind == bodyNone {
		cc.requestSent()
	}
}

// connectUpstream picks a target and binds an upstream connection carrying
// the head. exclude is the target that just failed, for retries.
func (cc *clientConn) connectUpstream(exclude *balancer.Target) bool {
	now := cc.lp.nanos()
	var t *balancer.Target
	key := cc.hashKey(cc.up)
	if exclude != nil {
		t = cc.up.pool.PickExcluding(key, now, exclude)
	} else {
		t = cc.up.pool.Pick(key, now)
	}
	if t == nil {
		cc.failUpstream(errUnavailable)
		return false
	}
	if !t.Acquire() {
		cc.failUpstream(errOverloaded)
		return false
	}
	cc.target, cc.logTarget = t, t.Address()
	hp := cc.lp.pool(cc.up, t.Address())
	uc := hp.get(cc)
	cc.uc = uc
	if cc.carry != nil {
		uc.write(cc.carry) // a retry after a failed dial: head and body so far
		cc.carry = nil
	} else {
		uc.write(cc.headCopy)
		cc.resendBody(uc)
	}
	return true
}

// failUpstream answers a Portico error for a request whose upstream leg
// failed before any response byte reached the client.
func (cc *clientConn) failUpstream(e *errorKind) {
	cc.lp.wheel.Stop(&cc.rtimer)
	if cc.reqDone || cc.bodyKind == bodyNone {
		cc.respondError(e, false)
		return
	}
	// The body was not fully read: the connection cannot be reused.
	cc.respondError(e, true)
}

// Methods are compared without regard to case, as routes match them: an
// origin that upper-cases "head" answers it without a body, which the
// relay must then expect.
func idempotentMethod(m []byte) bool {
	for _, x := range [...]string{"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"} {
		if parser.EqualFoldString(m, x) {
			return true
		}
	}
	return false
}

func isHEAD(m []byte) bool { return parser.EqualFoldString(m, "HEAD") }

// readBody forwards (or discards) buffered request body bytes.
func (cc *clientConn) readBody() bool {
	if cc.bodyKind == bodyNone {
		cc.requestSent()
		return true
	}
	if cc.state == stateBody && cc.upstreamBacklogged() {
		// The upstream reads slower than the client sends: the wait is
		// ours, not the client's (the route timeout still bounds it).
		cc.lp.wheel.Stop(&cc.timer)
		cc.lp.pauseClient(cc)
		return false
	}
	if !(cc.state == stateBody && cc.expect100 && cc.bytesIn == 0) {
		// A client that sent Expect: 100-continue holds its body until
		// the upstream's 100 (forwarded: the timer starts then) or a
		// final answer: its silence is not a stall.
		cc.armBodyTimer()
	}
	buf, _ := cc.gc.Peek(-1)
	if len(buf) == 0 {
		return false
	}
	discard := cc.state == stateDiscard
	switch cc.bodyKind {
	case bodyLength:
		k := int64(len(buf))
		if k > cc.bodyLeft {
			k = cc.bodyLeft
		}
		if !discard {
			cc.sendBody(buf[:k])
			if cc.state != stateBody { // the exchange ended inside the write
				consume(cc.gc, int(k))
				return false
			}
		}
		cc.bodyLeft -= k
		cc.bytesIn += k
		consume(cc.gc, int(k))
		if cc.bodyLeft == 0 {
			cc.bodyEnd(discard)
			return true
		}
		return false
	case bodyChunked:
		total := 0
		for total < len(buf) {
			consumed, data, done, err := cc.dec.Decode(buf[total:])
			total += consumed
			if err != nil {
				consume(cc.gc, total)
				cc.abortUpstream()
				cc.respondError(errBadRequest, true)
				return false
			}
			cc.bodySeen += int64(len(data))
			cc.bytesIn += int64(len(data))
			// A chunk whose size alone passes the limit is refused on its
			// size line, as nginx does, not after its bytes.
			if cc.maxBody > 0 && (cc.bodySeen > cc.maxBody || cc.dec.Declared() > uint64(cc.maxBody-cc.bodySeen)) {
				consume(cc.gc, total)
				cc.abortUpstream()
				cc.respondError(errPayloadTooLarge, true)
				return false
			}
			if len(data) > 0 {
				if !discard {
					sc := parser.AppendChunkHeader(cc.lp.scratch[:0], len(data))
					cc.sendBody(sc)
					cc.sendBody(data)
					cc.sendBody(crlf)
					if cc.state != stateBody { // the exchange ended inside the write
						consume(cc.gc, total)
						return false
					}
				}
			}
			if done {
				consume(cc.gc, total)
				if !discard {
					cc.sendBody(appendLastChunk(cc.lp.scratch[:0], cc.reqTrailers, cc.rt.requestNames(), false))
				}
				cc.bodyEnd(discard)
				return true
			}
			if consumed == 0 {
				break
			}
		}
		consume(cc.gc, total)
		return false
	}
	return false
}

var (
	crlf      = []byte("\r\n")
	lastChunk = []byte("0\r\n\r\n")
)

func (cc *clientConn) bodyEnd(discarded bool) {
	cc.lp.wheel.Stop(&cc.timer) // the body is in: no more waiting on the client
	if discarded {
		cc.reqDone = true
		cc.finishRequest()
		return
	}
	cc.requestSent()
}

// requestSent marks the request fully forwarded; the response may already
// be complete (an upstream that answered early).
func (cc *clientConn) requestSent() {
	cc.reqDone = true
	if cc.respDone {
		cc.finishRequest()
		return
	}
	cc.state = stateAwait
}

// abortUpstream drops the current upstream exchange: its connection cannot
// be reused since the message on it is incomplete.
func (cc *clientConn) abortUpstream() {
	cc.lp.wheel.Stop(&cc.rtimer)
	cc.releaseCompressor()
	cc.dropBodyCopy()
	if uc := cc.uc; uc != nil {
		cc.uc = nil
		uc.cc = nil
		uc.discard()
	}
	if cc.target != nil {
		cc.target.Release()
		cc.target = nil
	}
}

func (cc *clientConn) onRouteTimeout() {
	if cc.state == stateBodyWait {
		// The client's body did not come in time: its delay, not the
		// upstream's (408, as a stalled body).
		cc.countHeldBody()
		cc.respondError(errBodyTimeout, true)
		return
	}
	if cc.uc == nil || cc.respDone {
		return
	}
	if cc.target != nil {
		cc.target.ReportFailure(balancer.Now())
	}
	cc.abortUpstream()
	cc.respondError(errGatewayTimeout, !cc.reqDone)
}

// cutAnswer ends an exchange whose answer has begun reaching the client
// when Portico must fail it (a route timeout, a request body that turned
// out bad or too large while the upstream was already answering): an
// error envelope now would land inside that answer, so the only honest
// signal is a close (HTTP/2: RST_STREAM). The log keeps the status the
// client got, with e's code as the reason.
func (cc *clientConn) cutAnswer(e *errorKind) {
	cc.abortUpstream()
	cc.keepAlive = false
	if cc.errCode == "" { // an early answer's own reason stays
		cc.errCode = e.code
	}
	cc.logRequest()
	cc.closeNow()
}

// skipBodyMax is the largest announced body drained to keep a connection
// after an early answer; past it the connection closes instead.
const skipBodyMax = 64 << 10

// respondAndSkipBody answers e; a small announced body is drained so the
// connection stays usable, anything else closes it.
func (cc *clientConn) respondAndSkipBody(e *errorKind) {
	if cc.bodyKind == bodyNone {
		cc.respondError(e, false)
		return
	}
	if cc.bodyKind != bodyLength || cc.bodyLeft > skipBodyMax || cc.bodyWithheld() {
		cc.respondError(e, true)
		return
	}
	cc.writeError(e, false)
	cc.state = stateDiscard
}

// bodyWithheld reports whether the client sent Expect: 100-continue, got
// no 100 and has sent no body byte yet (none read, none buffered): after a final answer it may never
// send the body (RFC 9110 §10.1.1). Waiting to read it away would hold the
// connection until the idle timeout, and reading on would take the next
// request for body bytes, so such an exchange ends with a close.
func (cc *clientConn) bodyWithheld() bool {
	return cc.expect100 && cc.bytesIn == 0 && cc.bodyKind != bodyNone && !cc.reqDone && cc.gc.InboundBuffered() <= cc.headPending
}

func (cc *clientConn) respondDirect(d *directResponse) {
	withheld := cc.bodyWithheld()
	if withheld {
		cc.keepAlive = false
	}
	cc.status = d.status
	b := appendStatusLine(cc.lp.scratch[:0], d.status)
	if d.status == 204 || d.status == 304 {
		// No content, so no Content-Length (RFC 9110 §8.6: MUST NOT on a
		// 204) and no Content-Type; the line break it would end goes here.
		b = b[:len(b)-2]
	} else {
		if !cc.rt.respHeaders.ownContentType {
			b = append(b, "Content-Type: "...)
			b = append(b, d.contentType...)
			b = append(b, crlf...)
		}
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(d.body)), 10)
	}
	b = cc.appendCommonResponseHeaders(b, cc.rt.respHeaders.ownDate)
	b = cc.appendRateLimitHeaders(b, cc.rt.respHeaders.ownRateLimit)
	b = appendHeaderOps(b, &cc.rt.respHeaders)
	b = append(b, crlf...)
	if !cc.isHEAD {
		b = append(b, d.body...)
		cc.bytesOut = int64(len(d.body))
	}
	cc.lp.scratch = b[:0]
	cc.writeClient(b)
	if cc.bodyKind != bodyNone && !withheld {
		cc.state = stateDiscard
		return
	}
	cc.reqDone = true
	cc.finishRequest()
}

// writeError writes a SPEC §4 error response without changing state.
func (cc *clientConn) writeError(e *errorKind, closeAfter bool) {
	if closeAfter {
		cc.keepAlive = false
	}
	cc.status, cc.errCode = e.status, e.code
	body := appendErrorBody(cc.lp.scratch[:0], e, cc.reqID)
	bodyLen := len(body)
	b := appendStatusLine(body, e.status) // appended after the body in scratch
	b = append(b, "Content-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(bodyLen), 10)
	if cc.authChallenge != "" {
		b = append(b, "\r\nWWW-Authenticate: "...)
		b = append(b, cc.authChallenge...)
	}
	b = cc.appendCommonResponseHeaders(b, false)
	b = cc.appendRateLimitHeaders(b, 0)
	b = append(b, crlf...)
	cc.lp.scratch = b[:0]
	cc.writeClient(b[bodyLen:])
	if !cc.isHEAD {
		cc.writeClient(b[:bodyLen])
		cc.bytesOut = int64(bodyLen)
	}
}

// respondError answers e and finishes the request.
func (cc *clientConn) respondError(e *errorKind, closeAfter bool) {
	// In stateDiscard the exchange was answered already (an early error, a
	// direct response) and only its body is being read away: a second
	// answer would desynchronise the connection.
	if cc.state == stateDiscard || cc.respBegun && !cc.retractHead() {
		cc.cutAnswer(e)
		return
	}
	cc.writeError(e, closeAfter)
	cc.reqDone = true
	cc.respDone = true
	cc.finishRequest()
}

// appendCommonResponseHeaders adds Date and X-Request-Id to a response
// Portico makes itself, and the connection's fate.
func (cc *clientConn) appendCommonResponseHeaders(b []byte, routeOwnsDate bool) []byte {
	if !routeOwnsDate {
		b = append(b, "\r\nDate: "...)
		b = append(b, cc.lp.httpDate()...)
	}
	b = append(b, "\r\nX-Request-Id: "...)
	b = append(b, cc.reqID...)
	b = cc.appendConnectionHeader(b)
	return append(b, crlf...)
}

// appendConnectionHeader says whether the connection outlives this
// response: "close" when it does not; "keep-alive" to an HTTP/1.0 client
// when it does, since HTTP/1.0 closes unless told otherwise (RFC 9112 §9.3).
func (cc *clientConn) appendConnectionHeader(b []byte) []byte {
	if cc.keepAlive && cc.closing() {
		cc.keepAlive = false // draining or retiring began during this request: say so (RFC 9112 §9.6)
	}
	switch {
	case !cc.keepAlive:
		b = append(b, "\r\nConnection: close"...)
	case cc.http10:
		b = append(b, "\r\nConnection: keep-alive"...)
	}
	return b
}

// writeClient queues b for the client. Writes made while handling one event
// are coalesced and flushed once by loop.flushDirty, so a small response
// (head and body) costs one write syscall.
func (cc *clientConn) writeClient(b []byte) {
	if cc.closed {
		return
	}
	if len(cc.wbuf)+len(b) > coalesceMax {
		cc.flush()
		if cc.closed {
			return
		}
		if len(b) > coalesceMax {
			cc.send(b)
			return
		}
	}
	if len(cc.wbuf) == 0 {
		cc.lp.dirtyClients = append(cc.lp.dirtyClients, cc)
	}
	cc.wbuf = append(cc.wbuf, b...)
}

// notePendingHead records that the last n bytes queued are the response
// head, so it can be taken back while it has not left (retractHead).
func (cc *clientConn) notePendingHead(n int) {
	cc.pendingHead = 0
	if n <= len(cc.wbuf) {
		cc.pendingHead = len(cc.wbuf) - n + 1
	}
}

// retractHead drops a response head (and the body bytes behind it) that
// is still queued, and reports whether it did: an upstream response found
// broken in the callback that read its head is then answered 502 like any
// other bad response, rather than sent as a success that breaks off.
func (cc *clientConn) retractHead() bool {
	if cc.pendingHead == 0 {
		return false
	}
	cc.wbuf = cc.wbuf[:cc.pendingHead-1]
	cc.pendingHead = 0
	cc.respBegun = false
	return true
}

func (cc *clientConn) flush() {
	cc.pendingHead = 0
	if len(cc.wbuf) > 0 && !cc.closed {
		cc.send(cc.wbuf)
	}
	cc.wbuf = cc.wbuf[:0]
}

// writeThroughMin is the body piece from which writeThrough beats a
// copy into wbuf.
const writeThroughMin = 4 << 10

// writeThrough sends what is queued for a plain-socket client and then
// parts (a body piece, with its chunk framing when there is some) in one
// sendmsg, instead of copying them into wbuf to leave at the end of the
// event (the copy was 4% of the CPU of a 16 KiB answer). TLS and HTTP/2
// clients copy when they frame anyway: for them, and for small pieces,
// it is writeClient.
func (cc *clientConn) writeThrough(size int, parts ...[]byte) {
	if cc.closed {
		return
	}
	if size < writeThroughMin || !cc.plainSocket() {
		for _, b := range parts {
			cc.writeClient(b)
		}
		return
	}
	cc.pendingHead = 0 // the head leaves now
	writevConn(cc.raw, cc.wbuf, parts...)
	cc.wbuf = cc.wbuf[:0]
}

// plainSocket: the client is a plain HTTP/1.x connection written directly.
func (cc *clientConn) plainSocket() bool { return cc.raw != nil && cc.gc == downstream(cc.raw) }

// send writes b to the client now: the raw socket of a plain HTTP/1.x
// connection, or the TLS session or HTTP/2 stream presented as one.
func (cc *clientConn) send(b []byte) {
	if cc.plainSocket() {
		writeConn(cc.raw, b)
	} else {
		_, _ = cc.gc.Write(b)
	}
}

// finishRequest logs the exchange and readies the connection for the next
// request, or closes it.
func (cc *clientConn) finishRequest() {
	cc.pendingHead = 0 // a finished answer is never taken back
	cc.lp.wheel.Stop(&cc.rtimer)
	cc.releaseCompressor()
	cc.dropBodyCopy()
	cc.logRequest()
	// The parsed head points into the input it arrived in; over TLS that
	// may be a plaintext buffer grown for a large body, which an idle
	// connection would otherwise keep until its next request.
	cc.req.Reset()
	if cc.target != nil {
		cc.target.Release()
		cc.target = nil
	}
	cc.uc = nil
	cc.rt, cc.up, cc.snap = nil, nil, nil
	if !cc.keepAlive || cc.closed {
		cc.state = stateClosing
		cc.closeNow()
		return
	}
	cc.state = stateIdle
	cc.logged = false // what comes next (a request, a 408) is logged anew
	cc.armIdle()
	// Pipelined requests wait unparsed behind this one. An exchange that
	// ended on an upstream or timer event (a response, a 502, a 504)
	// must start them: no client event may come to do it. A paused client
	// too: pausing stops reading the socket, not serving what was read
	// (else a pipelining flood is served one request per resume tick).
	if !cc.inProc && cc.gc.InboundBuffered() > 0 {
		cc.process()
	}
}

// elapsed is the request's time so far. A request answered in the callback
// that read it (a direct response, most of Portico's own errors) would
// measure 0 on the callback's one cached clock read: the clock is read again
// then, which costs nothing on the proxied path.
func (cc *clientConn) elapsed() time.Duration {
	if now := cc.lp.now(); now.After(cc.start) {
		return now.Sub(cc.start)
	}
	return cc.lp.readClock().Sub(cc.start)
}

func (cc *clientConn) logRequest() {
	// Once per exchange: a write that fails inside the pipeline can close
	// the connection (and log it as cut) before the pipeline itself ends
	// the exchange.
	if cc.logged {
		return
	}
	cc.logged = true
	routeName := ""
	took := cc.elapsed()
	if cc.rt != nil {
		routeName = cc.rt.name
		cc.rt.metrics.countRequest(cc.bl.name, cc.status)
		cc.rt.metrics.duration.Update(took.Seconds())
	} else {
		cc.lp.s.metrics.noRoute(cc.bl.name, cc.status, took.Seconds())
	}
	al := cc.lp.s.access
	if !al.Enabled() {
		return
	}
	e := &cc.logEntry
	*e = accesslog.Entry{
		Time:       cc.start,
		RequestID:  cc.reqID,
		RemoteAddr: cc.logRemote,
		Method:     cc.logMethod,
		Host:       cc.logHost,
		Path:       cc.logPath,
		Proto:      "HTTP/1.1",
		Status:     cc.status,
		BytesIn:    cc.bytesIn,
		BytesOut:   cc.bytesOut,
		Duration:   took,
		Route:      routeName,
		ErrorCode:  cc.errCode,
	}
	if len(e.RemoteAddr) == 0 {
		e.RemoteAddr = cc.lp.scratchAddr(cc.peerStr)
	}
	if cc.proto != "" {
		e.Proto = cc.proto
	} else if cc.http10 {
		e.Proto = "HTTP/1.0"
	}
	if cc.up != nil {
		e.Upstream = cc.up.name
	}
	e.Target = cc.logTarget
	if cc.id != nil {
		e.Consumer = cc.id.Consumer
	}
	al.Log(e)
}

// closeNow closes the connection after what is already written is flushed.
func (cc *clientConn) closeNow() {
	if cc.closed {
		return
	}
	cc.state = stateClosing
	cc.flush() // what this event queued goes out before the close
	if raw, ok := cc.gc.(gnet.Conn); ok {
		cc.lp.closeWhenSent(raw, cc.listener().idleTimeout)
		return
	}
	_ = cc.gc.Close() // a TLS session (it lingers the same way) or an HTTP/2 stream
}

func (cc *clientConn) onClose(error) {
	cc.closed = true
	delete(cc.lp.clients, cc)
	cc.lp.wheel.Stop(&cc.timer)
	cc.lp.wheel.Stop(&cc.rtimer) // an HTTP/2 stream's conn is pooled for the next stream
	switch cc.state {
	case stateBody, stateAwait, stateDiscard, stateKeyWait, stateBodyWait:
		// The client left (or reset its stream) before the exchange ended:
		// still one access-log line and one count (SPEC §5, §6). With no
		// answer begun that is 499, nginx's "client closed request".
		if cc.status == 0 {
			cc.status, cc.errCode = statusClientClosed, codeClientClosed
		} else if cc.errCode == "" && !cc.respDone && cc.state != stateDiscard {
			cc.errCode = codeClientClosed // left mid-answer: the status it got, and why it ended
		}
		cc.logRequest()
		cc.state = stateClosing
	}
	cc.abortUpstream()
}

// statusClientClosed is logged and counted for a request whose client
// went away before any answer; never sent.
const (
	statusClientClosed = 499
	codeClientClosed   = "client_closed"
)

func (cc *clientConn) releaseCompressor() {
	if cc.z != nil {
		cc.lp.compressors.put(cc.z)
		cc.z = nil
	}
}

// consume discards n buffered input bytes. gnet's Discard treats n <= 0 as
// "everything", so a zero-length consume (a partial frame or chunk line
// that is still waiting for bytes) must not reach it.
func consume(c interface{ Discard(int) (int, error) }, n int) {
	if n > 0 {
		_, _ = c.Discard(n)
	}
}
