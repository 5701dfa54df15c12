//go:build integration

package test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// close_notify in the same read as the last data it follows: the data is
// still read. It used to count as a failed session, so an upstream answer
// followed by the upstream's close became a 502 (or a cut answer), and a
// TLS client's request followed by its close_notify got no answer. Portico
// is frozen (SIGSTOP) while both are sent so that one read takes them.
func TestTLSCloseNotifyAfterData(t *testing.T) {
	p := newPKI(t, "ca")
	_, _, upPair := p.issue(t, "upstream", false, "up.example")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{upPair}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	gotRequest := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					c.Close()
					return
				}
				io.Copy(io.Discard, req.Body)
				gotRequest <- c // the test freezes Portico, then answers and closes
			}()
		}
	}()
	srvCert, srvKey, _ := p.issue(t, "gateway", false, "gw.example")
	tlsAddr := freePort(t)
	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
  - name: tls
    address: "`+tlsAddr+`"
    tls:
      certificates: [{cert_file: "`+srvCert+`", key_file: "`+srvKey+`"}]
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: secure
    targets: [{address: "`+ln.Addr().String()+`"}]
    tls: {server_name: up.example, ca_file: "`+filepath.Join(p.dir, "ca.crt")+`"}
routes:
  - name: direct
    match: {path_prefix: /direct}
    direct_response: {status: 200, body: "direct"}
  - name: secure
    match: {path_prefix: /}
    upstream: secure
`)
	for _, c := range []struct{ name, answer, want string }{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", "hello"},
		{"close-delimited", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the close", "until the close"},
	} {
		done := make(chan string, 1)
		go func() {
			resp, err := client.Get("http://" + g.addr + "/up")
			if err != nil {
				done <- "error: " + err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			done <- resp.Status + " " + string(b)
		}()
		var uc net.Conn
		select {
		case uc = <-gotRequest:
		case <-time.After(5 * time.Second):
			t.Fatal("the upstream got no request")
		}
		g.signal(syscall.SIGSTOP)
		io.WriteString(uc, c.answer)
		uc.Close() // close_notify right behind the answer
		time.Sleep(100 * time.Millisecond)
		g.signal(syscall.SIGCONT)
		if got := <-done; got != "200 OK "+c.want {
			t.Fatalf("%s answer then close_notify: %q", c.name, got)
		}
	}

	// A TLS client's request followed at once by its close_notify. TLS
	// 1.2, whose record headers show an alert as such (type 21), so the
	// test can see the gateway's own close_notify come back.
	raw, err := net.Dial("tcp", tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingConn{Conn: raw}
	conn := tls.Client(rec, &tls.Config{ServerName: "gw.example", RootCAs: p.pool(), MaxVersion: tls.VersionTLS12})
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if err := conn.Handshake(); err != nil {
		t.Fatal(err)
	}
	g.signal(syscall.SIGSTOP)
	io.WriteString(conn, "GET /direct HTTP/1.1\r\nHost: gw.example\r\n\r\n")
	conn.CloseWrite()
	time.Sleep(100 * time.Millisecond)
	g.signal(syscall.SIGCONT)
	out, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(out), "HTTP/1.1 200") || !strings.HasSuffix(string(out), "direct") {
		t.Fatalf("request then close_notify: %q", out)
	}
	// The gateway answers the close_notify with its own, after the answer
	// (RFC 8446 §6.1): the last record it sent is an alert.
	if types := rec.recordTypes(); len(types) == 0 || types[len(types)-1] != 21 {
		t.Fatalf("record types from the gateway %v: the last is not an alert (no close_notify back)", types)
	}

	// A close_notify in the middle of a close-delimited answer cuts it,
	// and the cut must stay visible: no close_notify back, which would
	// tell the client the body was complete (RFC 9112 §9.8).
	raw, err = net.Dial("tcp", tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	rec = &recordingConn{Conn: raw}
	conn = tls.Client(rec, &tls.Config{ServerName: "gw.example", RootCAs: p.pool(), MaxVersion: tls.VersionTLS12})
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET /up HTTP/1.0\r\nHost: gw.example\r\n\r\n")
	var uc net.Conn
	select {
	case uc = <-gotRequest:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream got no request")
	}
	defer uc.Close()
	io.WriteString(uc, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nfirst part, ")
	first := make([]byte, 64)
	if n, err := conn.Read(first); err != nil || !strings.HasPrefix(string(first[:n]), "HTTP/1.1 200") {
		t.Fatalf("answer head: %q %v", first[:n], err)
	}
	conn.CloseWrite()
	time.Sleep(100 * time.Millisecond)
	io.WriteString(uc, "second part")
	io.ReadAll(conn)
	if types := rec.recordTypes(); len(types) > 0 && types[len(types)-1] == 21 {
		t.Fatalf("record types from the gateway %v: a cut answer ended with an alert (close_notify claims it complete)", types)
	}
}

// recordingConn keeps every byte read, to list the TLS records a peer sent.
type recordingConn struct {
	net.Conn
	got []byte
}

func (r *recordingConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.got = append(r.got, p[:n]...)
	return n, err
}

func (r *recordingConn) recordTypes() []byte {
	var types []byte
	for b := r.got; len(b) >= 5; {
		n := 5 + (int(b[3])<<8 | int(b[4]))
		if n > len(b) {
			break
		}
		types = append(types, b[0])
		b = b[n:]
	}
	return types
}

// A TLS upstream that ends a pooled connection with close_notify just as
// it is reused (its keep-alive timeout meeting our reuse) is the same
// race as a TCP close: the GET is sent again on a new connection, not
// answered 502.
func TestTLSUpstreamCloseNotifyOnReuseRetried(t *testing.T) {
	p := newPKI(t, "ca")
	_, _, upPair := p.issue(t, "upstream", false, "up.example")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{upPair}})
	if err != nil {
		t.Fatal(err)
	}
	upAddr := rawUpstreamOn(t, ln, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		for n := 0; ; n++ {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if n == 1 {
				return // the second request: close_notify, no answer
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: secure
    targets: [{address: "`+upAddr+`"}]
    tls: {server_name: up.example, ca_file: "`+filepath.Join(p.dir, "ca.crt")+`"}
routes:
  - name: secure
    match: {path_prefix: /}
    upstream: secure
`)
	conn := g.dial(8 * time.Second) // one client connection: one loop, one pool
	br := bufio.NewReader(conn)
	for i := 0; i < 6; i++ {
		io.WriteString(conn, "GET /r HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d, want 200 (the reuse race is retried)", i, resp.StatusCode)
		}
	}
}
