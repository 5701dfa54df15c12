//go:build integration

package test

import (
	"fmt"
	"io"
	"net"
	"net/http"
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
