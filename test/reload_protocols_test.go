//go:build integration

package test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestReloadKeepsConnectionsProtocol: a reload that takes a protocol off a
// listener applies to new connections; one that already speaks it keeps
// being served (SPEC §1: a reload never drops an accepted connection),
// plaintext HTTP/1.1 after a change to [h2c] and TLS HTTP/1.1 (ALPN
// http/1.1) after a change to [h2].
func TestReloadKeepsConnectionsProtocol(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { io.WriteString(w, "ok "+r.URL.Path) })
	p := newPKI(t, "proto")
	cert, key, _ := p.issue(t, "server", false, "localhost")
	cfg := func(plain, secure string) string {
		return `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
    protocols: ` + plain + `
  - name: tls
    address: "{{TLS}}"
    protocols: ` + secure + `
    tls:
      certificates: [{cert_file: "` + cert + `", key_file: "` + key + `"}]
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: app
    targets: [{address: "` + up.addr() + `"}]
routes:
  - name: all
    match: {path_prefix: /}
    upstream: app
`
	}
	tlsAddr := freePortNotIn(t, "")
	withTLS := func(s string) string { return strings.ReplaceAll(s, "{{TLS}}", tlsAddr) }
	g := startGateway(t, withTLS(cfg("[http1, h2c]", "[http1, h2]")))

	plain, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	secure, err := tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: p.pool(), ServerName: "localhost", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer secure.Close()
	conns := []struct {
		name string
		c    net.Conn
		br   *bufio.Reader
	}{{"plaintext", plain, bufio.NewReader(plain)}, {"tls", secure, bufio.NewReader(secure)}}
	ask := func(i int, path string) {
		t.Helper()
		c := conns[i]
		_ = c.c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c.c, "GET "+path+" HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
			t.Fatalf("%s %s: write: %v", c.name, path, err)
		}
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatalf("%s %s: %v (the connection was dropped)", c.name, path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "ok "+path || resp.Close {
			t.Fatalf("%s %s: %d %q (close %v)", c.name, path, resp.StatusCode, b, resp.Close)
		}
	}
	ask(0, "/1")
	ask(1, "/1")
	g.reload(withTLS(cfg("[h2c]", "[h2]")))
	ask(0, "/2")
	ask(1, "/2")
	// New connections get the new protocols.
	if out := g.raw("GET /3 HTTP/1.1\r\nHost: x\r\n\r\n", 3*time.Second); !strings.HasPrefix(out, "HTTP/1.1 505 ") {
		t.Errorf("new HTTP/1.1 connection after the reload: %q", out)
	}
}

// TestReloadClosesRemovedTargetsIdleConnections: a reload that removes a
// target closes the gateway's idle keep-alive connections to it within
// seconds (the loops' pool sweep), rather than holding them for the
// upstream idle timeout (30 s), and drops their pools, so targets that
// come and go do not pile up.
func TestReloadClosesRemovedTargetsIdleConnections(t *testing.T) {
	closed := make(chan time.Time, 4)
	old := rawUpstream(t, func(c net.Conn) {
		eachRequest(c, func(int, *http.Request) bool {
			_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nold")
			return err == nil
		})
		closed <- time.Now() // eachRequest returns when the gateway closes
	})
	fresh := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { io.WriteString(w, "new") })
	g := startGateway(t, basicConfig(old))
	if _, body := g.get("/a"); body != "old" {
		t.Fatalf("before the reload: %q", body)
	}
	g.reload(basicConfig(fresh.addr()))
	start := time.Now()
	if _, body := g.get("/b"); body != "new" {
		t.Fatalf("after the reload: %q", body)
	}
	select {
	case at := <-closed:
		t.Logf("idle connection to the removed target closed %v after the reload", at.Sub(start).Round(time.Millisecond))
	case <-time.After(9 * time.Second):
		t.Fatal("the idle connection to the removed target is still open 9 s after the reload")
	}
}
