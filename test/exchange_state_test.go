//go:build integration

package test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// An answer Portico makes before a request is parsed (a 400 for a bad
// head, a 408) belongs to a new exchange: it used to see the previous
// exchange's state on a keep-alive connection: after a proxied answer the
// 400 was dropped (the connection just closed) or took the queued 200 back
// with it, no 408 came, a 400 after HEAD had no body, and stale auth and
// rate-limit headers rode along.
func TestErrorAfterAnExchangeIsItsOwn(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		io.WriteString(w, "proxied")
	})
	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
    limits: {header_timeout: 1s}
admin: {address: "{{ADMIN}}"}
access_log: {path: stdout}
upstreams:
  - name: app
    targets: [{address: "`+up.addr()+`"}]
auth:
  - name: keys
    type: api_key
    from: header:X-API-Key
    keys:
      - {consumer: acme, sha256: "`+strings.Repeat("ab", 32)+`"}
rate_limits:
  - {name: per-ip, key: ip, rate: 1000/s, burst: 1000}
routes:
  - name: secure
    match: {path_prefix: /secure}
    upstream: app
    auth: [keys]
  - name: limited
    match: {path_prefix: /limited}
    upstream: app
    rate_limits: [per-ip]
  - name: app
    match: {path_prefix: /}
    upstream: app
`)
	bad := "GET /bad\x01 HTTP/1.1\r\nHost: a\r\n\r\n"
	for _, c := range []struct {
		name, first string
		firstStatus int
	}{
		{"after a proxied answer", "GET /p HTTP/1.1\r\nHost: a\r\n\r\n", 200},
		{"after HEAD", "HEAD /p HTTP/1.1\r\nHost: a\r\n\r\n", 200},
		{"after a 401", "GET /secure HTTP/1.1\r\nHost: a\r\n\r\n", 401},
		{"after a rate-limited route", "GET /limited HTTP/1.1\r\nHost: a\r\n\r\n", 200},
	} {
		for _, pipelined := range []bool{false, true} {
			conn := g.dial(5 * time.Second)
			br := bufio.NewReader(conn)
			if pipelined {
				io.WriteString(conn, c.first+bad)
			} else {
				io.WriteString(conn, c.first)
			}
			method := strings.Fields(c.first)[0]
			resp, err := http.ReadResponse(br, &http.Request{Method: method})
			if err != nil || resp.StatusCode != c.firstStatus {
				t.Fatalf("%s (pipelined %v): first answer %v %v", c.name, pipelined, resp, err)
			}
			io.Copy(io.Discard, resp.Body)
			if !pipelined {
				io.WriteString(conn, bad)
			}
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%s (pipelined %v): no 400 after it: %v", c.name, pipelined, err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 400 || !strings.Contains(string(body), `"code":"bad_request"`) {
				t.Fatalf("%s (pipelined %v): %d %q", c.name, pipelined, resp.StatusCode, body)
			}
			for _, h := range []string{"WWW-Authenticate", "RateLimit-Limit", "RateLimit-Remaining"} {
				if v := resp.Header.Get(h); v != "" {
					t.Fatalf("%s: the 400 carries %s: %s from the previous exchange", c.name, h, v)
				}
			}
			conn.Close()
		}
	}

	// A partial head after a proxied answer gets its 408.
	conn := g.dial(5 * time.Second)
	br := bufio.NewReader(conn)
	io.WriteString(conn, "GET /p HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	io.WriteString(conn, "GET /partial HTTP/1.1\r\nHost: a\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 408 {
		t.Fatalf("partial head after a proxied answer: %v %v, want 408", resp, err)
	}
}

// A request body that stops coming holds its connection for idle_timeout
// at most: 408 while unanswered, a close after a direct response.
func TestStalledBodyTimesOut(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		io.WriteString(w, "proxied")
	})
	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
    limits: {idle_timeout: 1s}
admin: {address: "{{ADMIN}}"}
access_log: {path: stdout}
upstreams:
  - name: app
    targets: [{address: "`+up.addr()+`"}]
routes:
  - name: direct
    match: {path_prefix: /direct}
    direct_response: {status: 200, body: "direct"}
  - name: app
    match: {path_prefix: /}
    upstream: app
    timeout: 30s
`)
	for _, c := range []struct {
		path   string
		status int
	}{{"/direct/stall", 200}, {"/proxied/stall", 408}} {
		conn := g.dial(6 * time.Second)
		start := time.Now()
		io.WriteString(conn, "POST "+c.path+" HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
		out, _ := io.ReadAll(conn) // until the gateway closes
		took := time.Since(start)
		if took < 900*time.Millisecond || took > 4*time.Second {
			t.Fatalf("%s: closed after %v, want about idle_timeout (1s)", c.path, took)
		}
		if want := fmt.Sprintf("HTTP/1.1 %d", c.status); !strings.HasPrefix(string(out), want) {
			t.Fatalf("%s: %.80q, want %s", c.path, out, want)
		}
		conn.Close()
		if st, code := logLine(t, g, c.path); st != c.status || code != "request_timeout" {
			t.Fatalf("%s: logged %d %q, want %d request_timeout", c.path, st, code, c.status)
		}
	}
}

// An upstream reset seen in the same event-loop round as a large request
// body chunk used to close the upstream connection inside the write that
// forwarded it, and the pipeline went on with the ended exchange: a nil
// dereference that took the process down. Portico is frozen (SIGSTOP) so
// both events land in one round.
func TestUpstreamResetDuringBodyChunk(t *testing.T) {
	up := rawUpstream(t, func(c net.Conn) {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		io.Copy(io.Discard, c) // until the deadline
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // RST
		}
	})
	g := startGateway(t, oneRouteConfig(up, "", "    timeout: 10s\n"))
	for round := 0; round < 2; round++ {
		conn := g.dial(8 * time.Second)
		io.WriteString(conn, "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
		time.Sleep(500 * time.Millisecond)
		g.signal(syscall.SIGSTOP)
		big := strings.Repeat("x", 40000)
		fmt.Fprintf(conn, "%x\r\n%s\r\n5\r\nworld\r\n0\r\n\r\n", len(big), big)
		time.Sleep(800 * time.Millisecond) // the upstream resets meanwhile
		g.signal(syscall.SIGCONT)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		if err != nil || resp.StatusCode != 502 {
			t.Fatalf("round %d: %v %v, want 502", round, resp, err)
		}
	}
	if resp, _ := g.get("/after"); resp == nil {
		t.Fatal("no answer after the resets")
	}
	select {
	case err := <-g.done:
		g.done <- err
		t.Fatalf("portico exited: %v", err)
	default:
	}
}

// A POST on a reused keep-alive connection that the upstream closes
// without answering is not sent again: the upstream may have acted on it
// (it did here: it saw the request). An idempotent GET is.
func TestKeepAliveRaceNeverReplaysPost(t *testing.T) {
	seen := make(chan string, 16)
	up := rawUpstream(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		eachRequest(c, func(n int, req *http.Request) bool {
			seen <- req.Method + " " + req.URL.Path
			if n == 1 {
				return false // the second request on a connection: acted on, then closed unanswered
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return true
		})
	})
	g := startGateway(t, oneRouteConfig(up, "", ""))
	// One client connection: its loop's pooled upstream connection is
	// the one reused.
	conn := g.dial(5 * time.Second)
	br := bufio.NewReader(conn)
	send := func(req string) int {
		t.Helper()
		io.WriteString(conn, req)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: %v", req, err)
		}
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	if st := send("GET /warm HTTP/1.1\r\nHost: a\r\n\r\n"); st != 200 {
		t.Fatalf("warm-up: %d", st)
	}
	<-seen
	if st := send("POST /charge HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"); st != 502 {
		t.Fatalf("POST on a connection closed unanswered: %d, want 502", st)
	}
	if got := <-seen; got != "POST /charge" {
		t.Fatalf("upstream saw %q", got)
	}
	select {
	case again := <-seen:
		t.Fatalf("the POST was replayed: upstream also saw %q", again)
	case <-time.After(300 * time.Millisecond):
	}
	// A GET in the same spot is retried on a new connection.
	if st := send("GET /warm2 HTTP/1.1\r\nHost: a\r\n\r\n"); st != 200 {
		t.Fatalf("warm-up 2: %d", st)
	}
	<-seen
	if st := send("GET /again HTTP/1.1\r\nHost: a\r\n\r\n"); st != 200 {
		t.Fatalf("GET on a connection closed unanswered: %d, want 200 from the retry", st)
	}
}

// A client that does not answer the drain's PING still gets time between
// the first GOAWAY (last stream 2^31-1) and the final one: requests it had
// in flight must be able to arrive. The final GOAWAY used to follow 20 ms
// later.
func TestH2FinalGoAwayWaitsForStragglers(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { io.WriteString(w, "ok") })
	g := startGateway(t, h2cConfig(up.addr()))
	r := dialH2Frames(t, g.addr)
	r.headers(1, ":method", "GET", ":scheme", "http", ":path", "/first", ":authority", "a")
	if hdr, _ := r.response(1); hdr[":status"] != "200" {
		t.Fatalf("first request: %v", hdr)
	}
	_ = r.c.SetDeadline(time.Now().Add(8 * time.Second))
	// The gap is timed from the signal, which the first GOAWAY cannot
	// precede: timed from reading it, a test goroutine scheduled late
	// shortened it (150 ms late read 850 ms).
	signalled := time.Now()
	g.signal(syscall.SIGTERM)
	var first bool
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			t.Fatalf("no final GOAWAY: %v", err)
		}
		ga, ok := f.(*http2.GoAwayFrame)
		if !ok {
			continue // the PING goes unanswered
		}
		if ga.LastStreamID == 1<<31-1 {
			first = true
			continue
		}
		if !first {
			t.Fatalf("final GOAWAY (last %d) without the graceful one first", ga.LastStreamID)
		}
		if gap := time.Since(signalled); gap < 900*time.Millisecond {
			t.Fatalf("final GOAWAY %v after the drain's signal: no time for requests in flight", gap)
		}
		if ga.LastStreamID != 1 {
			t.Fatalf("final GOAWAY names stream %d, want 1", ga.LastStreamID)
		}
		return
	}
}

// A client that sent Expect: 100-continue holds its body until the
// upstream's 100: waiting longer than idle_timeout for it is not a stalled
// body (it got a 408 before the upstream spoke).
func TestExpectContinueWaitIsNotABodyStall(t *testing.T) {
	up := rawUpstream(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(8 * time.Second))
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		time.Sleep(2 * time.Second) // past the gateway's idle_timeout
		io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
		body, _ := io.ReadAll(req.Body)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	})
	g := startGateway(t, oneRouteConfig(up, "    limits: {idle_timeout: 1s}\n", ""))
	conn := g.dial(8 * time.Second)
	io.WriteString(conn, "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 100 {
		t.Fatalf("first answer: %v %v, want 100 Continue", resp, err)
	}
	io.WriteString(conn, "hello")
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("final answer: %v %v", resp, err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "hello" {
		t.Fatalf("body %q", b)
	}
}

// Expect: 100-continue answered by a final status, with or without a 100
// before it: the client may never send its body (RFC 9110 §10.1.1), so
// the gateway closes after the answer instead of waiting for the body (it
// held the connection until idle_timeout, and reading on would take the
// next request for body bytes). The same for an answer of the gateway's
// own (a direct response).
func TestExpectContinueFinalAnswerDoesNotHold(t *testing.T) {
	up := rawUpstream(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(8 * time.Second))
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		if req.URL.Path == "/x100" {
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n") // then the final answer at once
		}
		io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope")
		time.Sleep(6 * time.Second)
	})
	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
    limits: {idle_timeout: 30s}
admin: {address: "{{ADMIN}}"}
upstreams:
  - name: app
    targets: [{address: "`+up+`"}]
routes:
  - name: direct
    match: {path: /direct}
    direct_response: {status: 403, body: "no\n"}
  - name: app
    match: {path_prefix: /}
    upstream: app
`)
	for _, tc := range []struct{ path string }{{"/x"}, {"/x100"}, {"/direct"}} {
		for _, framing := range []string{"Content-Length: 616", "Transfer-Encoding: chunked"} {
			conn := g.dial(8 * time.Second)
			start := time.Now()
			io.WriteString(conn, "PUT "+tc.path+" HTTP/1.1\r\nHost: a\r\n"+framing+"\r\nExpect: 100-continue\r\n\r\n")
			out, _ := io.ReadAll(conn) // the answer, then the close
			conn.Close()
			if !strings.HasPrefix(string(out), "HTTP/1.1 ") || !strings.Contains(string(out), "Connection: close") {
				t.Fatalf("%s %s: answer %q", tc.path, framing, out)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Fatalf("%s %s: the connection was held %v waiting for a body the client never sends", tc.path, framing, took)
			}
		}
	}
	// A client that sent its body with the head anyway keeps its
	// connection after the gateway's own early answer.
	conn := g.dial(5 * time.Second)
	io.WriteString(conn, "PUT /direct HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello"+
		"GET /direct HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(conn)
	for i := 0; i < 2; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d after a body sent with the head: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || resp.Close {
			t.Fatalf("answer %d: %d close=%v", i, resp.StatusCode, resp.Close)
		}
	}
}
