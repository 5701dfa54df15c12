//go:build integration

package test

// SPEC audit, §3 and §4 (on the wire, errors): each test asserts what
// SPEC.md says. Tests named in the audit report as discrepancies fail on
// the binary they were written against; the others pin SPEC behaviour
// that had no test before.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// auditConfig is a plaintext gateway in front of one upstream, with the
// routes the audit tests need.
func auditConfig(up string) string {
	return `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
    limits: {max_header_bytes: 8KiB, header_timeout: 2s, max_body_bytes: 1KiB}
admin: {address: "{{ADMIN}}"}
access_log: {path: stdout}
drain_timeout: 5s
upstreams:
  - name: app
    targets: [{address: "` + up + `"}]
routes:
  - name: direct
    match: {path: /direct}
    direct_response: {status: 200, body: "direct ok\n"}
  - name: teapot
    match: {path: /teapot, methods: [GET, HEAD]}
    direct_response: {status: 418, body: "tea\n", content_type: text/x-tea}
  - name: hosty
    match: {path_prefix: /hosty, hosts: ["*.example.com", "API.Other.test"]}
    upstream: app
    rewrite: {host: rewritten.internal}
  - name: exact
    match: {path: /exact, methods: [POST], headers: {X-Api-Version: "2"}}
    direct_response: {status: 201, body: "exact\n"}
  - name: hdr
    match: {path_prefix: /hdr}
    upstream: app
    request_headers: {set: {X-Set: one}, add: {X-Add: two}, remove: [X-Remove]}
    response_headers: {set: {X-RSet: a}, add: {X-RAdd: b}, remove: [X-Strip]}
  - name: strip
    match: {path_prefix: /v1/}
    upstream: app
    rewrite: {strip_prefix: /v1, add_prefix: /internal}
  - name: bare
    match: {path: /bare}
    upstream: app
    rewrite: {strip_prefix: /bare, add_prefix: /internal}
  - name: slow
    match: {path_prefix: /slow/}
    upstream: app
    timeout: 300ms
  - name: rest
    match: {path_prefix: /up/}
    upstream: app
`
}

// auditHandler serves the upstream side of the audit routes.
func auditHandler(w http.ResponseWriter, r *http.Request, body []byte) {
	for k, v := range r.URL.Query() {
		if strings.HasPrefix(k, "h-") {
			w.Header().Set(k[2:], v[0])
		}
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/slow/"):
		time.Sleep(time.Second)
	case strings.HasSuffix(r.URL.Path, "/chunked"):
		f := w.(http.Flusher)
		io.WriteString(w, "part1-")
		f.Flush()
		io.WriteString(w, "part2")
		return
	case strings.HasSuffix(r.URL.Path, "/status503"):
		w.Header().Set("Content-Type", "text/upstream")
		w.WriteHeader(503)
		io.WriteString(w, "upstream says 503")
		return
	}
	fmt.Fprintf(w, "upstream saw %s %s", r.Method, r.URL.RequestURI())
}

func lastSeen(t *testing.T, up *upstream) seen {
	t.Helper()
	reqs := up.requests()
	if len(reqs) == 0 {
		t.Fatal("the upstream received nothing")
	}
	return reqs[len(reqs)-1]
}

// accessLogLine waits for the access log line of the request id on the
// gateway's stdout.
func accessLogLine(t *testing.T, g *gateway, reqID string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range g.stdout.lines() {
			if !strings.Contains(l, reqID) {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("access log line is not JSON: %q", l)
			}
			return m
		}
		time.Sleep(30 * time.Millisecond)
	}
	t.Fatalf("no access log line for %s; stdout:\n%s", reqID, tail(g.stdout.String(), 2000))
	return nil
}

// readRawResponse reads one response from br (nil request: GET semantics).
func readRawResponse(t *testing.T, br *bufio.Reader, req *http.Request) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return resp
}

// SPEC §3 "HTTP/1.1 per RFC 9112, strictly": RFC 9112 §6.1 — a server MUST
// NOT send Transfer-Encoding in a response to an HTTP/1.0 request. A chunked
// upstream answer must reach an HTTP/1.0 client unframed (close-delimited)
// or with a Content-Length.
func TestSpecAuditHTTP10ClientGetsNoChunkedResponse(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	out := g.raw("GET /up/chunked HTTP/1.0\r\nHost: a\r\n\r\n", 3*time.Second)
	head, body, ok := strings.Cut(out, "\r\n\r\n")
	if !ok {
		t.Fatalf("no complete response: %q", out)
	}
	if strings.Contains(strings.ToLower(head), "transfer-encoding") {
		t.Errorf("response to an HTTP/1.0 request carries Transfer-Encoding (RFC 9112 §6.1):\n%s", head)
	}
	if body != "part1-part2" {
		t.Errorf("HTTP/1.0 client got body %q, want the unframed %q", body, "part1-part2")
	}
}

// RFC 9112 §9.3 / Appendix C.2.2: an HTTP/1.0 client that asks for
// keep-alive learns from the response whether the connection persists. A
// connection kept open must be announced with "Connection: keep-alive";
// otherwise the server must close it after the response.
func TestSpecAuditHTTP10KeepAliveAnnounced(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	for _, path := range []string{"/direct", "/up/x"} {
		c, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET "+path+" HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		br := bufio.NewReader(c)
		resp := readRawResponse(t, br, nil)
		io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if strings.EqualFold(resp.Header.Get("Connection"), "keep-alive") {
			c.Close()
			continue
		}
		// Not announced: the server must close.
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := br.ReadByte(); err == nil || isTimeout(err) {
			t.Errorf("%s: HTTP/1.0 keep-alive request: connection kept open without \"Connection: keep-alive\" in the response (headers %v)", path, resp.Header)
		}
		c.Close()
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// SPEC §3: X-Request-Id is the client's if it is a valid token of at most
// 128 bytes, else a new one; the same id goes upstream and back.
func TestSpecAuditRequestIDValidation(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	long128 := strings.Repeat("a", 128)
	cases := []struct {
		sent string
		keep bool
	}{
		{long128, true},
		{long128 + "b", false},
		{"abc-DEF_123.~!#$%&'*+^`|", true},
		{"a/b", false},
		{"a:b", false},
		{"a,b", false},
		{"a b", false},
	}
	for _, tc := range cases {
		resp, _ := doReq(t, "GET", "http://"+g.addr+"/up/rid", map[string]string{"X-Request-Id": tc.sent})
		got := resp.Header.Get("X-Request-Id")
		if tc.keep && got != tc.sent {
			t.Errorf("valid id %q replaced by %q", tc.sent, got)
		}
		if !tc.keep && (got == tc.sent || got == "") {
			t.Errorf("invalid id %q: response id %q, want a new one", tc.sent, got)
		}
		if up := lastSeen(t, up).Header.Values("X-Request-Id"); len(up) != 1 || up[0] != got {
			t.Errorf("id %q: upstream saw %v, client got %q", tc.sent, up, got)
		}
	}
}

// SPEC §3: hop-by-hop headers are not forwarded, in either direction.
func TestSpecAuditHopByHopBothWays(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	resp, _ := doReq(t, "GET", "http://"+g.addr+"/up/hop?h-Keep-Alive=timeout%3D5&h-Proxy-Connection=keep-alive&h-Upgrade=h2c&h-Connection=X-Named&h-X-Named=1&h-X-Kept=1", map[string]string{
		"Connection":       "keep-alive, X-Client-Named",
		"X-Client-Named":   "1",
		"Keep-Alive":       "timeout=5",
		"Proxy-Connection": "keep-alive",
		"TE":               "trailers",
		"Trailer":          "X-T",
		"Upgrade":          "websocket",
		"X-Kept":           "yes",
	})
	h := lastSeen(t, up).Header
	for _, name := range []string{"Connection", "X-Client-Named", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Upgrade"} {
		if v := h.Values(name); len(v) != 0 {
			t.Errorf("request hop-by-hop %s reached the upstream: %v", name, v)
		}
	}
	if h.Get("X-Kept") != "yes" {
		t.Errorf("end-to-end X-Kept was not forwarded")
	}
	for _, name := range []string{"Keep-Alive", "Proxy-Connection", "Upgrade", "X-Named"} {
		if v := resp.Header.Values(name); len(v) != 0 {
			t.Errorf("response hop-by-hop %s reached the client: %v", name, v)
		}
	}
	if resp.Header.Get("X-Kept") != "1" {
		t.Errorf("end-to-end response header X-Kept lost")
	}
}

// SPEC §3: X-Forwarded-For appended to (every client value kept, in order);
// X-Forwarded-Proto and X-Forwarded-Host are Portico's, not the client's.
func TestSpecAuditForwardedHeaders(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	out := g.raw("GET /up/fwd HTTP/1.1\r\nHost: front.test\r\nX-Forwarded-For: 198.51.100.1\r\nX-Forwarded-For: 198.51.100.2, 198.51.100.3\r\n"+
		"X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\nConnection: close\r\n\r\n", 3*time.Second)
	if !strings.HasPrefix(statusOf(out), "HTTP/1.1 200") {
		t.Fatalf("got %q", out)
	}
	h := lastSeen(t, up).Header
	if got := strings.Join(h.Values("X-Forwarded-For"), ", "); got != "198.51.100.1, 198.51.100.2, 198.51.100.3, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", got)
	}
	if v := h.Values("X-Forwarded-Proto"); len(v) != 1 || v[0] != "http" {
		t.Errorf("X-Forwarded-Proto %v, want [http]", v)
	}
	if v := h.Values("X-Forwarded-Host"); len(v) != 1 || v[0] != "front.test" {
		t.Errorf("X-Forwarded-Host %v, want [front.test]", v)
	}
}

var traceparentRE = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$`)

// SPEC §3: W3C traceparent — the client's with a new span id, or a new one
// (a valid one) when the client sent none or an invalid one.
func TestSpecAuditTraceparentNewWhenAbsentOrInvalid(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	for _, sent := range []string{"", "garbage", "00-00000000000000000000000000000000-b7ad6b7169203331-01", "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"} {
		hdr := map[string]string{}
		if sent != "" {
			hdr["Traceparent"] = sent
		}
		doReq(t, "GET", "http://"+g.addr+"/up/tp", hdr)
		tp := lastSeen(t, up).Header.Values("Traceparent")
		if len(tp) != 1 || !traceparentRE.MatchString(tp[0]) || strings.Contains(tp[0], "-0000000000000000-") ||
			strings.Contains(tp[0], "-00000000000000000000000000000000-") {
			t.Errorf("client sent %q: upstream got traceparent %v", sent, tp)
		}
	}
	// A valid one keeps trace id and flags, gets a new span id.
	doReq(t, "GET", "http://"+g.addr+"/up/tp", map[string]string{"Traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"})
	tp := lastSeen(t, up).Header.Get("Traceparent")
	if !strings.HasPrefix(tp, "00-0af7651916cd43dd8448eb211c80319c-") || !strings.HasSuffix(tp, "-00") || strings.Contains(tp, "b7ad6b7169203331") {
		t.Errorf("traceparent %q", tp)
	}
	// tracestate belongs to the trace it came with: kept with a valid
	// traceparent, dropped when a new trace starts.
	doReq(t, "GET", "http://"+g.addr+"/up/tp", map[string]string{"Traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "Tracestate": "vendor=abc"})
	if ts := lastSeen(t, up).Header.Get("Tracestate"); ts != "vendor=abc" {
		t.Errorf("tracestate with a valid traceparent: %q", ts)
	}
	doReq(t, "GET", "http://"+g.addr+"/up/tp", map[string]string{"Traceparent": "garbage", "Tracestate": "vendor=abc"})
	if ts := lastSeen(t, up).Header.Values("Tracestate"); len(ts) != 0 {
		t.Errorf("tracestate kept for a new trace: %q", ts)
	}
	// Two traceparent fields are invalid (no combining): a new trace.
	out := g.raw("GET /up/tp HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"+
		"Traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"+
		"Traceparent: 00-11111111111111111111111111111111-b7ad6b7169203331-01\r\n\r\n", 3*time.Second)
	if !strings.HasPrefix(out, "HTTP/1.1 200") {
		t.Fatalf("two traceparents: %q", statusOf(out))
	}
	tp = lastSeen(t, up).Header.Get("Traceparent")
	if !traceparentRE.MatchString(tp) || strings.Contains(tp, "0af7651916cd43dd8448eb211c80319c") || strings.Contains(tp, "11111111111111111111111111111111") {
		t.Errorf("two traceparents: upstream got %q, want a new trace", tp)
	}
}

// SPEC §2 request_headers / response_headers: set replaces, add appends,
// remove deletes, on both sides.
func TestSpecAuditHeaderOps(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	resp, _ := doReq(t, "GET", "http://"+g.addr+"/hdr?h-X-Strip=1&h-X-RSet=orig&h-X-RAdd=orig", map[string]string{
		"X-Set": "client", "X-Add": "client", "X-Remove": "gone"})
	h := lastSeen(t, up).Header
	if v := h.Values("X-Set"); len(v) != 1 || v[0] != "one" {
		t.Errorf("request set: %v", v)
	}
	if v := h.Values("X-Add"); strings.Join(v, ",") != "client,two" {
		t.Errorf("request add: %v", v)
	}
	if h.Get("X-Remove") != "" {
		t.Errorf("request remove: X-Remove reached the upstream")
	}
	if v := resp.Header.Values("X-Rset"); len(v) != 1 || v[0] != "a" {
		t.Errorf("response set: %v", v)
	}
	if v := resp.Header.Values("X-Radd"); strings.Join(v, ",") != "orig,b" {
		t.Errorf("response add: %v", v)
	}
	if resp.Header.Get("X-Strip") != "" {
		t.Errorf("response remove: X-Strip reached the client")
	}
}

// SPEC §2 match.hosts: case-insensitive, port ignored, "*.example.com"
// does not match example.com; rewrite.host changes the Host sent upstream
// (X-Forwarded-Host stays the client's).
func TestSpecAuditHostMatchAndRewrite(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	get := func(host string) (int, string) {
		out := g.raw("GET /hosty HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n", 3*time.Second)
		var code int
		fmt.Sscanf(statusOf(out), "HTTP/1.1 %d", &code)
		return code, out
	}
	for _, host := range []string{"a.example.com", "A.EXAMPLE.COM:8080", "x.y.example.com", "api.other.test:443"} {
		code, out := get(host)
		if code != 200 {
			t.Errorf("host %q: %d\n%s", host, code, out)
			continue
		}
		s := lastSeen(t, up)
		if s.Host != "rewritten.internal" || s.Header.Get("X-Forwarded-Host") != host {
			t.Errorf("host %q: upstream Host %q X-Forwarded-Host %q", host, s.Host, s.Header.Get("X-Forwarded-Host"))
		}
	}
	for _, host := range []string{"example.com", "api.other.test.example", "other.test"} {
		if code, out := get(host); code != 404 {
			t.Errorf("host %q matched the route: %d\n%s", host, code, out)
		}
	}
}

// SPEC §2 match: path exact, methods and exact header values all hold;
// otherwise 404 not_found in the §4 envelope.
func TestSpecAuditMatchAnd404Envelope(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	base := "http://" + g.addr
	resp, body := doReq(t, "POST", base+"/exact", map[string]string{"X-Api-Version": "2"})
	if resp.StatusCode != 201 || body != "exact\n" {
		t.Fatalf("exact match: %d %q", resp.StatusCode, body)
	}
	for _, c := range []struct {
		method, path string
		hdr          map[string]string
	}{
		{"GET", "/exact", map[string]string{"X-Api-Version": "2"}},
		{"POST", "/exact", map[string]string{"X-Api-Version": "3"}},
		{"POST", "/exact", nil},
		{"POST", "/exact/", map[string]string{"X-Api-Version": "2"}},
		{"GET", "/nowhere", nil},
	} {
		resp, body := doReq(t, c.method, base+c.path, c.hdr)
		checkEnvelope(t, resp, body, 404, "not_found")
	}
}

// SPEC §2 direct_response: status, body, content_type; a HEAD gets the
// head only; the response carries X-Request-Id.
func TestSpecAuditDirectResponse(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	resp, body := g.get("/teapot")
	if resp.StatusCode != 418 || body != "tea\n" || resp.Header.Get("Content-Type") != "text/x-tea" || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("direct response: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	out := g.raw("HEAD /teapot HTTP/1.1\r\nHost: a\r\n\r\nGET /direct HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 3*time.Second)
	if !strings.HasPrefix(out, "HTTP/1.1 418") || strings.Contains(out, "tea\n") || !strings.HasSuffix(out, "direct ok\n") {
		t.Fatalf("HEAD on a direct response, then GET:\n%s", out)
	}
}

// SPEC §2 rewrite: strip_prefix then add_prefix; the query is kept.
func TestSpecAuditRewritePrefix(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	_, body := g.get("/v1/orders/7?x=1")
	if body != "upstream saw GET /internal/orders/7?x=1" {
		t.Fatalf("rewrite: %q", body)
	}
	// The whole path stripped: the added prefix alone, no trailing slash.
	if _, body = g.get("/bare?y=2"); body != "upstream saw GET /internal?y=2" {
		t.Fatalf("rewrite of the bare prefix: %q", body)
	}
}

// SPEC §3 + §4: body over the listener's max_body_bytes (the route default)
// => 413 payload_too_large, for Content-Length and chunked bodies; the
// upstream never sees it.
func TestSpecAuditListenerMaxBodyDefault(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	big := strings.Repeat("x", 2000)
	out := g.raw("POST /up/big HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n"+big, 3*time.Second)
	if !strings.HasPrefix(statusOf(out), "HTTP/1.1 413") || !strings.Contains(out, `"code":"payload_too_large"`) {
		t.Errorf("Content-Length body over the listener limit: %q", statusOf(out))
	}
	out = g.raw("POST /up/big HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n"+big+"\r\n0\r\n\r\n", 3*time.Second)
	if !strings.HasPrefix(statusOf(out), "HTTP/1.1 413") {
		t.Errorf("chunked body over the listener limit: %q", statusOf(out))
	}
	// A chunk whose size alone is over the limit is refused on its size
	// line, without waiting for its bytes (none follow here).
	start := time.Now()
	out = g.raw("POST /up/big HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFF\r\n", 3*time.Second)
	if !strings.HasPrefix(statusOf(out), "HTTP/1.1 413") || time.Since(start) > 2*time.Second {
		t.Errorf("chunk size over the limit: %q after %v", statusOf(out), time.Since(start))
	}
	// Any Content-Length that fits int64 is a length: 10^18 is over the
	// limit (413, not a malformed 400), and leading zeros are digits.
	out = g.raw("POST /up/big HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000000\r\n\r\n", 3*time.Second)
	if !strings.HasPrefix(statusOf(out), "HTTP/1.1 413") {
		t.Errorf("Content-Length 10^18: %q", statusOf(out))
	}
	out = g.raw("POST /up/small HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000000000000005\r\nConnection: close\r\n\r\nhello", 3*time.Second)
	if !strings.HasPrefix(statusOf(out), "HTTP/1.1 200") {
		t.Errorf("Content-Length with 22 leading zeros: %q", statusOf(out))
	}
	for _, r := range up.requests() {
		if r.Path == "/up/big" && len(r.Body) == 2000 {
			t.Errorf("the upstream received the whole oversized body")
		}
	}
}

// SPEC §3/§4: Expect: 100-continue gets its interim answer and the request
// goes through; Expect with a body over the limit gets 413 at once.
func TestSpecAuditExpectContinue(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /up/expect HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("interim: %q %v", line, err)
	}
	var interimID string
	for { // the rest of the 100 head, to its blank line
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "X-Request-Id") {
			interimID = strings.TrimSpace(v)
		}
	}
	io.WriteString(c, "hello")
	resp := readRawResponse(t, br, nil)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(lastSeen(t, up).Body) != "hello" {
		t.Fatalf("after 100: %d %q", resp.StatusCode, b)
	}
	// SPEC §3: every response carries X-Request-Id, the interim one too.
	if interimID == "" || interimID != resp.Header.Get("X-Request-Id") {
		t.Errorf("100 Continue X-Request-Id %q, final %q", interimID, resp.Header.Get("X-Request-Id"))
	}
	out := g.raw("POST /up/expect HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n", 3*time.Second)
	if !strings.HasPrefix(statusOf(out), "HTTP/1.1 413") {
		t.Errorf("Expect with an oversized body: %q", statusOf(out))
	}
}

// SPEC §4: "Upstream responses, 5xx included, pass through untouched."
func TestSpecAuditUpstream5xxPassesThrough(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	resp, body := g.get("/up/status503")
	if resp.StatusCode != 503 || body != "upstream says 503" || resp.Header.Get("Content-Type") != "text/upstream" {
		t.Fatalf("upstream 503 not passed through: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("no X-Request-Id on a passed-through response")
	}
}

// SPEC §4: 502 bad_gateway when the upstream "sent an invalid response".
func TestSpecAuditInvalidUpstreamResponse502(t *testing.T) {
	answers := map[string]string{
		"/garbage": "NOT HTTP AT ALL\r\n\r\n",
		"/clte":    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"/twocl":   "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
		"/close":   "",
	}
	up := rawUpstream(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		io.WriteString(c, answers[req.URL.Path])
	})
	g := startGateway(t, auditConfig(up))
	for path := range answers {
		resp, body := g.get("/up" + path)
		_ = body
		if resp.StatusCode != 502 {
			t.Errorf("%s: %d %q", path, resp.StatusCode, body)
			continue
		}
		checkEnvelope(t, resp, body, 502, "bad_gateway")
	}
}

// retryConfig: a route with retries on 503 in front of two targets.
func retryConfig(a, b string, timeout string) string {
	return `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: pool
    targets: [{address: "` + a + `"}, {address: "` + b + `"}]
routes:
  - name: retried
    match: {path_prefix: /}
    upstream: pool
    timeout: ` + timeout + `
    retries: {attempts: 2, on: ["503"]}
`
}

// SPEC §2 retries: "idempotent methods only" — a GET answered 503 is
// retried, a POST is not; when every attempt fails the upstream's last
// answer passes through (SPEC §4).
func TestSpecAuditRetriesIdempotentOnly(t *testing.T) {
	var hits atomic.Int64
	handler := func(w http.ResponseWriter, r *http.Request, _ []byte) {
		hits.Add(1)
		w.WriteHeader(503)
		io.WriteString(w, "busy")
	}
	a, b := newUpstream(t, handler), newUpstream(t, handler)
	g := startGateway(t, retryConfig(a.addr(), b.addr(), "5s"))
	resp, body := doReq(t, "GET", "http://"+g.addr+"/get", nil)
	if resp.StatusCode != 503 || body != "busy" {
		t.Errorf("GET after retries: %d %q, want the upstream's 503", resp.StatusCode, body)
	}
	if n := hits.Load(); n < 2 {
		t.Errorf("GET answered 503 was tried %d times; retries on 503 configured", n)
	}
	hits.Store(0)
	for _, m := range []string{"POST", "PATCH"} {
		hits.Store(0)
		req, _ := http.NewRequest(m, "http://"+g.addr+"/post", strings.NewReader("x"))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n := hits.Load(); n != 1 || resp.StatusCode != 503 {
			t.Errorf("%s: tried %d times (status %d); non-idempotent methods are not retried", m, n, resp.StatusCode)
		}
	}
}

// SPEC §2 timeout: "whole upstream exchange incl. retries; over => 504".
func TestSpecAuditTimeoutCoversRetries(t *testing.T) {
	handler := func(w http.ResponseWriter, r *http.Request, _ []byte) {
		time.Sleep(250 * time.Millisecond)
		w.WriteHeader(503)
	}
	a, b := newUpstream(t, handler), newUpstream(t, handler)
	g := startGateway(t, retryConfig(a.addr(), b.addr(), "400ms"))
	start := time.Now()
	resp, body := doReq(t, "GET", "http://"+g.addr+"/t", nil)
	d := time.Since(start)
	checkEnvelope(t, resp, body, 504, "gateway_timeout")
	if d > 1200*time.Millisecond {
		t.Errorf("504 after %v; the 400ms route timeout covers the retries", d)
	}
}

// SPEC §4: 502 when "upstream refused". STATUS.md documents 503 once the
// target is known to be failing; with no health_check and no outlier
// configured (SPEC: "absent => none") the second refused request is still
// one refused connect, so SPEC's 502 applies.
func TestSpecAuditRefusedTargetStays502(t *testing.T) {
	dead := freePort(t)
	g := startGateway(t, auditConfig(dead))
	for i := 0; i < 3; i++ {
		resp, body := g.get("/up/x")
		if resp.StatusCode != 502 {
			t.Errorf("request %d to a refusing target: %d %s", i, resp.StatusCode, body)
		}
	}
}

// SPEC §4 table: every status Portico makes carries the envelope and
// X-Request-Id, including the parser-level ones (408/414/431).
func TestSpecAuditEnvelopeOnParserErrors(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	cases := []struct {
		req    string
		status int
		code   string
	}{
		{"GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414, "uri_too_long"},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", 9000) + "\r\n\r\n", 431, "header_too_large"},
		{"GET / HTTP/1.1\r\nHost: a\r\n", 408, "request_timeout"},
		{"GET / HTTP/1.1\r\n\r\n", 400, "bad_request"},
	}
	for _, c := range cases {
		out := g.raw(c.req, 4*time.Second)
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
		if err != nil {
			t.Errorf("%d: unreadable response %q", c.status, out)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		checkEnvelope(t, resp, string(b), c.status, c.code)
		if !resp.Close { // ReadResponse consumes "Connection: close" into Close
			t.Errorf("%d: no Connection: close", c.status)
		}
	}
}

// RFC 9110 §6.6.1: an origin server with a clock MUST send Date in 2xx-4xx
// responses. Portico is the origin of direct responses and its own 4xx.
func TestSpecAuditDateOnGeneratedResponses(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	for _, path := range []string{"/direct", "/nowhere"} {
		resp, _ := g.get(path)
		if resp.Header.Get("Date") == "" {
			t.Errorf("%s (%d): no Date header", path, resp.StatusCode)
		}
	}
}

// SPEC §6 access log: `path` is the request path. The query string is not
// part of it, and a credential read from the query (auth token_from
// query:/api_key from: query:) must not be written to the log.
func TestSpecAuditAccessLogPathHasNoQuery(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	resp, _ := g.get("/up/logged?access_token=s3cr3t-token&x=1")
	line := accessLogLine(t, g, resp.Header.Get("X-Request-Id"))
	if line["path"] != "/up/logged" {
		t.Errorf("access log path %q, want %q", line["path"], "/up/logged")
	}
	if strings.Contains(fmt.Sprint(line), "s3cr3t-token") {
		t.Errorf("access log carries the query credential: %v", line)
	}
}

// The same holds for a request line that never parsed (a 400 logged from
// the raw line): a tab instead of a space, a userinfo in an absolute-form
// target, a fragment. What is logged is the method token and the path.
func TestRejectedRequestLineLogsNoCredential(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	for _, c := range []struct{ line, method, path string }{
		{"GET\t/q?access_token=SECRET1 HTTP/1.1", "GET", ""},
		{"GET http://user:SECRET2@x/p1 HTTP/1.1", "GET", "/p1"},
		{"GET https://user:SECRET3@x HTTP/1.1", "GET", ""},
		{"GET /p#access_token=SECRET4 HTTP/1.1", "GET", "/p"},
		{"GET /p\x01?k=SECRET5 HTTP/1.1", "GET", "/p"},
	} {
		out := g.raw(c.line+"\r\nHost: x\r\nBad Header: y\r\n\r\n", 3*time.Second)
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
		if err != nil || resp.StatusCode != 400 {
			t.Fatalf("%q: %q", c.line, out)
		}
		line := accessLogLine(t, g, resp.Header.Get("X-Request-Id"))
		if strings.Contains(fmt.Sprint(line), "SECRET") {
			t.Errorf("%q: the access log carries the credential: %v", c.line, line)
		}
		if line["method"] != c.method || line["path"] != c.path {
			t.Errorf("%q: logged method %q path %q, want %q %q", c.line, line["method"], line["path"], c.method, c.path)
		}
	}
}

// SPEC §6: field types and values for a proxied POST and a Portico error.
func TestSpecAuditAccessLogFields(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	req, _ := http.NewRequest("POST", "http://"+g.addr+"/up/post", strings.NewReader("12345"))
	req.Host = "logged.test"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	l := accessLogLine(t, g, resp.Header.Get("X-Request-Id"))
	if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(l["time"])); err != nil {
		t.Errorf("time %v: %v", l["time"], err)
	}
	want := map[string]any{"method": "POST", "host": "logged.test", "proto": "HTTP/1.1", "status": float64(200),
		"bytes_in": float64(5), "bytes_out": float64(len(b)), "route": "rest", "upstream": "app", "target": up.addr(),
		"consumer": "", "error_code": "", "remote_addr": "127.0.0.1"}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("access log %s = %#v, want %#v", k, l[k], v)
		}
	}
	if _, ok := l["duration_ms"].(float64); !ok {
		t.Errorf("duration_ms %#v is not a number", l["duration_ms"])
	}
	resp, _ = g.get("/nowhere")
	l = accessLogLine(t, g, resp.Header.Get("X-Request-Id"))
	if l["status"] != float64(404) || l["error_code"] != "not_found" || l["route"] != "" {
		t.Errorf("404 line: %v", l)
	}
}

// SPEC §6: the 504 line names the upstream target that timed out (the
// request was sent to it; `target` is empty only when none was picked).
func TestSpecAuditAccessLogTargetOnTimeout(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	resp, _ := g.get("/slow/x")
	if resp.StatusCode != 504 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	l := accessLogLine(t, g, resp.Header.Get("X-Request-Id"))
	if l["upstream"] != "app" || l["target"] != up.addr() || l["error_code"] != "gateway_timeout" {
		t.Errorf("504 access log: upstream %q target %q error_code %q, want app %s gateway_timeout", l["upstream"], l["target"], l["error_code"], up.addr())
	}
}

// RFC 9110 §15.2: "A proxy MUST forward 1xx responses unless the proxy
// itself requested the generation of the 1xx response" — a 103 Early Hints
// from the upstream reaches an HTTP/1.1 client before the final answer.
func TestSpecAuditForwards103EarlyHints(t *testing.T) {
	up := rawUpstream(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	g := startGateway(t, auditConfig(up))
	out := g.raw("GET /up/hints HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 3*time.Second)
	if !strings.HasPrefix(out, "HTTP/1.1 103") || !strings.Contains(out, "</style.css>") || !strings.HasSuffix(out, "\r\n\r\nok") {
		t.Errorf("103 Early Hints not forwarded:\n%s", out)
	}
}

// An HTTP/1.0 request may come without Host, but the request Portico
// sends upstream is HTTP/1.1, and common origins (nginx) answer an empty
// Host with 400: the upstream gets its own address as Host instead, and
// no X-Forwarded-Host (the client named no host).
func TestSpecAuditHTTP10WithoutHostGetsUpstreamHost(t *testing.T) {
	heads := make(chan string, 1)
	addr := rawUpstream(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		heads <- head.String()
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
	})
	g := startGateway(t, auditConfig(addr))
	out := g.raw("GET /up/x HTTP/1.0\r\n\r\n", 3*time.Second)
	if !strings.HasPrefix(out, "HTTP/1.1 200") {
		t.Fatalf("HTTP/1.0 request without Host: %q", out)
	}
	var head string
	select {
	case head = <-heads:
	case <-time.After(3 * time.Second):
		t.Fatal("the upstream got no request")
	}
	if !strings.Contains(head, "\r\nHost: "+addr+"\r\n") {
		t.Errorf("upstream head has no Host %s:\n%s", addr, head)
	}
	if strings.Contains(strings.ToLower(head), "x-forwarded-host") {
		t.Errorf("X-Forwarded-Host sent for a request that named no host:\n%s", head)
	}
}

// request_headers set/remove of X-Forwarded-Proto and -Host replace or
// drop the gateway's own line (one field upstream, not two).
func TestForwardedHeadersOverridable(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		fmt.Fprintf(w, "proto=%q host=%q", r.Header.Values("X-Forwarded-Proto"), r.Header.Values("X-Forwarded-Host"))
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
  - name: behind-lb
    match: {path_prefix: /lb}
    upstream: app
    request_headers: {set: {X-Forwarded-Proto: https}, remove: [X-Forwarded-Host]}
  - name: plain
    match: {path_prefix: /}
    upstream: app
`)
	if _, body := g.get("/lb"); body != `proto=["https"] host=[]` {
		t.Errorf("with set and remove: %s", body)
	}
	if _, body := g.get("/plain"); !strings.HasPrefix(body, `proto=["http"] host=["`) {
		t.Errorf("without: %s", body)
	}
}

// Client fields that an application server reads as one of the gateway's
// own (CGI/WSGI/Rack/PHP map '-' and '_' alike: X_Portico_Consumer is
// HTTP_X_PORTICO_CONSUMER) never reach the upstream: no spoofed identity
// or forwarded address behind the gateway's back.
func TestUnderscoreSpoofsOfOwnedHeadersDropped(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		var names []string
		for k := range r.Header {
			names = append(names, k)
		}
		sort.Strings(names)
		fmt.Fprint(w, strings.Join(names, ","))
	})
	g := startGateway(t, basicConfig(up.addr()))
	out := g.raw("GET /api/x HTTP/1.1\r\nHost: a\r\nX_Portico_Consumer: admin\r\nX-Portico_Tenant: t\r\n"+
		"X_Forwarded_For: 6.6.6.6\r\nX_Request_Id: mine\r\nX_Portico_"+strings.Repeat("A", 60)+": x\r\nX_Custom_Ok: kept\r\nConnection: close\r\n\r\n", 3*time.Second)
	if !strings.HasPrefix(out, "HTTP/1.1 200") {
		t.Fatalf("%.80q", out)
	}
	body := out[strings.Index(out, "\r\n\r\n")+4:]
	for _, bad := range []string{"X_portico", "X-Portico_", "X_forwarded", "X_request", "X_Portico"} {
		if strings.Contains(strings.ToLower(body), strings.ToLower(bad)) {
			t.Errorf("upstream got a spoof of an owned field: %s", body)
		}
	}
	if !strings.Contains(body, "X_custom_ok") && !strings.Contains(body, "X_Custom_Ok") {
		t.Errorf("an unrelated field with '_' was dropped: %s", body)
	}
}
