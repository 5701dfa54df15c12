package tls

import (
	"crypto/tls"
	"testing"
)

// benchPair is a completed TLS 1.3 session: a crypto/tls client over a
// memConn and, on the server side, either the adapter or a std tls.Conn
// over another memConn.
type benchPair struct {
	client *tls.Conn
	mc     *memConn
	conn   *Conn     // adapter
	std    *tls.Conn // baseline
}

func newBenchPair(b *testing.B, adapter bool) *benchPair {
	b.Helper()
	f := newFixture(b)
	srv := mustServer(b, ServerConfig{Certificates: f.certs}, nil)
	cfg := f.client("a.example.com")
	bp := &benchPair{}
	if adapter {
		ms := newMemSession(srv, nil, cfg)
		if cerr, serr := ms.handshake(nil, 0); cerr != nil || serr != nil {
			b.Fatal(cerr, serr)
		}
		bp.client, bp.mc, bp.conn = ms.client, ms.mc, ms.conn
	} else {
		bp.mc = newMemConn()
		bp.client = tls.Client(bp.mc, cfg)
		bp.std = tls.Server(&memConn{up: bp.mc.down, down: bp.mc.up}, srv.TLSConfig())
		errc := make(chan error, 1)
		go func() { errc <- bp.client.Handshake() }()
		if err := bp.std.Handshake(); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	// Past crypto/tls's dynamic record sizing ramp, so records are full.
	warm := make([]byte, 1<<20)
	bp.write(b, warm)
	bp.mc.down.take()
	bp.mc.down.drop.Store(true) // the server's "socket" discards from here on
	return bp
}

func (bp *benchPair) write(b *testing.B, p []byte) {
	if bp.conn != nil {
		if _, err := bp.conn.Write(p); err != nil {
			b.Fatal(err)
		}
		bp.conn.TakeOutput()
		return
	}
	if _, err := bp.std.Write(p); err != nil {
		b.Fatal(err)
	}
}

func benchWrite(b *testing.B, adapter bool, size int) {
	bp := newBenchPair(b, adapter)
	p := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bp.write(b, p)
	}
}

// benchRead: the client encrypts a batch of records with the timer
// stopped; the server side decrypts them with the timer running.
func benchRead(b *testing.B, adapter bool, size int) {
	bp := newBenchPair(b, adapter)
	p := make([]byte, size)
	dst := make([]byte, 32<<10)
	const batch = 64
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		n := min(batch, b.N-i)
		b.StopTimer()
		for j := 0; j < n; j++ {
			bp.client.Write(p)
		}
		var ct []byte
		if adapter {
			ct = bp.mc.up.take()
		}
		b.StartTimer()
		want := n * size
		if adapter {
			// As gnet delivers it: at most 64 KiB per OnTraffic.
			for len(ct) > 0 {
				k := min(len(ct), 64<<10)
				if err := bp.conn.Feed(ct[:k]); err != nil {
					b.Fatal(err)
				}
				ct = ct[k:]
				for {
					m, err := bp.conn.Read(dst)
					want -= m
					if err == ErrNeedMore {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			if want != 0 {
				b.Fatal("short read")
			}
		} else {
			for want > 0 {
				m, err := bp.std.Read(dst)
				want -= m
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

func BenchmarkWrite1KAdapter(b *testing.B)  { benchWrite(b, true, 1<<10) }
func BenchmarkWrite1KStd(b *testing.B)      { benchWrite(b, false, 1<<10) }
func BenchmarkWrite16KAdapter(b *testing.B) { benchWrite(b, true, 16<<10) }
func BenchmarkWrite16KStd(b *testing.B)     { benchWrite(b, false, 16<<10) }
func BenchmarkRead1KAdapter(b *testing.B)   { benchRead(b, true, 1<<10) }
func BenchmarkRead1KStd(b *testing.B)       { benchRead(b, false, 1<<10) }
func BenchmarkRead16KAdapter(b *testing.B)  { benchRead(b, true, 16<<10) }
func BenchmarkRead16KStd(b *testing.B)      { benchRead(b, false, 16<<10) }

// Handshake cost per connection, TLS 1.3, ECDSA P-256 certificate, X25519.
// Client and server both run in the process, so the figure includes the
// client's work; the Std variant is the same exchange with a blocking
// crypto/tls server, for the ratio.
func benchHandshake(b *testing.B, adapter bool) {
	f := newFixture(b)
	srv := mustServer(b, ServerConfig{Certificates: f.certs}, nil)
	lim := NewHandshakeLimiter(HandshakeLimits{})
	cfg := f.client("a.example.com")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if adapter {
			ms := newMemSession(srv, lim, cfg)
			if cerr, serr := ms.handshake(nil, 0); cerr != nil || serr != nil {
				b.Fatal(cerr, serr)
			}
			ms.conn.Close()
			ms.mc.Close()
			continue
		}
		mc := newMemConn()
		cc := tls.Client(mc, cfg)
		sc := tls.Server(&memConn{up: mc.down, down: mc.up}, srv.TLSConfig())
		errc := make(chan error, 1)
		go func() { errc <- cc.Handshake() }()
		if err := sc.Handshake(); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		mc.Close()
	}
}

func BenchmarkHandshakeAdapter(b *testing.B) { benchHandshake(b, true) }
func BenchmarkHandshakeStd(b *testing.B)     { benchHandshake(b, false) }
