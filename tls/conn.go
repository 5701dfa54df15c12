package tls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Handshake states, stored in Conn.state.
const (
	stateNew         uint32 = iota // no complete first record yet; loop-owned
	stateHandshaking               // a handshake goroutine owns the tls.Conn
	stateDone                      // handshake succeeded; the loop owns everything
	stateFailed                    // handshake failed or was refused; hsErr is set
)

const (
	recordTypeHandshake = 22
	recordHeaderLen     = 5
	maxPlaintextRecord  = 1 << 14
	maxCiphertextRecord = maxPlaintextRecord + 2048 // RFC 5246 §6.2.3
	maxCiphertext13     = maxPlaintextRecord + 256  // RFC 8446 §5.2
	// Buffers larger than these are dropped, not kept, once drained, so an
	// idle connection after a burst (an upload, a download) does not pin
	// them: the input buffer is drained by every read, and one record fits
	// in what is kept. Output normally goes through WriteInto and the
	// caller's scratch.
	keepInputCap  = 20 << 10
	keepOutputCap = 16 << 10
)

// Conn is one TLS server connection driven by its event loop. See the
// package doc for which goroutine may call what.
type Conn struct {
	// Immutable after NewConn.
	srv  *Server
	lim  *HandshakeLimiter
	wake func()
	tc   *tls.Conn
	t    transport

	state atomic.Uint32
	hsErr error // written before state becomes stateFailed; read after

	// Owned by the loop.
	closed bool
	timer  *time.Timer // handshake timeout; armed by the loop at admission
}

// NewConn returns a server Conn for one accepted connection. lim may be nil
// (no cap, no counters). wake is called from the handshake goroutine, never
// from a Conn method, whenever the loop has something to do: handshake
// output to send (TakeOutput) and, exactly once per admitted handshake, its
// completion or failure (HandshakeDone / HandshakeErr). It must not block;
// under gnet it is `func() { _ = gc.Wake(nil) }`, and the woken OnTraffic
// then runs the usual Feed / TakeOutput / Read sequence.
//
// All socket writes, handshake flights included, are thus made by the loop
// from TakeOutput, in order. Writing handshake flights from the handshake
// goroutine (gnet AsyncWrite) would race with the loop: once the loop sees
// HandshakeDone it may write an application record that overtakes a still
// queued final flight (the TLS 1.3 NewSessionTicket sent after a client
// certificate is verified, or the TLS 1.2 server Finished under False
// Start), and the peer would see records out of order.
func (s *Server) NewConn(remote, local net.Addr, lim *HandshakeLimiter, wake func()) *Conn {
	c := &Conn{srv: s, lim: lim, wake: wake}
	c.t.c = c
	c.t.remote, c.t.local = remote, local
	c.t.blocking = true
	c.t.cond.L = &c.t.mu
	c.t.maxRecord = maxCiphertextRecord
	c.tc = tls.Server(&c.t, s.cfg)
	return c
}

// Feed copies ciphertext received from the socket; b may be reused once
// Feed returns. Loop only.
//
// Before the handshake starts Feed waits for one complete first record,
// then admits the handshake to the limiter and starts its goroutine. It
// returns ErrNotTLS for a first record that is not a TLS handshake record,
// ErrHandshakeRefused when the limiter is full, ErrInputOverflow past
// MaxHandshakeBuffered bytes before the handshake completes, the
// handshake's error after it failed, and ErrConnClosed after Close; on any
// error the owner closes the connection.
func (c *Conn) Feed(b []byte) error {
	if c.closed {
		return ErrConnClosed
	}
	st := c.state.Load()
	if st == stateFailed {
		return c.hsErr
	}
	t := &c.t
	t.mu.Lock()
	buffered := len(t.in) - t.off
	if st != stateDone && buffered+len(b) > MaxHandshakeBuffered {
		t.mu.Unlock()
		return ErrInputOverflow
	}
	if t.off > 0 && len(t.in)+len(b) > cap(t.in) {
		// Slide the unread tail down before append would grow the buffer.
		t.in = t.in[:copy(t.in, t.in[t.off:])]
		t.off = 0
	}
	t.in = append(t.in, b...)
	if st == stateHandshaking {
		t.cond.Signal()
	}
	var start bool
	var err error
	if st == stateNew {
		start, err = firstRecordReady(t.in[t.off:])
	}
	t.mu.Unlock()
	if err != nil {
		c.fail(err)
		return err
	}
	if start {
		if !c.lim.admit() {
			c.fail(ErrHandshakeRefused)
			return ErrHandshakeRefused
		}
		c.state.Store(stateHandshaking)
		c.timer = time.AfterFunc(c.srv.timeout, c.t.timeout)
		go c.handshake()
	}
	return nil
}

// FeedInto is Feed for the loop's path after the handshake: when no fed
// bytes are pending, b is copied into scratch, a buffer the caller reuses
// across connections, rather than into the connection's own buffer, so a
// connection that received a large upload keeps no input buffer sized for
// it. The Reads that follow drain it (crypto/tls takes all that was fed,
// record by record), and Settle, which must run before scratch is used
// again, moves anything left unread into the connection's own buffer.
// Before the handshake is done it is Feed. On error nothing is borrowed.
func (c *Conn) FeedInto(scratch, b []byte) error {
	if c.closed || c.state.Load() != stateDone || len(b) > cap(scratch) {
		return c.Feed(b)
	}
	t := &c.t
	t.mu.Lock()
	if t.off < len(t.in) {
		t.mu.Unlock()
		return c.Feed(b) // bytes pending: they come first
	}
	t.in, t.off, t.inBorrowed = append(scratch[:0], b...), 0, true
	t.mu.Unlock()
	return nil
}

// Settle ends FeedInto's use of the caller's scratch (a no-op when there
// is none): bytes not yet read move to the connection's own buffer.
func (c *Conn) Settle() {
	t := &c.t
	t.mu.Lock()
	if t.inBorrowed {
		rest := t.in[t.off:]
		t.in, t.off, t.inBorrowed = nil, 0, false
		if len(rest) > 0 {
			t.in = append([]byte(nil), rest...)
		}
	}
	t.mu.Unlock()
}

// wholeRecords is how many leading bytes of b are complete TLS records. A
// header announcing more than a record may hold counts as complete, so
// that crypto/tls sees it at once and refuses it (record_overflow) rather
// than the bytes piling up here.
func wholeRecords(b []byte, maxRecord int) int {
	n := 0
	for len(b)-n >= recordHeaderLen {
		size := int(b[n+3])<<8 | int(b[n+4])
		if size > maxRecord {
			return len(b)
		}
		if len(b)-n < recordHeaderLen+size {
			break
		}
		n += recordHeaderLen + size
	}
	return n
}

// Buffered is how many received bytes crypto/tls has not been given yet:
// after the read loop, those of an incomplete record. An upstream
// connection with some is in the middle of a record, so it is not between
// answers and must not be reused. Loop only.
func (c *Conn) Buffered() int {
	t := &c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.in) - t.off
}

// firstRecordReady reports whether in starts with one complete TLS
// handshake record; a handshake goroutine is only spent on a client that
// has sent its whole first record (a slow ClientHello costs no goroutine).
func firstRecordReady(in []byte) (bool, error) {
	if len(in) == 0 {
		return false, nil
	}
	if in[0] != recordTypeHandshake {
		return false, ErrNotTLS
	}
	if len(in) < recordHeaderLen {
		return false, nil
	}
	if in[1] != 3 {
		return false, ErrNotTLS
	}
	n := int(in[3])<<8 | int(in[4])
	if n == 0 || n > maxPlaintextRecord {
		return false, ErrNotTLS
	}
	return len(in) >= recordHeaderLen+n, nil
}

// fail marks a handshake that never started as failed. Loop only.
func (c *Conn) fail(err error) {
	c.hsErr = err
	c.state.Store(stateFailed)
}

// handshake runs crypto/tls's straight-line handshake on its own goroutine.
// Its transport Read parks until the loop feeds bytes; its Writes append to
// the output buffer and wake the loop.
func (c *Conn) handshake() {
	c.lim.acquire()
	err := c.tc.Handshake()
	c.timer.Stop()
	t := &c.t
	t.setMaxRecord(c.tc, err)
	t.mu.Lock()
	t.blocking = false
	counted := err // what the limiter's counters see
	if t.err == ErrHandshakeTimeout {
		// Also when Handshake won the race with the timer: the transport is
		// already closed, so the connection is unusable anyway.
		err, counted = ErrHandshakeTimeout, ErrHandshakeTimeout
	} else if err == nil && t.err != nil {
		// Completed, but the connection was closed meanwhile (the client
		// closed right after its Finished): unusable, yet a handshake
		// that succeeded.
		err = t.err
	}
	t.mu.Unlock()
	c.lim.release()
	c.lim.finish(counted)
	if err != nil {
		c.hsErr = err
		c.state.Store(stateFailed)
	} else {
		c.state.Store(stateDone)
	}
	if c.wake != nil {
		c.wake()
	}
}

// HandshakeDone reports whether the handshake has succeeded. Any goroutine.
func (c *Conn) HandshakeDone() bool { return c.state.Load() == stateDone }

// HandshakeErr returns the handshake's error once it has failed (or was
// refused), else nil. Any goroutine.
func (c *Conn) HandshakeErr() error {
	if c.state.Load() == stateFailed {
		return c.hsErr
	}
	return nil
}

// Read decrypts fed ciphertext into dst. Loop only, after HandshakeDone.
// It returns ErrNeedMore when no complete record is buffered (feed more and
// retry; the partial record is kept), io.EOF after the peer's close_notify,
// ErrHandshakeInProgress before the handshake completes. Post-handshake
// messages are handled here; a KeyUpdate answer lands in the output buffer,
// so call TakeOutput after Read. After the handshake completes, call Read
// even without new input: application data that arrived with the client's
// last flight is already buffered.
func (c *Conn) Read(dst []byte) (int, error) {
	if err := c.ready(); err != nil {
		return 0, err
	}
	n, err := c.tc.Read(dst)
	if err == ErrNeedMore && n > 0 {
		// crypto/tls peeked for a close_notify after a record and found a
		// partial one; that is not this Read's concern.
		err = nil
	}
	return n, err
}

// Write encrypts p into the output buffer (records of at most 16 KiB; the
// first ones smaller, crypto/tls's dynamic record sizing). Loop only, after
// HandshakeDone. It never blocks; drain with TakeOutput.
func (c *Conn) Write(p []byte) (int, error) {
	if err := c.ready(); err != nil {
		return 0, err
	}
	return c.tc.Write(p)
}

// WriteInto is Write with the records appended to dst, a buffer the caller
// reuses across connections (the event loop's scratch), instead of the
// connection's own output buffer: a connection that sent a large response
// then keeps no output buffer sized for it. Output still queued for
// TakeOutput comes first, so records stay in order. It returns dst with
// the records; send them before reusing dst. Loop only, after
// HandshakeDone.
func (c *Conn) WriteInto(dst, p []byte) ([]byte, error) {
	if err := c.ready(); err != nil {
		return dst, err
	}
	t := &c.t
	t.mu.Lock()
	own := t.out
	t.out, t.outBorrowed = append(dst, own...), true
	t.mu.Unlock()
	_, err := c.tc.Write(p)
	t.mu.Lock()
	dst, t.out, t.outBorrowed = t.out, own[:0], false
	if cap(t.out) > keepOutputCap {
		t.out = nil
	}
	t.mu.Unlock()
	return dst, err
}

func (c *Conn) ready() error {
	if c.closed {
		return ErrConnClosed
	}
	switch c.state.Load() {
	case stateDone:
		return nil
	case stateFailed:
		return c.hsErr
	}
	return ErrHandshakeInProgress
}

// TakeOutput returns the ciphertext waiting to be sent (handshake flights,
// records from Write, a KeyUpdate answer from Read, close_notify from
// Close) and empties the buffer. Loop only. The caller writes it to the
// socket right away (gnet Conn.Write copies or sends it); the slice is
// valid until the next Feed, Read, Write, Close or TakeOutput. Returns nil
// when there is nothing to send.
func (c *Conn) TakeOutput() []byte {
	t := &c.t
	t.mu.Lock()
	out := t.out
	if len(out) == 0 {
		t.mu.Unlock()
		return nil
	}
	if t.blocking {
		// The handshake goroutine may append again at any time: hand the
		// array over rather than reuse it under the caller's feet.
		t.out = nil
	} else {
		t.out = t.out[:0]
	}
	t.wakePending = false
	t.mu.Unlock()
	return out
}

// TimeOut records that the caller's deadline for the handshake (the
// listener's header_timeout) passed before it finished: a handshake under
// way ends with ErrHandshakeTimeout, and one whose first record never came
// whole is counted too, so both show in the timed-out counter rather than
// as failures of a closed connection or not at all. A connection that sent
// nothing is no handshake and is not counted. Call Close after it. Loop
// only.
func (c *Conn) TimeOut() {
	if c.closed {
		return
	}
	switch c.state.Load() {
	case stateNew:
		c.t.mu.Lock()
		began := c.t.off < len(c.t.in)
		c.t.mu.Unlock()
		if began {
			c.lim.countTimeout()
			c.fail(ErrHandshakeTimeout)
		}
	case stateHandshaking:
		c.t.closeWith(ErrHandshakeTimeout)
	}
}

// Close ends the connection. After a completed handshake it queues a
// close_notify alert: call TakeOutput, send it, then close the socket.
// During a handshake it stops the handshake goroutine, whose error becomes
// ErrConnClosed (wake still runs once for it). Loop only; idempotent.
func (c *Conn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.state.Load() == stateDone {
		// Sends close_notify into the output buffer, then closes the
		// transport. The alert cannot fail to be buffered.
		err := c.tc.Close()
		if err != nil && !errors.Is(err, ErrConnClosed) {
			return err
		}
		return nil
	}
	c.t.closeWith(ErrConnClosed)
	return nil
}

// State returns the negotiated parameters: Version, CipherSuite,
// NegotiatedProtocol (ALPN), ServerName (SNI), DidResume, PeerCertificates
// and VerifiedChains. Loop only, after HandshakeDone.
func (c *Conn) State() tls.ConnectionState {
	if c.state.Load() != stateDone {
		return tls.ConnectionState{}
	}
	return c.tc.ConnectionState()
}

// VerifiedClientCert returns the client's certificate when one was sent and
// verified against the client CA pool (client_auth request or require),
// else nil. Loop only, after HandshakeDone. Feed it to ClientCertSubject
// and ClientCertSHA256 once per connection.
func (c *Conn) VerifiedClientCert() *x509.Certificate {
	if c.state.Load() != stateDone {
		return nil
	}
	st := c.tc.ConnectionState()
	if len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return nil
	}
	return st.VerifiedChains[0][0]
}

// transport is the net.Conn crypto/tls sees. During the handshake (blocking)
// its Read parks the handshake goroutine until Feed; afterwards Read returns
// ErrNeedMore when the fed bytes run out. Write only ever appends to out.
type transport struct {
	c *Conn

	mu          sync.Mutex
	cond        sync.Cond
	in          []byte // fed ciphertext; unread from off
	off         int
	wholeLeft   int    // bytes from off known to be whole records (Read)
	maxRecord   int    // largest record length a header may announce (setMaxRecord)
	out         []byte // ciphertext for TakeOutput
	outBorrowed bool   // out is WriteInto's dst, the caller's buffer
	inBorrowed  bool   // in is FeedInto's scratch, the caller's buffer, until drained or Settle
	blocking    bool   // handshake phase
	wakePending bool   // a wake for pending output was sent and not served
	err         error  // set by closeWith; Read and Write then fail with it

	// direct, while set, is the socket itself: a client handshake runs on
	// the dialing goroutine straight over it (see Client).
	direct net.Conn

	remote, local net.Addr
}

// setMaxRecord narrows the record length a header may announce to TLS
// 1.3's once a handshake agreed on it: a header past it is then handed to
// crypto/tls at once, for it to refuse, rather than waited on.
func (t *transport) setMaxRecord(tc *tls.Conn, hsErr error) {
	if hsErr == nil && tc.ConnectionState().Version == tls.VersionTLS13 {
		t.mu.Lock()
		t.maxRecord = maxCiphertext13
		t.mu.Unlock()
	}
}

func (t *transport) Read(p []byte) (int, error) {
	t.mu.Lock()
	for {
		// crypto/tls is given whole records only: a partial one stays
		// here, where Buffered sees it (an upstream connection in the
		// middle of a record is not between answers), rather than in
		// crypto/tls's own buffer, out of sight. wholeLeft counts the
		// bytes from off known to be whole records; off is on a record
		// boundary whenever it is 0.
		if t.wholeLeft == 0 && t.off < len(t.in) {
			t.wholeLeft = wholeRecords(t.in[t.off:], t.maxRecord)
		}
		if d := t.direct; d != nil && t.wholeLeft == 0 {
			// A client handshake on the dialing goroutine reads the socket
			// itself, into in, so that what it reads past the handshake
			// (a session ticket, split or not) stays there, on a record
			// boundary, for the loop.
			if t.off > 0 {
				t.in, t.off = t.in[:copy(t.in, t.in[t.off:])], 0
			}
			t.in = slices.Grow(t.in, 4<<10)
			t.mu.Unlock()
			n, err := d.Read(t.in[len(t.in):cap(t.in)])
			t.mu.Lock()
			t.in = t.in[:len(t.in)+n]
			if n == 0 && err != nil {
				t.mu.Unlock()
				return 0, err
			}
			continue
		}
		// A close during the handshake still lets it read what was fed
		// before: a client that sends its Finished and closes at once (a
		// TLS health check, a scanner) did complete its handshake. A
		// timeout ends it at once. (During the handshake the input is
		// the connection's own, never a borrowed buffer.)
		if t.err != nil && (t.err != ErrConnClosed || !t.blocking || t.wholeLeft == 0) {
			err := t.err
			t.mu.Unlock()
			return 0, err
		}
		if t.wholeLeft > 0 {
			n := copy(p, t.in[t.off:t.off+t.wholeLeft])
			t.off += n
			t.wholeLeft -= n
			if t.off == len(t.in) {
				t.off = 0
				t.in = t.in[:0]
				if t.inBorrowed || cap(t.in) > keepInputCap {
					t.in, t.inBorrowed = nil, false
				}
			}
			t.mu.Unlock()
			return n, nil
		}
		if !t.blocking {
			t.mu.Unlock()
			return 0, ErrNeedMore
		}
		// Park: give the CPU slot back while the peer is thinking.
		t.mu.Unlock()
		t.c.lim.park()
		t.mu.Lock()
		for wholeRecords(t.in[t.off:], t.maxRecord) == 0 && t.err == nil {
			t.cond.Wait()
		}
		t.mu.Unlock()
		t.c.lim.unpark()
		t.mu.Lock()
	}
}

func (t *transport) Write(p []byte) (int, error) {
	t.mu.Lock()
	if d := t.direct; d != nil {
		t.mu.Unlock()
		return d.Write(p)
	}
	if t.err != nil {
		err := t.err
		t.mu.Unlock()
		return 0, err
	}
	if len(t.out) == 0 && !t.outBorrowed && cap(t.out) > keepOutputCap {
		t.out = nil
	}
	t.out = append(t.out, p...)
	wake := t.blocking && !t.wakePending
	if wake {
		t.wakePending = true
	}
	t.mu.Unlock()
	if wake && t.c.wake != nil {
		// Only the handshake goroutine writes while blocking is set.
		t.c.wake()
	}
	return len(p), nil
}

// closeWith makes Read and Write fail with err from now on and unparks a
// waiting handshake goroutine. The first error wins.
func (t *transport) closeWith(err error) {
	t.mu.Lock()
	if t.err == nil {
		t.err = err
	}
	t.cond.Broadcast()
	t.mu.Unlock()
}

// timeout is the handshake timer's callback. It only acts while the
// handshake is still running.
func (t *transport) timeout() {
	t.mu.Lock()
	if !t.blocking || t.err != nil {
		t.mu.Unlock()
		return
	}
	t.err = ErrHandshakeTimeout
	t.cond.Broadcast()
	t.mu.Unlock()
}

func (t *transport) Close() error {
	t.closeWith(ErrConnClosed)
	return nil
}

func (t *transport) LocalAddr() net.Addr  { return t.local }
func (t *transport) RemoteAddr() net.Addr { return t.remote }

// Deadlines are the loop's business (its timing wheel) and the handshake
// timer's; crypto/tls only sets them around close_notify.
func (t *transport) SetDeadline(time.Time) error      { return nil }
func (t *transport) SetReadDeadline(time.Time) error  { return nil }
func (t *transport) SetWriteDeadline(time.Time) error { return nil }
