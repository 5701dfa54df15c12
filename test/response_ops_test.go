//go:build integration

package test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// A route's response_headers that give Date or Content-Encoding are the
// only ones: Portico adds no second Date, and does not compress a body the
// route declares the coding of (it sent two Content-Encoding fields, and
// with "gzip" set would have encoded an encoded body again).
func TestResponseOpsOwnDateAndEncoding(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header()["Date"] = nil // net/http would add one
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"items":"` + strings.Repeat("x", 4096) + `"}`))
	})
	g := startGateway(t, oneRouteConfig(up.addr(), "", `    compress: [gzip]
    response_headers: {set: {Date: "Thu, 01 Jan 2026 00:00:00 GMT", Content-Encoding: identity}}
`))
	out := g.raw("GET /d HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n", 3*time.Second)
	head, _, _ := strings.Cut(out, "\r\n\r\n")
	if n := strings.Count(strings.ToLower(head), "\r\ndate:"); n != 1 {
		t.Fatalf("%d Date fields:\n%s", n, head)
	}
	if n := strings.Count(strings.ToLower(head), "\r\ncontent-encoding:"); n != 1 || !strings.Contains(head, "Content-Encoding: identity") {
		t.Fatalf("Content-Encoding fields:\n%s", head)
	}
}

// The same for the fields Portico writes on a direct response (Date,
// Content-Type) and on any answer of a rate-limited route (RateLimit-*):
// the route's set replaces Portico's line and its remove removes it. Each
// came twice (a set) or stayed (a remove).
func TestResponseOpsOwnGatewayFields(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Write([]byte("proxied"))
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
rate_limits:
  - {name: rl, key: route, rate: 1000/s}
routes:
  - name: set-type
    match: {path_prefix: /set-type}
    response_headers: {set: {Content-Type: text/x-over}}
    direct_response: {status: 200, body: hello}
  - name: set-date
    match: {path_prefix: /set-date}
    response_headers: {set: {Date: "Thu, 01 Jan 2026 00:00:00 GMT"}}
    direct_response: {status: 200, body: hello}
  - name: remove-type
    match: {path_prefix: /remove-type}
    response_headers: {remove: [Content-Type, Date]}
    direct_response: {status: 200, body: hello}
  - name: limits
    match: {path_prefix: /limits}
    rate_limits: [rl]
    response_headers: {set: {RateLimit-Limit: "9"}, remove: [RateLimit-Remaining]}
    upstream: app
`)
	head := func(path string) string {
		out := g.raw("GET "+path+" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 3*time.Second)
		h, _, _ := strings.Cut(out, "\r\n\r\n")
		return strings.ToLower(h) + "\r\n"
	}
	count := func(h, field string) int { return strings.Count(h, "\r\n"+strings.ToLower(field)+":") }
	if h := head("/set-type"); count(h, "Content-Type") != 1 || !strings.Contains(h, "content-type: text/x-over\r\n") {
		t.Errorf("set Content-Type on a direct response:\n%s", h)
	}
	if h := head("/set-date"); count(h, "Date") != 1 || !strings.Contains(h, "date: thu, 01 jan 2026 00:00:00 gmt\r\n") {
		t.Errorf("set Date on a direct response:\n%s", h)
	}
	if h := head("/remove-type"); count(h, "Content-Type") != 0 || count(h, "Date") != 0 || count(h, "Content-Length") != 1 {
		t.Errorf("remove Content-Type and Date on a direct response:\n%s", h)
	}
	h := head("/limits")
	if count(h, "RateLimit-Limit") != 1 || !strings.Contains(h, "ratelimit-limit: 9\r\n") || count(h, "RateLimit-Remaining") != 0 || count(h, "RateLimit-Reset") != 1 {
		t.Errorf("set and remove RateLimit-* on a proxied answer:\n%s", h)
	}
}
