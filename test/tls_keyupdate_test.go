//go:build integration

package test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"net"
	"strings"
	"testing"
	"time"
)

// tls13Writer takes over the write side of a TLS 1.3 client connection
// (from its key log) to send records crypto/tls would not: KeyUpdates.
type tls13Writer struct {
	hash   func() hash.Hash
	keyLen int
	secret []byte
	aead   cipher.AEAD
	iv     []byte
	seq    uint64
}

func hkdfLabel(h func() hash.Hash, secret []byte, label string, n int) []byte {
	info := binary.BigEndian.AppendUint16(nil, uint16(n))
	info = append(info, byte(len("tls13 "+label)))
	info = append(info, "tls13 "+label...)
	info = append(info, 0) // no context
	out, err := hkdf.Expand(h, secret, string(info), n)
	if err != nil {
		panic(err)
	}
	return out
}

func (w *tls13Writer) keys() {
	b, _ := aes.NewCipher(hkdfLabel(w.hash, w.secret, "key", w.keyLen))
	w.aead, _ = cipher.NewGCM(b)
	w.iv, w.seq = hkdfLabel(w.hash, w.secret, "iv", 12), 0
}

// record seals one record of inner content type typ (RFC 8446 §5.2).
func (w *tls13Writer) record(typ byte, data []byte) []byte {
	inner := append(append([]byte(nil), data...), typ)
	n := len(inner) + w.aead.Overhead()
	hdr := []byte{23, 3, 3, byte(n >> 8), byte(n)}
	nonce := append([]byte(nil), w.iv...)
	for i := range 8 {
		nonce[4+i] ^= byte(w.seq >> (56 - 8*i))
	}
	w.seq++
	return w.aead.Seal(hdr, nonce, inner, hdr)
}

// keyUpdate asks the peer to update its keys too, then moves ours on.
func (w *tls13Writer) keyUpdate() []byte {
	rec := w.record(22, []byte{24, 0, 0, 1, 1}) // KeyUpdate(update_requested)
	w.secret = hkdfLabel(w.hash, w.secret, "traffic upd", w.hash().Size())
	w.keys()
	return rec
}

type keyLogLines []string

func (k *keyLogLines) Write(p []byte) (int, error) { *k = append(*k, string(p)); return len(p), nil }

// Each KeyUpdate(update_requested) a client sends is owed an answer (RFC
// 8446 §4.6.3), whether the client reads or not. A client that sends them
// between small body records of a long upload and never reads made one
// connection grow by 245 MB a minute; now a connection asking for answers
// while its own queue is past the high-water mark is closed, and the
// gateway's memory stays flat.
func TestTLSKeyUpdateFloodBounded(t *testing.T) {
	sink := rawUpstream(t, func(c net.Conn) {
		buf := make([]byte, 64<<10)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
	p := newPKI(t, "ca")
	cert, key, _ := p.issue(t, "srv", false, "localhost")
	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
    limits: {max_body_bytes: 1GiB}
    tls:
      certificates: [{cert_file: "`+cert+`", key_file: "`+key+`"}]
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams: [{name: sink, targets: [{address: "`+sink+`"}]}]
routes: [{name: all, upstream: sink, timeout: 60s}]
`)
	var kl keyLogLines
	cfg := &tls.Config{RootCAs: p.pool(), ServerName: "localhost", MinVersion: tls.VersionTLS13, KeyLogWriter: &kl, NextProtos: []string{"http/1.1"}}
	nc, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tc := tls.Client(nc, cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	w := &tls13Writer{}
	switch tc.ConnectionState().CipherSuite {
	case tls.TLS_AES_128_GCM_SHA256:
		w.hash, w.keyLen = sha256.New, 16
	case tls.TLS_AES_256_GCM_SHA384:
		w.hash, w.keyLen = sha512.New384, 32
	default:
		t.Skip("cipher suite without AES-GCM") // chacha20 only on CPUs without AES
	}
	for _, l := range kl {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "CLIENT_TRAFFIC_SECRET_0" {
			w.secret, _ = hex.DecodeString(f[2])
		}
	}
	w.keys()
	rss0 := rssOf(t, g.cmd.Process.Pid)
	nc.Write(w.record(23, []byte("POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\n")))
	var batch []byte
	closed := false
	deadline := time.Now().Add(20 * time.Second)
	for sent := 0; sent < 200<<20 && time.Now().Before(deadline); {
		batch = batch[:0]
		for range 100 {
			for range 16 { // crypto/tls refuses a 17th record in a row without data
				batch = append(batch, w.keyUpdate()...)
			}
			batch = append(batch, w.record(23, make([]byte, 64))...)
		}
		nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		n, err := nc.Write(batch)
		sent += n
		if err != nil {
			t.Logf("after %d bytes: %v", sent, err)
			closed = true
			break
		}
	}
	if !closed {
		t.Fatal("the connection was never closed while it asked for KeyUpdate answers it never read")
	}
	if grew := rssOf(t, g.cmd.Process.Pid) - rss0; grew > 32<<20 {
		t.Errorf("gateway RSS grew by %d MiB", grew>>20)
	}
}

// A TLS 1.3 record header announcing more than 1.3 allows (16,384 + 256)
// is refused at once, as a larger one always was, not waited on until
// header_timeout as a record that might still come.
func TestTLS13OversizedRecordRefusedAtOnce(t *testing.T) {
	p := newPKI(t, "ca")
	cert, key, _ := p.issue(t, "srv", false, "localhost")
	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
    limits: {header_timeout: 5s}
    tls:
      certificates: [{cert_file: "`+cert+`", key_file: "`+key+`"}]
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
routes: [{name: all, direct_response: {status: 200, body: "ok"}}]
`)
	nc, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tc := tls.Client(nc, &tls.Config{RootCAs: p.pool(), ServerName: "localhost", MinVersion: tls.VersionTLS13})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	nc.Write([]byte{23, 3, 3, 0x41, 0x01, 1, 2, 3}) // announces 16,641 bytes
	nc.SetReadDeadline(time.Now().Add(4 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := nc.Read(buf); err != nil {
			break
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("connection ended after %v, want at once (header_timeout is 5s)", d)
	}
}
