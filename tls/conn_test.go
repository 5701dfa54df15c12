package tls

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// readAll reads plaintext from c until want bytes arrived or io.EOF,
// feeding the client's ciphertext in chunks. It is the loop's read side.
func (ms *memSession) readAll(t *testing.T, want int, chunks []byte, maxChunk int) ([]byte, error) {
	t.Helper()
	var got []byte
	buf := make([]byte, 4096)
	pos := 0
	deadline := time.After(10 * time.Second)
	for len(got) < want {
		for {
			n, err := ms.conn.Read(buf)
			got = append(got, buf[:n]...)
			if err == ErrNeedMore {
				break
			}
			if err != nil {
				return got, err
			}
		}
		if out := ms.conn.TakeOutput(); len(out) > 0 {
			ms.mc.down.write(out)
		}
		if len(got) >= want {
			break
		}
		select {
		case <-ms.mc.up.notify:
		case <-deadline:
			return got, errors.New("test: read timed out")
		}
		if err := feedChunked(ms.conn, ms.mc.up.take(), chunks, &pos, maxChunk); err != nil {
			return got, err
		}
	}
	return got, nil
}

// DESIGN.md principle 6: crypto/tls keeps a partial record after a
// Temporary read error. Feed the whole session, handshake included, 1..7
// bytes at a time, both versions, both directions.
func TestChunkedFeeding(t *testing.T) {
	f := newFixture(t)
	srv := mustServer(t, ServerConfig{Certificates: f.certs, ALPN: []string{"h2", "http/1.1"}}, nil)
	msgs := [][]byte{[]byte("hello"), bytes.Repeat([]byte("x"), 20000), []byte("z")}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for chunk := 1; chunk <= 7; chunk++ {
			cfg := f.client("a.example.com")
			cfg.MaxVersion = v
			cfg.NextProtos = []string{"h2"}
			ms := newMemSession(srv, nil, cfg)
			chunks := []byte{byte(chunk - 1)}
			if cerr, serr := ms.handshake(chunks, 7); cerr != nil || serr != nil {
				t.Fatalf("%x/%d: handshake client %v server %v", v, chunk, cerr, serr)
			}
			if st := ms.conn.State(); st.Version != v || st.NegotiatedProtocol != "h2" {
				t.Fatalf("state %+v", st)
			}
			var total []byte
			for _, m := range msgs {
				total = append(total, m...)
			}
			go func() {
				for _, m := range msgs {
					ms.client.Write(m)
				}
			}()
			got, err := ms.readAll(t, len(total), chunks, 7)
			if err != nil || !bytes.Equal(got, total) {
				t.Fatalf("%x/%d: got %d bytes, want %d, err %v", v, chunk, len(got), len(total), err)
			}
			// And back: server records, read by the client.
			if _, err := ms.conn.Write(total); err != nil {
				t.Fatal(err)
			}
			ms.mc.down.write(ms.conn.TakeOutput())
			back := make([]byte, len(total))
			if _, err := io.ReadFull(ms.client, back); err != nil || !bytes.Equal(back, total) {
				t.Fatalf("%x/%d: back: %v", v, chunk, err)
			}
			ms.conn.Close()
			ms.mc.Close()
		}
	}
}

// A client that sends half a record and stalls does not block the loop:
// one goroutine drives two connections; the stalled one reports
// ErrNeedMore, the other keeps being served, and the stalled one resumes
// when the rest arrives.
func TestPartialRecordStall(t *testing.T) {
	f := newFixture(t)
	srv := mustServer(t, ServerConfig{Certificates: f.certs}, nil)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := f.client("a.example.com")
		cfg.MaxVersion = v
		a, b := newMemSession(srv, nil, cfg), newMemSession(srv, nil, cfg)
		for _, ms := range []*memSession{a, b} {
			if cerr, serr := ms.handshake(nil, 0); cerr != nil || serr != nil {
				t.Fatal(cerr, serr)
			}
		}
		// a: a whole record, of which only the first 10 bytes are fed.
		a.client.Write([]byte("stalled request"))
		rec := waitBytes(t, a.mc.up)
		if err := a.conn.Feed(rec[:10]); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		for i := 0; i < 3; i++ {
			if n, err := a.conn.Read(buf); n != 0 || err != ErrNeedMore {
				t.Fatalf("stalled read: %d %v", n, err)
			}
			// b is served meanwhile, on the same goroutine.
			b.client.Write([]byte("other"))
			if err := b.conn.Feed(waitBytes(t, b.mc.up)); err != nil {
				t.Fatal(err)
			}
			if n, err := b.conn.Read(buf); err != nil || string(buf[:n]) != "other" {
				t.Fatalf("b read %q %v", buf[:n], err)
			}
		}
		if err := a.conn.Feed(rec[10:]); err != nil {
			t.Fatal(err)
		}
		if n, err := a.conn.Read(buf); err != nil || string(buf[:n]) != "stalled request" {
			t.Fatalf("a read %q %v", buf[:n], err)
		}
		a.conn.Close()
		b.conn.Close()
		a.mc.Close()
		b.mc.Close()
	}
}

func waitBytes(t *testing.T, q *memQueue) []byte {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		if b := q.take(); len(b) > 0 {
			return b
		}
		select {
		case <-q.notify:
		case <-deadline:
			t.Fatal("no bytes")
		}
	}
}

func TestNotTLS(t *testing.T) {
	f := newFixture(t)
	srv := mustServer(t, ServerConfig{Certificates: f.certs}, nil)
	lim := NewHandshakeLimiter(HandshakeLimits{})
	for _, in := range []string{"GET / HTTP/1.1\r\n", "\x16\x02\x01\x00\x05hello", "\x16\x03\x01\x00\x00", "\x16\x03\x01\x40\x01"} {
		c := srv.NewConn(nil, nil, lim, nil)
		if err := c.Feed([]byte(in)); err != ErrNotTLS {
			t.Fatalf("%q: %v", in, err)
		}
		if err := c.Feed([]byte("more")); err != ErrNotTLS {
			t.Fatalf("%q: second feed %v", in, err)
		}
		if _, err := c.Read(make([]byte, 10)); err != ErrNotTLS {
			t.Fatalf("read %v", err)
		}
		c.Close()
	}
	if st := lim.Stats(); st != (HandshakeStats{}) {
		t.Fatalf("not-TLS input reached the limiter: %+v", st)
	}
	// A partial first record starts nothing.
	c := srv.NewConn(nil, nil, lim, nil)
	if err := c.Feed([]byte{22, 3, 1, 0, 200, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if c.state.Load() != stateNew {
		t.Fatal("handshake started on a partial record")
	}
	if _, err := c.Write([]byte("x")); err != ErrHandshakeInProgress {
		t.Fatalf("write before handshake: %v", err)
	}
	c.Close()
	if err := c.Feed([]byte{1}); err != ErrConnClosed {
		t.Fatalf("feed after close: %v", err)
	}
}

// clientHello returns one real ClientHello record (the client then stalls
// forever waiting for an answer that the test never delivers).
func clientHello(t *testing.T) []byte {
	t.Helper()
	mc := newMemConn()
	go tls.Client(mc, &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true}).Handshake()
	b := waitBytes(t, mc.up)
	t.Cleanup(func() { mc.Close() })
	return b
}

func TestHandshakeLimiter(t *testing.T) {
	f := newFixture(t)
	srv := mustServer(t, ServerConfig{Certificates: f.certs, HandshakeTimeout: 300 * time.Millisecond}, nil)
	lim := NewHandshakeLimiter(HandshakeLimits{MaxInFlight: 1, MaxQueue: 2})
	hello := clientHello(t)

	var mu sync.Mutex
	woken := 0
	wake := func() { mu.Lock(); woken++; mu.Unlock() }
	// The test holds the only CPU slot, so the three handshakes it feeds
	// all wait for it: capacity is MaxInFlight+MaxQueue = 3 handshakes
	// wanting the CPU, and the 4th is refused.
	lim.acquire()
	var conns []*Conn
	for i := 0; i < 3; i++ {
		c := srv.NewConn(nil, nil, lim, wake)
		if err := c.Feed(hello); err != nil {
			t.Fatalf("conn %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	c4 := srv.NewConn(nil, nil, lim, wake)
	if err := c4.Feed(hello); err != ErrHandshakeRefused {
		t.Fatalf("4th: %v", err)
	}
	if c4.HandshakeErr() != ErrHandshakeRefused {
		t.Fatal("refusal not recorded")
	}
	lim.release()
	// All three answer the ClientHello (one at a time) and then wait for
	// the client, holding no CPU slot.
	waitFor(t, func() bool { st := lim.Stats(); return st.AwaitingPeer == 3 && st.InFlight == 0 })
	for _, c := range conns {
		if out := c.TakeOutput(); len(out) == 0 || out[0] != 22 {
			t.Fatalf("no ServerHello flight: %x", out)
		}
	}
	// Handshakes parked on a silent client hold no place: a new one is
	// admitted while all three wait (a slowloris of ClientHellos cannot
	// lock real clients out).
	c6 := srv.NewConn(nil, nil, lim, nil)
	if err := c6.Feed(hello); err != nil {
		t.Fatalf("admission with parked handshakes: %v", err)
	}
	waitFor(t, func() bool { return lim.Stats().AwaitingPeer == 4 })
	c6.Close()
	waitFor(t, func() bool { return lim.Stats().Failed == 1 })
	// Owner closes one mid-handshake; the other two time out.
	conns[0].Close()
	waitFor(t, func() bool { st := lim.Stats(); return st.Failed == 4 })
	st := lim.Stats()
	if st.Refused != 1 || st.TimedOut != 2 || st.Completed != 0 || st.InFlight != 0 || st.AwaitingPeer != 0 || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
	if err := conns[0].HandshakeErr(); err != ErrConnClosed {
		t.Fatalf("closed conn err %v", err)
	}
	for _, c := range conns[1:] {
		if c.HandshakeErr() != ErrHandshakeTimeout {
			t.Fatalf("err %v", c.HandshakeErr())
		}
		if err := c.Feed([]byte{1}); err != ErrHandshakeTimeout {
			t.Fatalf("feed after timeout %v", err)
		}
		c.Close()
	}
	mu.Lock()
	if woken < 6 { // one for output and one for the end, per handshake
		t.Fatalf("woken %d times", woken)
	}
	mu.Unlock()
	// Room again.
	c5 := srv.NewConn(nil, nil, lim, nil)
	if err := c5.Feed(hello); err != nil {
		t.Fatal(err)
	}
	c5.Close()
	waitFor(t, func() bool { return lim.Stats().Failed == 5 })
}

// A client that completes its handshake and closes at once (a TLS health
// check, a scanner) counts as a completed handshake: what was fed before
// the close is read first. (It counted as failed, so a load balancer's TLS
// checks filled portico_tls_handshakes_failed_total.)
func TestHandshakeCompletedThenClosed(t *testing.T) {
	f := newFixture(t)
	srv := mustServer(t, ServerConfig{Certificates: f.certs}, nil)
	lim := NewHandshakeLimiter(HandshakeLimits{MaxInFlight: 1, MaxQueue: 4})
	ms := newMemSession(srv, lim, f.client("a.example.com"))
	cerr := make(chan error, 1)
	go func() { cerr <- ms.client.Handshake() }()
	deadline := time.After(10 * time.Second)
loop:
	for {
		select {
		case err := <-cerr:
			if err != nil {
				t.Fatalf("client handshake: %v", err)
			}
			break loop
		case <-ms.mc.up.notify:
		case <-ms.wake:
		case <-deadline:
			t.Fatal("client handshake did not finish")
		}
		if in := ms.mc.up.take(); len(in) > 0 {
			if err := ms.conn.Feed(in); err != nil {
				t.Fatal(err)
			}
		}
		if out := ms.conn.TakeOutput(); len(out) > 0 {
			ms.mc.down.write(out)
		}
	}
	// The client's Finished is queued. Holding the only CPU slot keeps the
	// server's handshake from reading it before the close.
	lim.acquire()
	if err := ms.conn.Feed(ms.mc.up.take()); err != nil {
		t.Fatal(err)
	}
	ms.conn.Close()
	lim.release()
	waitFor(t, func() bool { st := lim.Stats(); return st.Completed+st.Failed > 0 })
	if st := lim.Stats(); st.Completed != 1 || st.Failed != 0 {
		t.Fatalf("completed %d failed %d, want 1 and 0", st.Completed, st.Failed)
	}
	ms.mc.Close()
}

// A handshake the caller's deadline (header_timeout) ends is counted as
// timed out, whether its first record never came whole or it was under
// way; a connection that sent nothing is not a handshake.
func TestTimeOutCounted(t *testing.T) {
	f := newFixture(t)
	srv := mustServer(t, ServerConfig{Certificates: f.certs}, nil)
	lim := NewHandshakeLimiter(HandshakeLimits{})
	hello := clientHello(t)

	silent := srv.NewConn(nil, nil, lim, func() {})
	silent.TimeOut()
	silent.Close()
	partial := srv.NewConn(nil, nil, lim, func() {})
	if err := partial.Feed(hello[:10]); err != nil {
		t.Fatal(err)
	}
	partial.TimeOut()
	partial.Close()
	if st := lim.Stats(); st.TimedOut != 1 || st.Failed != 1 {
		t.Fatalf("after a partial ClientHello: %+v, want 1 timed out", st)
	}
	running := srv.NewConn(nil, nil, lim, func() {})
	if err := running.Feed(hello); err != nil { // the server answers and waits for the client
		t.Fatal(err)
	}
	running.TimeOut()
	running.Close()
	waitFor(t, func() bool { return lim.Stats().TimedOut == 2 })
	if st := lim.Stats(); st.Failed != 2 || st.Completed != 0 {
		t.Fatalf("after a handshake under way: %+v", st)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not reached in 5s")
}

func TestInputOverflow(t *testing.T) {
	f := newFixture(t)
	srv := mustServer(t, ServerConfig{Certificates: f.certs}, nil)
	c := srv.NewConn(nil, nil, nil, nil)
	big := make([]byte, MaxHandshakeBuffered+1)
	big[0] = 22
	if err := c.Feed(big); err != ErrInputOverflow {
		t.Fatalf("%v", err)
	}
	c.Close()
}

// A handshake failure's alert reaches the owner through TakeOutput, and the
// error names the cause.
func TestHandshakeFailureAlert(t *testing.T) {
	f := newFixture(t)
	srv := mustServer(t, ServerConfig{Certificates: f.certs, ALPN: []string{"h2"}}, nil)
	cfg := f.client("a.example.com")
	cfg.NextProtos = []string{"imap"}
	ms := newMemSession(srv, nil, cfg)
	cerr, serr := ms.handshake(nil, 0)
	if serr == nil || cerr == nil || !strings.Contains(cerr.Error(), "no application protocol") {
		t.Fatalf("client %v server %v", cerr, serr)
	}
	var _ net.Error = ErrNeedMore.(net.Error)
}

// Many connections through one limiter, concurrently, all complete.
func TestConcurrentHandshakes(t *testing.T) {
	f := newFixture(t)
	lim := NewHandshakeLimiter(HandshakeLimits{MaxInFlight: 1, MaxQueue: 64})
	ts := startTestServer(t, mustServer(t, ServerConfig{Certificates: f.certs}, nil), lim, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cc, err := dial(t, ts.addr(), f.client("b.example.com"))
			if err != nil {
				errs <- err
				return
			}
			cc.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return lim.Stats().Completed == 32 })
	if st := lim.Stats(); st.Failed != 0 || st.Refused != 0 {
		t.Fatalf("%+v", st)
	}
}

// WriteInto seals into the caller's buffer, after output still queued in
// the connection's own, so records stay in order; the connection keeps no
// output buffer sized for a large write.
func TestWriteIntoOrderAndRetention(t *testing.T) {
	f := newFixture(t)
	srv := mustServer(t, ServerConfig{Certificates: f.certs}, nil)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := f.client("a.example.com")
		cfg.MaxVersion = v
		ms := handshakenSession(t, srv, cfg)
		if _, err := ms.conn.Write([]byte("first;")); err != nil { // queued, not taken
			t.Fatal(err)
		}
		big := bytes.Repeat([]byte("b"), 100<<10)
		scratch := make([]byte, 0, 8<<10)
		out, err := ms.conn.WriteInto(scratch, big)
		if err != nil {
			t.Fatal(err)
		}
		if ms.conn.t.out != nil && cap(ms.conn.t.out) > keepOutputCap {
			t.Errorf("version %x: connection kept a %d-byte output buffer", v, cap(ms.conn.t.out))
		}
		if rest := ms.conn.TakeOutput(); len(rest) != 0 {
			t.Errorf("version %x: %d bytes left queued after WriteInto", v, len(rest))
		}
		ms.mc.down.write(out)
		want := append([]byte("first;"), big...)
		got := make([]byte, 0, len(want))
		buf := make([]byte, 32<<10)
		for len(got) < len(want) {
			n, err := ms.client.Read(buf)
			if err != nil {
				t.Fatalf("version %x: client read after %d bytes: %v", v, len(got), err)
			}
			got = append(got, buf[:n]...)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("version %x: client got %d bytes, not the %d written in order", v, len(got), len(want))
		}
		// A write that fits is sealed into dst itself: no allocation.
		small := make([]byte, 0, 4<<10)
		if out, err := ms.conn.WriteInto(small, []byte("hi")); err != nil || len(out) == 0 || &out[:1][0] != &small[:1][0] {
			t.Errorf("version %x: a small write was not sealed into dst (err %v)", v, err)
		}
		// An upload drains the input buffer, which is not kept at burst size.
		go func() { _, _ = ms.client.Write(big) }()
		plain, err := ms.readAll(t, len(big), nil, 0)
		if err != nil || !bytes.Equal(plain, big) {
			t.Fatalf("version %x: server read %d of %d uploaded bytes (%v)", v, len(plain), len(big), err)
		}
		if c := cap(ms.conn.t.in); c > keepInputCap {
			t.Errorf("version %x: connection kept a %d-byte input buffer", v, c)
		}
		ms.conn.Close()
		ms.mc.Close()
	}
}

// FeedInto holds ciphertext in the caller's scratch only until it is read
// or Settle runs: bytes left unread move to the connection's own buffer,
// so reusing the scratch for another connection corrupts nothing.
func TestFeedIntoSettle(t *testing.T) {
	f := newFixture(t)
	srv := mustServer(t, ServerConfig{Certificates: f.certs}, nil)
	ms := handshakenSession(t, srv, f.client("a.example.com"))
	scratch := make([]byte, 0, 256<<10)
	msg := bytes.Repeat([]byte("0123456789"), 5000)
	go func() { _, _ = ms.client.Write(msg) }()
	var cipher []byte
	deadline := time.Now().Add(5 * time.Second)
	for len(cipher) < len(msg) && time.Now().Before(deadline) {
		cipher = append(cipher, ms.mc.up.take()...)
		time.Sleep(time.Millisecond)
	}
	half := len(cipher) / 2
	// First half: fed into the scratch, read, settled.
	if err := ms.conn.FeedInto(scratch, cipher[:half]); err != nil {
		t.Fatal(err)
	}
	plain := readAvailable(ms.conn)
	ms.conn.Settle()
	// Second half: fed, NOT read, settled; then the scratch is trashed.
	if err := ms.conn.FeedInto(scratch, cipher[half:]); err != nil {
		t.Fatal(err)
	}
	ms.conn.Settle()
	if ms.conn.t.inBorrowed {
		t.Fatal("still borrowing the scratch after Settle")
	}
	junk := scratch[:cap(scratch)]
	for i := range junk {
		junk[i] = 0xAA
	}
	plain = append(plain, readAvailable(ms.conn)...)
	if !bytes.Equal(plain, msg) {
		t.Fatalf("read %d bytes, want the %d written, intact", len(plain), len(msg))
	}
	if c := cap(ms.conn.t.in); c > keepInputCap {
		t.Errorf("connection kept a %d-byte input buffer", c)
	}
	ms.conn.Close()
	ms.mc.Close()
}

// crypto/tls is given whole records only; wholeRecords finds where they
// end, and an oversized header is handed on at once for crypto/tls to
// refuse.
func TestWholeRecords(t *testing.T) {
	rec := func(n int) []byte { return append([]byte{23, 3, 3, byte(n >> 8), byte(n)}, make([]byte, n)...) }
	two := append(rec(10), rec(300)...)
	for _, c := range []struct {
		name string
		in   []byte
		want int
	}{
		{"empty", nil, 0},
		{"partial header", []byte{23, 3, 3}, 0},
		{"one", rec(10), 15},
		{"one and a partial", append(rec(10), rec(20)[:7]...), 15},
		{"two", two, len(two)},
		{"oversized header", []byte{23, 3, 3, 0xff, 0xff, 1}, 6},
	} {
		if got := wholeRecords(c.in, maxCiphertextRecord); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	// A header past TLS 1.3's limit (16,641 here) is handed on once 1.3 was agreed.
	over13 := []byte{23, 3, 3, 0x41, 0x01, 1, 2, 3}
	if got := wholeRecords(over13, maxCiphertext13); got != len(over13) {
		t.Errorf("TLS 1.3, 16,641-byte header: %d, want %d (handed on)", got, len(over13))
	}
	if got := wholeRecords(over13, maxCiphertextRecord); got != 0 {
		t.Errorf("TLS 1.2, 16,641-byte header: %d, want 0 (a record that may still come)", got)
	}
}
