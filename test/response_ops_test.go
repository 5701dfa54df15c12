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
