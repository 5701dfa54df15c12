//go:build integration

package test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
)

// A client that is not a trusted proxy cannot tell the upstream what a
// proxy saw: Forwarded (which Rack and Spring read before X-Forwarded-*),
// X-Real-IP, X-Forwarded-Port/-Scheme/-Ssl/-Prefix, and the original-URL
// fields some frameworks route by are removed, in either spelling, and
// from trailers; a trusted proxy's copies pass. The gateway's own
// X-Forwarded-* are set as always.
func TestProxyClaimsFromUntrustedClientsRemoved(t *testing.T) {
	claims := map[string]string{
		"Forwarded":          "for=6.6.6.6;host=evil.com;proto=https",
		"X-Real-IP":          "6.6.6.6",
		"X-Forwarded-Port":   "443",
		"X-Forwarded-Scheme": "https",
		"X-Forwarded-Ssl":    "on",
		"X-Forwarded-Prefix": "/admin",
		"X-Original-URL":     "/admin/secret",
		"X-Rewrite-URL":      "/admin/secret",
		"X_Real_IP":          "6.6.6.6",
		"X-Client-IP":        "6.6.6.6",
		"True-Client-IP":     "6.6.6.6",
		"CF-Connecting-IP":   "6.6.6.6",
		"X-Forwarded-Uri":    "/admin",
		"X-Forwarded-Server": "evil",
		"X-Original-Host":    "evil.com",
	}
	for _, c := range []struct {
		name, trusted string
		kept          bool
	}{{"untrusted", "", false}, {"trusted proxy", "\n    trusted_proxies: [127.0.0.1/32]", true}} {
		t.Run(c.name, func(t *testing.T) {
			var trailers http.Header
			var mu sync.Mutex
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				mu.Lock()
				trailers = r.Trailer.Clone()
				mu.Unlock()
				w.Write([]byte("ok"))
			})
			g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"`+c.trusted+`
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: app
    targets: [{address: "`+up.addr()+`"}]
routes:
  - name: all
    match: {path_prefix: /}
    upstream: app
`)
			var req strings.Builder
			req.WriteString("GET /public HTTP/1.1\r\nHost: a.example.com\r\nConnection: close\r\n")
			for n, v := range claims {
				req.WriteString(n + ": " + v + "\r\n")
			}
			req.WriteString("\r\n")
			if got := g.raw(req.String(), 3e9); !strings.HasPrefix(got, "HTTP/1.1 200") {
				t.Fatalf("answer %q", got)
			}
			h := lastSeen(t, up).Header
			for n := range claims {
				key := http.CanonicalHeaderKey(n)
				if got := h.Get(key); (got != "") != c.kept {
					t.Errorf("%s upstream: %q (kept %v, want %v)", n, got, got != "", c.kept)
				}
			}
			if h.Get("X-Forwarded-Host") != "a.example.com" || h.Get("X-Forwarded-Proto") != "http" {
				t.Errorf("gateway's own forwarding fields: host %q proto %q", h.Get("X-Forwarded-Host"), h.Get("X-Forwarded-Proto"))
			}

			// Trailers never carry them, whoever sends them.
			g.raw("POST /t HTTP/1.1\r\nHost: a.example.com\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"+
				"1\r\nx\r\n0\r\nForwarded: host=evil.com\r\nX-Original-URL: /admin\r\nX-Fine: 1\r\n\r\n", 3e9)
			if seen := lastSeen(t, up); seen.Path != "/t" {
				t.Fatalf("last upstream request %s", seen.Path)
			}
			mu.Lock()
			defer mu.Unlock()
			if trailers.Get("X-Fine") != "1" || trailers.Get("Forwarded") != "" || trailers.Get("X-Original-Url") != "" {
				t.Errorf("trailers upstream: %v, want X-Fine only", trailers)
			}
		})
	}
}

// Host is held to DNS-name bytes: a value with sub-delims passes a
// "*.example.com" route under RFC 3986's reg-name, while its
// X-Forwarded-Host reads as another host to applications that split it on
// ','. Over HTTP/1.1 and HTTP/2 (:authority) alike it is a 400.
func TestHostWithSubDelimsRefused(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, strings.Replace(h2cConfig(up.addr()), "match: {path_prefix: /}", `match: {hosts: ["*.example.com"], path_prefix: /}`, 1))
	for _, host := range []string{"evil.com,a.example.com", "evil.com;a.example.com", "a%2eexample.com.example.com"} {
		if got := g.raw("GET /x HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n", 3e9); !strings.HasPrefix(got, "HTTP/1.1 400") {
			t.Errorf("HTTP/1.1 Host %q: %q", host, strings.SplitN(got, "\r\n", 2)[0])
		}
		r := dialH2Frames(t, g.addr)
		r.headers(1, ":method", "GET", ":scheme", "http", ":path", "/x", ":authority", host)
		if hdr, _ := r.response(1); hdr[":status"] != "400" {
			t.Errorf("HTTP/2 :authority %q: status %q", host, hdr[":status"])
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("%d requests reached the upstream", n)
	}
	if got := g.raw("GET /x HTTP/1.1\r\nHost: a.example.com\r\nConnection: close\r\n\r\n", 3e9); !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Errorf("a plain host: %q", strings.SplitN(got, "\r\n", 2)[0])
	}
}
