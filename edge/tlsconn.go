package edge

import (
	"github.com/panjf2000/gnet/v2"

	edgetls "github.com/portico-gw/portico/tls"
)

// tlsSession is the context of a client socket on a TLS listener. It
// decrypts on the loop (DESIGN.md principle 6) into a plaintext buffer that
// its owner reads as its downstream: a clientConn for HTTP/1.1, or an
// h2Conn when ALPN chose h2. The handshake itself runs on a short-lived
// goroutine of the tls package, capped per loop; that goroutine only wakes
// the connection, and the loop sends every byte itself, in order.
type tlsSession struct {
	lp       *loop
	raw      gnet.Conn
	tc       *edgetls.Conn
	plain    plainBuf
	cc       *clientConn // HTTP/1.1 owner (also the h2 connection's prototype)
	h2       *h2Conn     // set when ALPN chose h2
	ready    bool        // handshake done and owner chosen
	closed   bool
	hsPaused bool // reads paused until the handshake ends
	hsFed    int  // bytes fed while the handshake ran
	// unreadAnswers: bytes of KeyUpdate answers queued while the output
	// queue was past highWater (keyUpdateSlack).
	unreadAnswers int
}

// handshakeFeedMax is what is fed to a handshake in progress, in all: room
// for a client's flights with a long certificate chain (mTLS) and for
// application data sent right behind them, yet under the tls package's
// MaxHandshakeBuffered, past which it fails the connection. The rest waits
// in the socket until the handshake ends.
const handshakeFeedMax = edgetls.MaxHandshakeBuffered * 3 / 4

func (lp *loop) newTLSSession(c gnet.Conn, cc *clientConn, srv *edgetls.Server) *tlsSession {
	s := &tlsSession{lp: lp, raw: c, cc: cc}
	s.tc = srv.NewConn(c.RemoteAddr(), c.LocalAddr(), lp.handshakes, func() { _ = c.Wake(nil) })
	cc.gc = s
	return s
}

// onTraffic runs for bytes from the socket and for wakes from the handshake.
func (s *tlsSession) onTraffic() gnet.Action {
	if s.closed {
		return gnet.Close
	}
	if s.lp.lingers(s.raw) {
		// Closing, output still leaving (closeWhenSent): what the client
		// sends now (its close_notify, WINDOW_UPDATEs) is dropped unread.
		consume(s.raw, s.raw.InboundBuffered())
		s.lp.lingerInput(s.raw)
		return gnet.None
	}
	if s.cc.paused && s.h2 == nil {
		s.lp.setReadInterest(s.raw, false) // gnet re-armed reads after a flush
		return gnet.None
	}
	if buf, _ := s.raw.Peek(-1); len(buf) > 0 {
		if s.hsFed == 0 && !s.tc.HandshakeDone() && buf[0] >= 'A' && buf[0] <= 'Z' {
			// A TLS connection starts with a handshake record (0x16); an
			// upper-case letter is an HTTP/1.x method sent in the clear.
			// Say so in HTTP, as nginx does, rather than close in silence.
			// Logged and counted like any 400 Portico makes: the client
			// holds its request id, and a misconfigured client or health
			// check must be visible.
			cc := s.cc
			cc.resetExchange()
			cc.newRequestID(nil)
			cc.logFromRaw(buf)
			consume(s.raw, len(buf))
			cc.status, cc.errCode = errPlainHTTPOnTLS.status, errPlainHTTPOnTLS.code
			out, bodyLen := appendPlainHTTPOnTLS(s.lp.scratch[:0], cc.reqID, s.lp.httpDate())
			writeConn(s.raw, out)
			cc.bytesOut = int64(bodyLen)
			cc.logRequest()
			s.closed = true
			return gnet.Close
		}
		if !s.tc.HandshakeDone() {
			// A client may send application data right behind its last
			// handshake flight; the tls package bounds what it buffers
			// before the handshake ends, so the rest waits in the socket.
			budget := handshakeFeedMax - s.hsFed
			if len(buf) > budget {
				buf = buf[:max(budget, 0)]
				if !s.hsPaused && s.lp.setReadInterest(s.raw, false) {
					s.hsPaused = true
				}
			}
			s.hsFed += len(buf)
		}
		if len(buf) > 0 {
			err := s.tc.FeedInto(s.lp.tlsIn, buf)
			consume(s.raw, len(buf))
			if err != nil {
				s.sendOutput()
				return gnet.Close
			}
		}
	}
	s.sendOutput()
	if s.tc.HandshakeErr() != nil {
		return gnet.Close
	}
	if !s.tc.HandshakeDone() {
		return gnet.None
	}
	if s.hsPaused {
		s.hsPaused = false
		s.lp.setReadInterest(s.raw, true)
		if rest, _ := s.raw.Peek(-1); len(rest) > 0 {
			err := s.tc.Feed(rest)
			consume(s.raw, len(rest))
			if err != nil {
				s.sendOutput()
				return gnet.Close
			}
		}
	}
	if !s.ready {
		s.ready = true
		s.start()
	}
	ok, eof := s.decrypt()
	if !ok {
		s.plain.settle()
		s.sendOutput()
		return gnet.Close
	}
	// What the reads themselves produced is the answers to the client's
	// KeyUpdate requests (RFC 8446 §4.6.3), owed whether it reads or not.
	// One that keeps asking while its queue is past highWater would grow
	// that queue without bound (KeyUpdates between 64-byte body records
	// grew one connection by 245 MB in a minute): past keyUpdateSlack of
	// such answers queued behind a full queue, it is closed. A client
	// that asks now and then, slow reader or not, never comes near.
	if out := s.tc.TakeOutput(); len(out) > 0 {
		if s.raw.OutboundBuffered() <= highWater {
			s.unreadAnswers = 0
		} else if s.unreadAnswers += len(out); s.unreadAnswers > keyUpdateSlack {
			s.plain.settle()
			return gnet.Close
		}
		writeConn(s.raw, out)
	}
	var act gnet.Action
	if s.h2 != nil {
		act = s.h2.onTraffic()
	} else {
		act = s.cc.onTraffic()
	}
	s.plain.settle()
	if eof {
		// The client's close_notify: what came before it was served
		// above, as a plain connection's last bytes before its FIN are.
		// When every answer is complete, ours follows them (RFC 8446
		// §6.1: each side sends one before closing its write side), so
		// they are sealed first. An answer still in progress is cut: a
		// close_notify would tell the client a close-delimited body was
		// complete (RFC 9112 §9.8), so that close stays bare.
		if s.h2 == nil && s.cc.state == stateIdle {
			s.lp.flushDirty()
			_ = s.tc.Close()
			s.sendOutput()
		}
		return gnet.Close
	}
	return act
}

// keyUpdateSlack is how many bytes of KeyUpdate answers (about 2,400 of
// them) may queue behind a full output queue before the client asking
// for them is closed.
const keyUpdateSlack = 64 << 10

// start runs once the handshake is done: it records the client certificate
// identity and picks the protocol ALPN agreed on.
func (s *tlsSession) start() {
	cc := s.cc
	if cert := s.tc.VerifiedClientCert(); cert != nil {
		cc.certSubject = edgetls.ClientCertSubject(cert)
		cc.certSHA256 = edgetls.ClientCertSHA256(cert)
	}
	if s.tc.State().NegotiatedProtocol == "h2" && cc.listener().h2 {
		delete(s.lp.clients, cc)
		s.lp.wheel.Stop(&cc.timer)
		s.h2 = s.lp.newH2Conn(cc, s)
	}
}

// decrypt reads every complete record into the plaintext buffer.
func (s *tlsSession) decrypt() (ok, eof bool) {
	ok, eof = s.plain.readRecords(s.tc, s.lp)
	s.tc.Settle() // FeedInto's scratch is free again
	return ok, eof
}

func (s *tlsSession) sendOutput() {
	if out := s.tc.TakeOutput(); len(out) > 0 {
		writeConn(s.raw, out)
	}
}

// The downstream interface, for the owner.

func (s *tlsSession) Peek(int) ([]byte, error) { return s.plain.bytes(), nil }
func (s *tlsSession) InboundBuffered() int     { return s.plain.len() }
func (s *tlsSession) OutboundBuffered() int    { return s.raw.OutboundBuffered() }

func (s *tlsSession) Discard(n int) (int, error) {
	s.plain.consume(n)
	return n, nil
}

// Write encrypts b into records and queues them on the socket.
func (s *tlsSession) Write(b []byte) (int, error) {
	if s.closed {
		return len(b), nil
	}
	out, err := s.lp.seal(s.tc, b)
	writeConn(s.raw, out)
	if err != nil {
		return 0, err
	}
	return len(b), nil
}

// seal encrypts b on tc into the loop's output scratch and returns the
// records, to be sent before the next seal: connections keep no output
// buffer sized for their largest response.
func (lp *loop) seal(tc *edgetls.Conn, b []byte) ([]byte, error) {
	out, err := tc.WriteInto(lp.tlsOut[:0], b)
	if cap(out) > cap(lp.tlsOut) && cap(out) <= maxTLSOutScratch {
		lp.tlsOut = out[:0] // a write larger than the scratch: keep the larger array
	}
	return out, err
}

// maxTLSOutScratch bounds the output scratch a loop keeps after one large
// write (a body read from an upstream arrives at most 64 KiB at a time).
const maxTLSOutScratch = 256 << 10

// Close sends close_notify, then closes the socket after what is queued.
func (s *tlsSession) Close() error {
	if s.closed {
		return nil
	}
	_ = s.tc.Close()
	s.sendOutput()
	s.lp.closeWhenSent(s.raw, s.cc.listener().idleTimeout)
	return nil
}

func (s *tlsSession) onClose() {
	s.closed = true
	_ = s.tc.Close()
	if s.h2 != nil {
		s.h2.onClose()
		return
	}
	s.cc.onClose(nil)
}

var errPlainHTTPOnTLS = &errorKind{400, "bad_request", "plain HTTP sent to a TLS listener; use https"}

func appendPlainHTTPOnTLS(dst, requestID, date []byte) ([]byte, int) {
	body := appendErrorBody(nil, errPlainHTTPOnTLS, requestID)
	dst = appendStatusLine(dst, 400)
	dst = append(dst, "Content-Type: application/json\r\nContent-Length: "...)
	dst = appendInt(dst, int64(len(body)))
	dst = append(dst, "\r\nDate: "...)
	dst = append(dst, date...)
	dst = append(dst, "\r\nX-Request-Id: "...)
	dst = append(dst, requestID...)
	dst = append(dst, "\r\nConnection: close\r\n\r\n"...)
	return append(dst, body...), len(body)
}
