//go:build integration

package test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A route that puts auth on GET in front of a public catch-all must also
// catch HEAD and "get": origins serve both with their GET handler (Go's
// ServeMux, Flask, Rails), so either would otherwise reach it without auth.
func TestMethodRouteCatchesHeadAndCase(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Write([]byte("upstream " + r.Method))
	})
	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: app
    targets: [{address: "`+up.addr()+`"}]
auth:
  - name: keys
    type: api_key
    from: header:X-API-Key
    keys:
      - {consumer: acme, sha256: "`+strings.Repeat("ab", 32)+`"}
routes:
  - name: admin-read
    match: {path_prefix: /adm, methods: [GET]}
    upstream: app
    auth: [keys]
  - name: public
    match: {path_prefix: /}
    upstream: app
`)
	for _, method := range []string{"GET", "HEAD", "get", "Get", "head"} {
		out := g.raw(method+" /adm HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 3*time.Second)
		if !strings.HasPrefix(out, "HTTP/1.1 401") {
			t.Fatalf("%s /adm: %.60q, want 401 from the GET route's auth", method, out)
		}
	}
	// POST is not the GET route's: the catch-all serves it.
	out := g.raw("POST /adm HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 3*time.Second)
	if !strings.HasPrefix(out, "HTTP/1.1 200") || !strings.HasSuffix(out, "upstream POST") {
		t.Fatalf("POST /adm: %.80q", out)
	}
}

// A POST, PUT or PATCH without a body, or any request whose client sent
// "Content-Length: 0", reaches the upstream with "Content-Length: 0"
// (RFC 9110 §8.6; origins answer 411 or fail without it), over HTTP/1.1
// and HTTP/2. A GET without a body gets no length.
func TestEmptyBodyLengthForwarded(t *testing.T) {
	heads := make(chan string, 16)
	up := rawUpstream(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufioReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, hasCL := req.Header["Content-Length"]
			heads <- fmt.Sprintf("%s cl=%v te=%v", req.Method, hasCL, len(req.TransferEncoding) > 0)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	g := startGateway(t, h2cConfig(up))
	for _, c := range []struct{ req, want string }{
		{"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", "POST cl=true te=false"},
		{"POST /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "POST cl=true te=false"},
		{"PUT /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "PUT cl=true te=false"},
		{"DELETE /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", "DELETE cl=true te=false"},
		{"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "GET cl=false te=false"},
		// A standard method in any case goes upstream in upper case: the
		// relay treats "head" as HEAD, so must the upstream.
		{"head /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "HEAD cl=false te=false"},
	} {
		if out := g.raw(c.req, 3*time.Second); !strings.HasPrefix(out, "HTTP/1.1 200") {
			t.Fatalf("%q: %.60q", c.req, out)
		}
		if got := <-heads; got != c.want {
			t.Fatalf("%q reached the upstream as %s, want %s", c.req, got, c.want)
		}
	}
	req, _ := http.NewRequest("POST", "http://"+g.addr+"/h2", nil)
	resp, err := h2cClient().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("h2 POST: %v %v", resp, err)
	}
	resp.Body.Close()
	if got := <-heads; got != "POST cl=true te=false" {
		t.Fatalf("h2 POST without a body reached the upstream as %s", got)
	}
}

// A rewrite never sends a path that climbs out of its add_prefix: a byte-
// prefix strip can leave a dot segment ("/api../admin" with strip_prefix
// /api leaves "../admin"), and behind add_prefix /svc/ it reached /admin on
// the upstream. What follows the prefix is normalised on its own; the
// add_prefix is used as written (an encoded "/" in it stays).
func TestRewriteStaysUnderAddPrefix(t *testing.T) {
	seen := make(chan string, 16)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		seen <- r.RequestURI
		io.WriteString(w, "ok")
	})
	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: app
    targets: [{address: "`+up.addr()+`"}]
routes:
  - name: api
    match: {path_prefix: /api}
    upstream: app
    rewrite: {strip_prefix: /api, add_prefix: /svc/}
  - name: b
    match: {path_prefix: /b}
    upstream: app
    rewrite: {strip_prefix: /b}
  - name: proj
    match: {path_prefix: /proj}
    upstream: app
    rewrite: {strip_prefix: /proj, add_prefix: "/api/v4/projects/group%2Fproject"}
`)
	for _, c := range []struct{ path, status, upstream string }{
		{"/api../admin", "HTTP/1.1 200 OK", "/svc/admin"},
		{"/api%2e%2e/admin", "HTTP/1.1 200 OK", "/svc/admin"},
		{"/api..", "HTTP/1.1 200 OK", "/svc/"},
		{"/api/x", "HTTP/1.1 200 OK", "/svc/x"},
		{"/api", "HTTP/1.1 200 OK", "/svc/"},
		{"/api.x/y", "HTTP/1.1 200 OK", "/svc/.x/y"},
		{"/b../etc", "HTTP/1.1 200 OK", "/etc"}, // no add_prefix: nothing to leave
		{"/b/x?q=1", "HTTP/1.1 200 OK", "/x?q=1"},
		{"/proj/issues", "HTTP/1.1 200 OK", "/api/v4/projects/group%2Fproject/issues"},
		{"/projx", "HTTP/1.1 200 OK", "/api/v4/projects/group%2Fprojectx"}, // byte-prefix rewrite, as Envoy and nginx
	} {
		got := statusOf(g.raw("GET "+c.path+" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 3*time.Second))
		if got != c.status {
			t.Fatalf("%s: %s, want %s", c.path, got, c.status)
		}
		if c.upstream != "" {
			if u := <-seen; u != c.upstream {
				t.Fatalf("%s reached the upstream as %s, want %s", c.path, u, c.upstream)
			}
		}
	}
}

// Two listeners (or a listener and the admin listener) that bind the same
// socket once their addresses are resolved are refused with the position
// of the second: "localhost:P" and "127.0.0.1:P" passed the check of the
// addresses as written, and with SO_REUSEPORT both binds succeeded and
// split the traffic.
func TestSameSocketSpelledTwiceRefused(t *testing.T) {
	dir := t.TempDir()
	port := strings.TrimPrefix(freePort(t), "127.0.0.1:")
	for _, c := range []struct{ name, body, want string }{
		{"listeners", `listeners:
  - {name: a, address: "127.0.0.1:` + port + `"}
  - {name: b, address: "localhost:` + port + `"}
`, "listeners[1].address"},
		{"admin", `listeners:
  - {name: a, address: "127.0.0.1:` + port + `"}
admin: {address: "localhost:` + port + `"}
`, "admin.address"},
		{"leading zero", `listeners:
  - {name: a, address: "127.0.0.1:` + port + `"}
  - {name: b, address: "127.0.0.1:0` + port + `"}
`, "listeners[1].address"},
	} {
		file := filepath.Join(dir, c.name+".yaml")
		os.WriteFile(file, []byte("version: 1\n"+c.body+`routes:
  - {name: d, match: {path_prefix: /}, direct_response: {status: 200, body: ok}}
`), 0o644)
		out, code := runValidate(t, file)
		if code != 1 || !strings.Contains(out, c.want) || !strings.Contains(out, "binds the same socket") {
			t.Errorf("%s: exit %d\n%s", c.name, code, out)
		}
	}
}
