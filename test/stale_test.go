//go:build integration

package test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestStaleKeepAliveRetried: an upstream that closes a kept-alive
// connection as the next request arrives (the idle race every proxy meets)
// costs the client nothing: the request goes again on a fresh connection.
func TestStaleKeepAliveRetried(t *testing.T) {
	var conns atomic.Int64
	up := rawUpstream(t, func(c net.Conn) {
		conns.Add(1)
		eachRequest(c, func(n int, _ *http.Request) bool {
			if n == 1 {
				return false // second request on this connection: close without answering
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return true
		})
	})
	g := startGateway(t, basicConfig(up))
	for i := 0; i < 6; i++ {
		resp, body := g.get(fmt.Sprintf("/r%d", i))
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if conns.Load() < 3 {
		t.Errorf("upstream saw %d connections; the stale ones were not replaced", conns.Load())
	}
}

// TestStaleResendCountsAsAttempt: the resend on a fresh connection after a
// reused one fails is one of the route's retry attempts, so an upstream
// that resets every try of a request sees it attempts + 1 times, never
// more (here attempts: 2, so 3).
func TestStaleResendCountsAsAttempt(t *testing.T) {
	var boom atomic.Int64
	up := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			if req.URL.Path == "/boom" {
				boom.Add(1)
				if tc, ok := c.(*net.TCPConn); ok {
					tc.SetLinger(0) // a reset, not a close
				}
				return
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	g := startGateway(t, poolConfig("round_robin", "", up))
	conn := g.dial(5 * time.Second)
	defer conn.Close()
	br := bufio.NewReader(conn)
	do := func(path string) int {
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", path)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := do("/ok"); code != 200 {
		t.Fatalf("/ok: %d", code)
	}
	if code := do("/boom"); code != 502 {
		t.Fatalf("/boom: %d, want 502", code)
	}
	if n := boom.Load(); n != 3 {
		t.Errorf("upstream saw /boom %d times, want 3 (attempts 2 + the first try)", n)
	}
}

// An upstream that answers HEAD with neither length nor chunking (its GET
// answer would run until the close) is not trusted with the next request
// on that connection: here it drops any second request on a connection
// unanswered, as one that closes right after such an answer does when
// the request races its FIN. A PATCH after the HEAD, which cannot be
// resent once its body has left, gets its answer on a new connection.
func TestUnframedHeadAnswerNotReused(t *testing.T) {
	up := rawUpstream(t, func(c net.Conn) {
		eachRequest(c, func(n int, req *http.Request) bool {
			switch {
			case n > 0:
				return false // the close the reuse raced
			case req.Method == "HEAD":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
			default:
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(req.Method), req.Method)
			}
			return true
		})
	})
	g := startGateway(t, oneRouteConfig(up, "", ""))
	conn := g.dial(5 * time.Second)
	defer conn.Close()
	br := bufio.NewReader(conn)
	for i := range 5 {
		io.WriteString(conn, "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\nPATCH /p HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}")
		for _, method := range []string{"HEAD", "PATCH"} {
			resp, err := http.ReadResponse(br, &http.Request{Method: method})
			if err != nil {
				t.Fatalf("round %d, %s: %v", i, method, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || method == "PATCH" && string(body) != "PATCH" {
				t.Fatalf("round %d, %s: %d %q", i, method, resp.StatusCode, body)
			}
		}
	}
}

// TestStaleKeepAliveResendsSmallBody: the idle race met by a PUT or DELETE
// with a small body on a route without retries: the request goes again on
// a fresh connection with its body (as nginx does with its buffered
// bodies), where before it got a 502. (A POST is never resent:
// TestKeepAliveRaceNeverReplaysPost.)
func TestStaleKeepAliveResendsSmallBody(t *testing.T) {
	var conns atomic.Int64
	bodies := make(chan string, 32)
	up := rawUpstream(t, func(c net.Conn) {
		conns.Add(1)
		br := bufio.NewReader(c)
		for n := 0; ; n++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			b, _ := io.ReadAll(req.Body)
			if n == 1 {
				return // second request on this connection: close without answering
			}
			bodies <- req.Method + " " + string(b)
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	g := startGateway(t, basicConfig(up))
	conn := g.dial(10 * time.Second)
	br := bufio.NewReader(conn)
	do := func(method, body string) int {
		fmt.Fprintf(conn, "%s /res HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", method, len(body), body)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for i, method := range []string{"PUT", "DELETE", "PUT", "DELETE"} {
		body := fmt.Sprintf("body-%d", i)
		if st := do(method, body); st != 200 {
			t.Fatalf("%s %d on a stale connection: %d, want 200 after a resend", method, i, st)
		}
		if got := <-bodies; got != method+" "+body {
			t.Fatalf("the upstream got %q, want %q", got, method+" "+body)
		}
	}
	if conns.Load() < 3 {
		t.Errorf("upstream saw %d connections; the stale ones were not replaced", conns.Load())
	}
}
