//go:build integration

package test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestUpstreamTLS: upstreams[].tls verifies the upstream's certificate
// against ca_file with server_name, keeps connections alive, and carries
// bodies both ways; a wrong CA answers 502.
func TestUpstreamTLS(t *testing.T) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/big" {
			w.Write(bytes.Repeat([]byte("0123456789abcdef"), (1<<20)/16))
			return
		}
		fmt.Fprintf(w, "tls upstream saw %s %s %x proto=%s", r.Method, r.URL.Path, sha256.Sum256(body), r.Header.Get("X-Forwarded-Proto"))
	}))
	defer up.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "up-ca.crt")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw}), 0o644)
	wrongCA := filepath.Join(newPKI(t, "some-other-ca").dir, "ca.crt") // did not sign the upstream's certificate
	addr := strings.TrimPrefix(up.URL, "https://")
	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: secure
    targets: [{address: "`+addr+`"}]
    tls: {server_name: example.com, ca_file: "`+ca+`"}
  - name: wrong
    targets: [{address: "`+addr+`"}]
    tls: {server_name: example.com, ca_file: "`+wrongCA+`"}
routes:
  - name: wrong
    match: {path_prefix: /wrong}
    upstream: wrong
  - name: secure
    match: {path_prefix: /}
    upstream: secure
`)
	for i := 0; i < 3; i++ { // the second and third reuse the pooled TLS connection
		resp, body := g.get("/hello")
		empty := sha256.Sum256(nil)
		if resp.StatusCode != 200 || body != fmt.Sprintf("tls upstream saw GET /hello %x proto=http", empty) {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	payload := bytes.Repeat([]byte("x"), 1<<20)
	resp, err := client.Post("http://"+g.addr+"/upload", "application/octet-stream", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("tls upstream saw POST /upload %x proto=http", sha256.Sum256(payload)); string(b) != want {
		t.Fatalf("1 MiB upload over upstream TLS: %q", b)
	}
	resp, body := g.get("/big")
	if resp.StatusCode != 200 || len(body) != 1<<20 {
		t.Fatalf("1 MiB download over upstream TLS: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = g.get("/wrong/x")
	checkEnvelope(t, resp, body, 502, "bad_gateway")
	// The cause is in the log without debug logging, once per target per
	// interval, not once per request.
	g.get("/wrong/y")
	g.logged(`"upstream TLS handshake failed"`)
	if n := strings.Count(g.stderr.String(), `"level":"WARN","msg":"upstream TLS handshake failed"`); n != 1 {
		t.Fatalf("%d warnings for the failing handshakes, want 1:\n%s", n, g.stderr.String())
	}
}

// A reload that changes an upstream's TLS settings (its CA, or TLS turned
// on for a plaintext upstream) must not leave requests riding keep-alive
// connections made under the old settings; a reload that changes nothing
// keeps them (and the session cache).
func TestUpstreamTLSReloadDropsPooledConns(t *testing.T) {
	up, tlsConns := countingServer("tls")
	up.StartTLS()
	defer up.Close()
	plain, plainConns := countingServer("plain")
	plain.Start()
	defer plain.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "up-ca.crt")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw}), 0o644)
	wrongCA := filepath.Join(newPKI(t, "some-other-ca").dir, "ca.crt")
	config := func(secureCA, plainTLS string) string {
		return `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: secure
    targets: [{address: "` + strings.TrimPrefix(up.URL, "https://") + `"}]
    tls: {server_name: example.com, ca_file: "` + secureCA + `"}
  - name: plain
    targets: [{address: "` + strings.TrimPrefix(plain.URL, "http://") + `"}]
` + plainTLS + `
routes:
  - name: plain
    match: {path_prefix: /plain}
    upstream: plain
  - name: secure
    match: {path_prefix: /}
    upstream: secure
`
	}
	g := startGateway(t, config(ca, ""))
	reload := g.reload
	// Sequential requests on one client connection stay on one loop, so
	// one pooled upstream connection serves them all.
	expect := func(path string, status int) {
		t.Helper()
		for i := 0; i < 5; i++ {
			resp, body := g.get(path)
			if resp.StatusCode != status {
				t.Fatalf("%s request %d: %d %q", path, i, resp.StatusCode, body)
			}
		}
	}
	expect("/x", 200)
	expect("/plain", 200)
	tlsBefore, plainBefore := tlsConns.Load(), plainConns.Load()

	reload(config(ca, "")) // nothing changed: the pooled connections stay
	expect("/x", 200)
	expect("/plain", 200)
	if tlsConns.Load() != tlsBefore || plainConns.Load() != plainBefore {
		t.Fatalf("an unchanged reload re-dialled: tls %d -> %d, plain %d -> %d", tlsBefore, tlsConns.Load(), plainBefore, plainConns.Load())
	}

	// The CA no longer trusts the upstream's certificate: new handshakes
	// fail, and no request may use a connection verified under the old CA.
	reload(config(wrongCA, ""))
	expect("/x", 502)
	// TLS turned on for an upstream that speaks plaintext: nothing may go
	// out in clear text over a pooled connection.
	reload(config(ca, `    tls: {server_name: example.com, ca_file: "`+ca+`"}`))
	expect("/plain", 502)
	expect("/x", 200)
}

// countingServer answers every request with body and counts the
// connections it accepts.
func countingServer(body string) (*httptest.Server, *atomic.Int32) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	return srv, &conns
}

// An upstream whose TLS records stop decrypting (bytes written past the
// TLS layer, a middlebox, a bug) gets the exchange ended at once as a reset
// would end it: 502 before any answer, an answer cut short after its head.
// It used to leave the client waiting for the route timeout, then 504.
func TestUpstreamTLSRecordErrorIs502(t *testing.T) {
	p := newPKI(t, "up-ca")
	_, _, cert := p.issue(t, "upstream", false, "upstream.test")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// TLS is served on the accepted socket, and the garbage is written to
	// that socket: past the TLS layer.
	up := rawUpstreamOn(t, ln, func(c net.Conn) {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		req, err := http.ReadRequest(bufio.NewReader(tc))
		if err != nil {
			return
		}
		if req.URL.Path == "/after-head" {
			io.WriteString(tc, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nseven b")
			time.Sleep(100 * time.Millisecond)
		}
		c.Write([]byte("\x17\x03\x03\x00\x05hello-not-a-valid-record"))
		time.Sleep(2 * time.Second) // the gateway must not wait for this close
	})
	cfg := strings.Replace(oneRouteConfig(up, "", "    timeout: 6s\n"), `targets: [{address: "`+up+`"}]`,
		`targets: [{address: "`+up+`"}]
    tls: {server_name: upstream.test, ca_file: "`+filepath.Join(p.dir, "ca.crt")+`"}`, 1)
	g := startGateway(t, cfg)
	start := time.Now()
	resp, body := g.get("/before-head")
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("answer took %v: the gateway waited for the route timeout", took)
	}
	checkEnvelope(t, resp, body, 502, "bad_gateway")

	conn := g.dial(10 * time.Second)
	start = time.Now()
	io.WriteString(conn, "GET /after-head HTTP/1.1\r\nHost: x\r\n\r\n")
	resp2, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp2.StatusCode != 200 {
		t.Fatalf("after-head: %v %v", resp2, err)
	}
	got, err := io.ReadAll(resp2.Body)
	if err == nil || string(got) != "seven b" {
		t.Errorf("after-head: body %q, err %v: want the 7 bytes, then a cut", got, err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("cut took %v: the gateway waited for the route timeout", took)
	}
}

// splitRecordConn holds the first record a TLS server writes after it is
// armed and sends it together with the first 10 bytes of the next; the
// rest of that record follows 300 ms later.
type splitRecordConn struct {
	net.Conn
	armed atomic.Bool
	held  []byte
}

func (c *splitRecordConn) Write(p []byte) (int, error) {
	if !c.armed.Load() {
		return c.Conn.Write(p)
	}
	if c.held == nil {
		c.held = append([]byte{}, p...)
		return len(p), nil
	}
	c.armed.Store(false)
	if _, err := c.Conn.Write(append(c.held, p[:10]...)); err != nil {
		return 0, err
	}
	c.held = nil
	time.Sleep(300 * time.Millisecond)
	_, err := c.Conn.Write(p[10:])
	return len(p), err
}

// An upstream TLS connection whose answer is followed, in the same read,
// by the start of another record is in the middle of a record: it must not
// be pooled, or the rest of that record (here a whole crafted response)
// becomes the next request's answer, as with a plaintext upstream's stray
// bytes (response-queue poisoning). crypto/tls used to keep the partial
// record out of sight.
func TestUpstreamTLSPartialRecordNotReused(t *testing.T) {
	p := newPKI(t, "split-ca")
	certFile, keyFile, _ := p.issue(t, "up", false, "up.example")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int32
	go func() {
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				sc := &splitRecordConn{Conn: raw}
				c := tls.Server(sc, cfg)
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					sc.armed.Store(true)
					c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"))
					c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nX-Smuggled: yes\r\n\r\nSMUGGLED"))
				}
			}()
		}
	}()
	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: split
    targets: [{address: "`+ln.Addr().String()+`"}]
    tls: {server_name: up.example, ca_file: "`+filepath.Join(p.dir, "ca.crt")+`"}
routes:
  - name: all
    match: {path_prefix: /}
    upstream: split
`)
	for i := range 3 {
		resp, body := g.get(fmt.Sprintf("/r%d", i))
		if resp.StatusCode != 200 || body != "first" || resp.Header.Get("X-Smuggled") != "" {
			t.Fatalf("request %d got %d %q (X-Smuggled %q): the previous answer's trailing record", i, resp.StatusCode, body, resp.Header.Get("X-Smuggled"))
		}
		time.Sleep(50 * time.Millisecond) // within the 300 ms before the rest of the record comes
	}
	if n := conns.Load(); n < 3 {
		t.Errorf("%d upstream connections for 3 requests: one in the middle of a record was reused", n)
	}
}
