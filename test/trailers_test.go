//go:build integration

package test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// trailerUpstream answers /trailers with a chunked body and two trailers,
// one allowed through (X-Checksum) and one Portico must drop (an identity
// header of ours); every request's trailers are recorded with its body.
func trailerUpstream(t *testing.T) (*upstream, chan http.Header) {
	got := make(chan http.Header, 8)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		got <- r.Trailer.Clone()
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Trailer", "X-Checksum, X-Portico-Consumer")
		w.WriteHeader(200)
		io.WriteString(w, "part one, ")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part two")
		sum := sha256.Sum256([]byte("part one, part two"))
		w.Header().Set("X-Checksum", hex.EncodeToString(sum[:]))
		w.Header().Set("X-Portico-Consumer", "forged")
	})
	return up, got
}

func wantTrailers(t *testing.T, who string, tr http.Header) {
	t.Helper()
	sum := sha256.Sum256([]byte("part one, part two"))
	if tr.Get("X-Checksum") != hex.EncodeToString(sum[:]) {
		t.Errorf("%s: trailers %v lack X-Checksum", who, tr)
	}
	if tr.Get("X-Portico-Consumer") != "" {
		t.Errorf("%s: X-Portico-Consumer passed as a trailer: %v", who, tr)
	}
}

// TestTrailersHTTP1: response trailers of a chunked upstream body reach an
// HTTP/1.1 client, request trailers reach the upstream, and fields a
// trailer may not carry are dropped both ways.
func TestTrailersHTTP1(t *testing.T) {
	up, seen := trailerUpstream(t)
	g := startGateway(t, compressConfig(up.addr(), ""))

	// Request trailers from a chunked upload.
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /plain/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Req-Sum\r\n\r\n"+
		"5\r\nhello\r\n0\r\nX-Req-Sum: 42\r\nContent-Length: 99\r\nX-Portico-Auth: forged\r\n"+
		"X_Portico_Consumer: forged\r\nX_Forwarded_For: 10.0.0.1\r\nX_Forwarded_Prefix: /evil\r\nProxy_Authorization: x\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "part one, part two" {
		t.Fatalf("body %q", body)
	}
	wantTrailers(t, "HTTP/1.1 client", resp.Trailer)
	select {
	case tr := <-seen:
		if tr.Get("X-Req-Sum") != "42" || tr.Get("Content-Length") != "" || tr.Get("X-Portico-Auth") != "" {
			t.Errorf("upstream saw request trailers %v", tr)
		}
		// CGI-style upstreams read X_Portico_Consumer as X-Portico-Consumer.
		for name := range tr {
			if n := strings.ToLower(strings.ReplaceAll(name, "_", "-")); strings.HasPrefix(n, "x-portico-") || strings.HasPrefix(n, "x-forwarded-") || n == "proxy-authorization" {
				t.Errorf("upstream saw trailer %s: %v", name, tr)
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("upstream saw no request")
	}

	// An HTTP/1.0 client gets the body without a trailer section.
	out := g.raw("GET /plain/x HTTP/1.0\r\nHost: x\r\n\r\n", 5*time.Second)
	if _, b, _ := strings.Cut(out, "\r\n\r\n"); b != "part one, part two" {
		t.Errorf("HTTP/1.0 body %q", b)
	}
	<-seen
}

// TestTrailersH2: over HTTP/2 the upstream's trailers arrive as a trailing
// HEADERS block, and a client's trailers reach the upstream when the body
// is sent without a length (chunked upstream).
func TestTrailersH2(t *testing.T) {
	up, seen := trailerUpstream(t)
	g := startGateway(t, compressConfig(up.addr(), "    protocols: [http1, h2c]\n"))
	cl := h2cClient()

	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+g.addr+"/plain/x", pr)
	req.Trailer = http.Header{"X-Req-Sum": nil, "Authorization": nil}
	go func() {
		io.WriteString(pw, "hello")
		req.Trailer.Set("X-Req-Sum", "42")
		req.Trailer.Set("Authorization", "Bearer forged")
		pw.Close()
	}()
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(body) != "part one, part two" {
		t.Fatalf("%s %q", resp.Proto, body)
	}
	wantTrailers(t, "HTTP/2 client", resp.Trailer)
	select {
	case tr := <-seen:
		if tr.Get("X-Req-Sum") != "42" || tr.Get("Authorization") != "" {
			t.Errorf("upstream saw request trailers %v", tr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("upstream saw no request")
	}

	// Compressed and with trailers: both survive.
	req, _ = http.NewRequest("GET", "http://"+g.addr+"/x", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err = cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	if body = decode(t, "gzip", body); !bytes.Equal(body, []byte("part one, part two")) {
		t.Fatalf("body %q", body)
	}
	wantTrailers(t, "HTTP/2 client (compress route)", resp.Trailer)
	<-seen
}

// TestTrailersNeverCarryTheRouteHeaders: a client's trailer never brings
// a second copy of a header the route acts on (the API key its auth
// checked in the head, a header its match read, its rate limit's key,
// its upstream's hash key, one its request_headers set) to the upstream:
// an application that merges trailers into headers would read the forged
// copy. Nor does a head field spelled with '_' (a CGI application reads
// X_API_Key as X-API-Key). Over HTTP/1.1 and HTTP/2; a response trailer
// named in response_headers is dropped likewise.
func TestTrailersNeverCarryTheRouteHeaders(t *testing.T) {
	const key = "sekrit-key-1"
	sum := sha256.Sum256([]byte(key))
	seen := make(chan http.Header, 4)
	heads := make(chan http.Header, 4)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		seen <- r.Trailer.Clone()
		heads <- r.Header.Clone()
		w.Header().Set("Trailer", "X-Frame-Options, X-Checksum")
		w.WriteHeader(200)
		io.WriteString(w, "ok")
		w.Header().Set("X-Frame-Options", "ALLOWALL")
		w.Header().Set("X-Checksum", "1")
	})
	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
    protocols: [http1, h2c]
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: app
    targets: [{address: "`+up.addr()+`"}]
    balancer: consistent_hash
    hash_on: header:X-Shard
auth:
  - name: keys
    type: api_key
    from: header:X-API-Key
    keys: [{consumer: acme, sha256: "`+hex.EncodeToString(sum[:])+`"}]
rate_limits:
  - {name: per-user, key: "header:X-User", rate: 1000/s}
routes:
  - name: keyed
    match: {path_prefix: /key/, headers: {X-Ver: "2"}}
    auth: [keys]
    rate_limits: [per-user]
    request_headers: {set: {X-Gateway: portico}}
    response_headers: {set: {X-Frame-Options: DENY}}
    upstream: app
`)
	routeNames := map[string]bool{"x-api-key": true, "x-ver": true, "x-gateway": true, "x-user": true, "x-shard": true}
	check := func(who string, tr http.Header, respTr http.Header) {
		t.Helper()
		for name, v := range tr {
			// (X_API_Key too: CGI-style upstreams read it as X-API-Key.)
			if routeNames[strings.ToLower(strings.ReplaceAll(name, "_", "-"))] {
				t.Errorf("%s: the upstream got trailer %s: %q (all: %v)", who, name, v, tr)
			}
		}
		// In the head, the real fields pass; their '_' twins do not.
		h := <-heads
		for name, v := range h {
			if strings.Contains(name, "_") && routeNames[strings.ToLower(strings.ReplaceAll(name, "_", "-"))] {
				t.Errorf("%s: the upstream got header %s: %q", who, name, v)
			}
		}
		if h.Get("X-Api-Key") != key || h.Get("X-Ver") != "2" || h.Get("X-Gateway") != "portico" || h.Get("X-User") != "u1" || h.Get("X-Shard") != "s1" {
			t.Errorf("%s: head fields the route acts on: %v", who, h)
		}
		if tr.Get("X-Fine") != "ok" {
			t.Errorf("%s: an ordinary trailer was lost: %v", who, tr)
		}
		if respTr.Get("X-Frame-Options") != "" || respTr.Get("X-Checksum") != "1" {
			t.Errorf("%s: response trailers %v", who, respTr)
		}
	}

	c := g.dial(5 * time.Second)
	io.WriteString(c, "POST /key/tr HTTP/1.1\r\nHost: a\r\nX-API-Key: "+key+"\r\nX-Ver: 2\r\nX-User: u1\r\nX-Shard: s1\r\n"+
		"X_API_Key: forged\r\nX_Ver: 3\r\nX_Gateway: evil\r\nX_User: u2\r\nx_shard: s2\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"3\r\nabc\r\n0\r\nX-API-Key: forged\r\nX_API_Key: forged\r\nx-ver: 3\r\nX-Gateway: evil\r\nX-User: u2\r\nX_Shard: s2\r\nX-Fine: ok\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("HTTP/1.1: status %d", resp.StatusCode)
	}
	select {
	case tr := <-seen:
		check("HTTP/1.1", tr, resp.Trailer)
	case <-time.After(5 * time.Second):
		t.Fatal("HTTP/1.1: upstream saw no request")
	}

	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+g.addr+"/key/tr", pr)
	req.Header.Set("X-API-Key", key)
	req.Header.Set("X-Ver", "2")
	req.Header.Set("X-User", "u1")
	req.Header.Set("X-Shard", "s1")
	req.Header["X_api_key"] = []string{"forged"}
	req.Header["X_gateway"] = []string{"evil"}
	req.Trailer = http.Header{"X-Api-Key": nil, "X-Ver": nil, "X-Gateway": nil, "X-User": nil, "X-Shard": nil, "X-Fine": nil}
	go func() {
		io.WriteString(pw, "abc")
		req.Trailer.Set("X-Api-Key", "forged")
		req.Trailer.Set("X-Ver", "3")
		req.Trailer.Set("X-Gateway", "evil")
		req.Trailer.Set("X-User", "u2")
		req.Trailer.Set("X-Shard", "s2")
		req.Trailer.Set("X-Fine", "ok")
		pw.Close()
	}()
	resp, err = h2cClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("HTTP/2: %s %d", resp.Proto, resp.StatusCode)
	}
	select {
	case tr := <-seen:
		check("HTTP/2", tr, resp.Trailer)
	case <-time.After(5 * time.Second):
		t.Fatal("HTTP/2: upstream saw no request")
	}
}
