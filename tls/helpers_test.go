package tls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ---- test PKI: ECDSA P-256, generated per test, never committed ----

type testCA struct {
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	file   string
	dir    string
	serial atomic.Int64
}

func newTestCA(tb testing.TB, name string) *testCA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Portico Test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	dir := tb.TempDir()
	ca := &testCA{cert: cert, key: key, dir: dir, file: filepath.Join(dir, name+"-ca.pem")}
	ca.serial.Store(1)
	writePEM(tb, ca.file, "CERTIFICATE", der)
	return ca
}

type leafOpts struct {
	cn     string
	dns    []string
	ips    []net.IP
	client bool
	name   pkix.Name // overrides cn when set
	raw    []byte    // DER subject; overrides both
}

type issued struct {
	certFile, keyFile string
	cert              *x509.Certificate
	tlsCert           tls.Certificate
}

func (ca *testCA) issue(tb testing.TB, o leafOpts) issued {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	subj := o.name
	if subj.CommonName == "" && len(subj.Names) == 0 && len(subj.ExtraNames) == 0 {
		subj = pkix.Name{CommonName: o.cn}
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial.Add(1)),
		Subject:      subj,
		DNSNames:     o.dns,
		IPAddresses:  o.ips,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		RawSubject:   o.raw,
	}
	if o.client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	base := filepath.Join(ca.dir, cert.SerialNumber.String())
	is := issued{certFile: base + ".crt", keyFile: base + ".key", cert: cert}
	writePEM(tb, is.certFile, "CERTIFICATE", der)
	writePEM(tb, is.keyFile, "PRIVATE KEY", kder)
	is.tlsCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}
	return is
}

func writePEM(tb testing.TB, path, typ string, der []byte) {
	tb.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
}

func mustServer(tb testing.TB, cfg ServerConfig, prev *Server) *Server {
	tb.Helper()
	s, err := NewServer(cfg, prev)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// ---- a loopback server whose per-connection goroutine plays the event loop ----

type serverEvent struct {
	state tls.ConnectionState
	cert  *x509.Certificate
	err   error // handshake error
}

type testServer struct {
	ln        net.Listener
	srv       atomic.Pointer[Server]
	lim       *HandshakeLimiter
	feedChunk int // >0: feed ciphertext this many bytes at a time
	events    chan serverEvent
	stop      chan struct{}
	wg        sync.WaitGroup
}

func startTestServer(tb testing.TB, srv *Server, lim *HandshakeLimiter, feedChunk int) *testServer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ts := &testServer{ln: ln, lim: lim, feedChunk: feedChunk, events: make(chan serverEvent, 128), stop: make(chan struct{})}
	ts.srv.Store(srv)
	ts.wg.Add(1)
	go func() {
		defer ts.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			ts.wg.Add(1)
			go func() {
				defer ts.wg.Done()
				ts.drive(nc)
			}()
		}
	}()
	tb.Cleanup(ts.close)
	return ts
}

func (ts *testServer) addr() string { return ts.ln.Addr().String() }

func (ts *testServer) close() {
	select {
	case <-ts.stop:
		return
	default:
	}
	close(ts.stop)
	ts.ln.Close()
	ts.wg.Wait()
}

func (ts *testServer) report(ev serverEvent) {
	select {
	case ts.events <- ev:
	default:
	}
}

// drive is the stand-in for edge's OnTraffic: one goroutine owns c and
// calls every loop-only method; a helper goroutine turns the blocking
// socket into messages. The application is an echo.
func (ts *testServer) drive(nc net.Conn) {
	defer nc.Close()
	wakeCh := make(chan struct{}, 1)
	c := ts.srv.Load().NewConn(nc.RemoteAddr(), nc.LocalAddr(), ts.lim, func() {
		select {
		case wakeCh <- struct{}{}:
		default:
		}
	})
	defer c.Close()
	done := make(chan struct{})
	defer close(done)
	dataCh := make(chan []byte, 16)
	go func() {
		defer close(dataCh)
		for {
			buf := make([]byte, 32<<10)
			n, err := nc.Read(buf)
			if n > 0 {
				select {
				case dataCh <- buf[:n]:
				case <-done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	flush := func() bool {
		if out := c.TakeOutput(); len(out) > 0 {
			if _, err := nc.Write(out); err != nil {
				return false
			}
		}
		return true
	}
	rbuf := make([]byte, 64<<10)
	reported := false
	idle := time.NewTimer(20 * time.Second) // bound every test connection
	defer idle.Stop()
	for {
		select {
		case b, ok := <-dataCh:
			if !ok {
				// The client hung up. A handshake still running reports its
				// outcome shortly (its transport sees the close); wait for it
				// so the test always gets an event.
				if !reported {
					c.Close()
					select {
					case <-wakeCh:
					case <-time.After(5 * time.Second):
					}
					err := c.HandshakeErr()
					if err == nil {
						err = io.EOF
					}
					ts.report(serverEvent{err: err})
				}
				return
			}
			for len(b) > 0 {
				k := len(b)
				if ts.feedChunk > 0 && k > ts.feedChunk {
					k = ts.feedChunk
				}
				if err := c.Feed(b[:k]); err != nil {
					flush()
					if !reported {
						ts.report(serverEvent{err: err})
					}
					return
				}
				b = b[k:]
			}
		case <-wakeCh:
		case <-ts.stop:
			return
		case <-idle.C:
			return
		}
		if !flush() {
			return
		}
		if err := c.HandshakeErr(); err != nil {
			ts.report(serverEvent{err: err})
			return
		}
		if !c.HandshakeDone() {
			continue
		}
		if !reported {
			reported = true
			ts.report(serverEvent{state: c.State(), cert: c.VerifiedClientCert()})
		}
		for {
			n, err := c.Read(rbuf)
			if n > 0 {
				if _, werr := c.Write(rbuf[:n]); werr != nil {
					return
				}
				if !flush() {
					return
				}
			}
			if err == ErrNeedMore {
				break
			}
			if err != nil {
				c.Close()
				flush()
				return
			}
		}
		if !flush() {
			return
		}
	}
}

func (ts *testServer) event(tb testing.TB) serverEvent {
	tb.Helper()
	select {
	case ev := <-ts.events:
		return ev
	case <-time.After(10 * time.Second):
		tb.Fatal("no server event")
		return serverEvent{}
	}
}

// dial connects a crypto/tls client and does one echo round trip.
func dial(tb testing.TB, addr string, cfg *tls.Config) (*tls.Conn, error) {
	tb.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	cc := tls.Client(nc, cfg)
	if err := cc.Handshake(); err != nil {
		nc.Close()
		return nil, err
	}
	if err := echo(cc, []byte("ping")); err != nil {
		nc.Close()
		return nil, err
	}
	return cc, nil
}

func echo(cc *tls.Conn, msg []byte) error {
	if _, err := cc.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(cc, got); err != nil {
		return err
	}
	if string(got) != string(msg) {
		return errors.New("echo mismatch")
	}
	return nil
}

// ---- in-memory pipe with unbounded buffers, for single-goroutine drivers ----

type memQueue struct {
	mu     sync.Mutex
	cond   sync.Cond
	buf    []byte
	closed bool
	notify chan struct{}
	drop   atomic.Bool // benchmarks: discard writes
}

func newMemQueue() *memQueue {
	q := &memQueue{notify: make(chan struct{}, 1)}
	q.cond.L = &q.mu
	return q
}

func (q *memQueue) write(p []byte) {
	if q.drop.Load() {
		return
	}
	q.mu.Lock()
	q.buf = append(q.buf, p...)
	q.cond.Broadcast()
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *memQueue) read(p []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.buf) == 0 && !q.closed {
		q.cond.Wait()
	}
	if len(q.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, q.buf)
	q.buf = q.buf[n:]
	return n, nil
}

// take returns everything buffered without blocking.
func (q *memQueue) take() []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	b := q.buf
	q.buf = nil
	return b
}

func (q *memQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// memConn is the client's end: it reads what the server loop sends (down)
// and writes what the loop will feed (up).
type memConn struct {
	up, down *memQueue
}

func (m *memConn) Read(p []byte) (int, error)       { return m.down.read(p) }
func (m *memConn) Write(p []byte) (int, error)      { m.up.write(p); return len(p), nil }
func (m *memConn) Close() error                     { m.up.close(); m.down.close(); return nil }
func (m *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (m *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

func newMemConn() *memConn { return &memConn{up: newMemQueue(), down: newMemQueue()} }

// memSession is a crypto/tls client over a memConn and one server Conn
// that the test goroutine drives as its loop.
type memSession struct {
	mc     *memConn
	client *tls.Conn
	conn   *Conn
	wake   chan struct{}
}

func newMemSession(srv *Server, lim *HandshakeLimiter, ccfg *tls.Config) *memSession {
	ms := &memSession{mc: newMemConn(), wake: make(chan struct{}, 1)}
	ms.client = tls.Client(ms.mc, ccfg)
	ms.conn = srv.NewConn(ms.mc.RemoteAddr(), ms.mc.LocalAddr(), lim, func() {
		select {
		case ms.wake <- struct{}{}:
		default:
		}
	})
	return ms
}

// handshakenSession is a memSession whose handshake completed.
func handshakenSession(tb testing.TB, srv *Server, ccfg *tls.Config) *memSession {
	tb.Helper()
	ms := newMemSession(srv, nil, ccfg)
	if cerr, serr := ms.handshake(nil, 0); cerr != nil || serr != nil {
		tb.Fatalf("handshake: client %v server %v", cerr, serr)
	}
	return ms
}

// readAvailable reads the plaintext of what was fed so far.
func readAvailable(c *Conn) []byte {
	var got []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got
		}
	}
}

// feedChunked feeds b using sizes from chunks (cycled; each size is 1 +
// byte%maxChunk), or whole when chunks is empty.
func feedChunked(c *Conn, b []byte, chunks []byte, pos *int, maxChunk int) error {
	for len(b) > 0 {
		k := len(b)
		if len(chunks) > 0 {
			k = 1 + int(chunks[*pos%len(chunks)])%maxChunk
			*pos++
			if k > len(b) {
				k = len(b)
			}
		}
		if err := c.Feed(b[:k]); err != nil {
			return err
		}
		b = b[k:]
	}
	return nil
}

// handshake drives the server side until its handshake ends, feeding the
// client's bytes in chunks. The client handshakes on its own goroutine.
func (ms *memSession) handshake(chunks []byte, maxChunk int) (clientErr, serverErr error) {
	cerr := make(chan error, 1)
	go func() { cerr <- ms.client.Handshake() }()
	pos := 0
	deadline := time.After(10 * time.Second)
	for !ms.conn.HandshakeDone() {
		select {
		case <-ms.mc.up.notify:
		case <-ms.wake:
		case <-deadline:
			ms.conn.Close()
			ms.mc.Close()
			return <-cerr, errors.New("test: handshake did not finish")
		}
		if err := feedChunked(ms.conn, ms.mc.up.take(), chunks, &pos, maxChunk); err != nil {
			ms.mc.Close()
			return <-cerr, err
		}
		if out := ms.conn.TakeOutput(); len(out) > 0 {
			ms.mc.down.write(out)
		}
		if err := ms.conn.HandshakeErr(); err != nil {
			ms.mc.Close()
			return <-cerr, err
		}
	}
	if out := ms.conn.TakeOutput(); len(out) > 0 {
		ms.mc.down.write(out)
	}
	return <-cerr, nil
}
