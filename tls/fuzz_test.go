package tls

import (
	"bytes"
	"crypto/tls"
	"sync"
	"testing"
	"time"
)

var fuzzFixture struct {
	once sync.Once
	srv  *Server
	ccfg *tls.Config
}

// FuzzRecordFeeding: a real session (handshake included) fed to a Conn in
// chunks chosen by the fuzzer must yield exactly the client's plaintext;
// garbage fed before a handshake or after the plaintext must produce
// errors, never panics or hangs.
func FuzzRecordFeeding(f *testing.F) {
	f.Add([]byte{0}, []byte("hello"), []byte{}, false)
	f.Add([]byte{6, 2, 0, 4}, bytes.Repeat([]byte("ab"), 9000), []byte{23, 3, 3, 0, 5, 1, 2, 3, 4, 5}, true)
	f.Add([]byte{255, 17, 3}, []byte("x"), []byte("GET / HTTP/1.1\r\n"), false)
	f.Add([]byte{}, []byte{}, []byte{22, 3, 1, 0, 4, 1, 0, 0, 0}, true)
	f.Fuzz(fuzzRecordFeeding)
}

func fuzzRecordFeeding(t *testing.T, chunks, payload, garbage []byte, tls12 bool) {
	if len(payload) > 64<<10 || len(garbage) > 64<<10 || len(chunks) > 4096 {
		return
	}
	fuzzFixture.once.Do(func() {
		fx := newFixture(t)
		fuzzFixture.srv = mustServer(t, ServerConfig{Certificates: fx.certs, HandshakeTimeout: 2 * time.Second}, nil)
		fuzzFixture.ccfg = fx.client("a.example.com")
	})
	srv := fuzzFixture.srv

	// Garbage as a first flight.
	g := srv.NewConn(nil, nil, nil, nil)
	_ = g.Feed(garbage)
	g.Read(make([]byte, 16))
	g.TakeOutput()
	g.Close()

	cfg := fuzzFixture.ccfg.Clone()
	if tls12 {
		cfg.MaxVersion = tls.VersionTLS12
	}
	ms := newMemSession(srv, nil, cfg)
	defer ms.mc.Close()
	defer ms.conn.Close()
	if cerr, serr := ms.handshake(chunks, 64); cerr != nil || serr != nil {
		t.Fatalf("handshake: client %v server %v", cerr, serr)
	}
	if len(payload) > 0 {
		go ms.client.Write(payload)
		got, err := ms.readAll(t, len(payload), chunks, 64)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("got %d bytes, want %d, err %v", len(got), len(payload), err)
		}
	}
	// Garbage after valid records: an error (bad record MAC, alert...)
	// or ErrNeedMore, and nothing else happens.
	if err := ms.conn.Feed(garbage); err != nil {
		t.Fatalf("feed after handshake: %v", err)
	}
	buf := make([]byte, 1024)
	for i := 0; i < 100; i++ {
		n, err := ms.conn.Read(buf)
		if n > 0 {
			t.Fatalf("garbage decrypted to %q", buf[:n])
		}
		if err != nil {
			break
		}
	}
	ms.conn.TakeOutput()
}
