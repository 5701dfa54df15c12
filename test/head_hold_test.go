//go:build integration

package test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// An upstream that sends a body after its answer to HEAD, in a later
// write, must not have that body read as the answer to the next request
// on the connection: here the body is itself a complete response, as an
// attacker who can store content on the upstream would make it (HEAD
// response-queue poisoning). The connection sits out a moment after a HEAD
// answer, and the stray bytes close it.
func TestHeadBodyAfterAnswerNeverReachesNextRequest(t *testing.T) {
	addr := rawUpstream(t, func(c net.Conn) {
		eachRequest(c, func(_ int, req *http.Request) bool {
			if req.Method == http.MethodHead {
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 44\r\n\r\n")
				time.Sleep(30 * time.Millisecond)
				// The "body" HEAD must not have: 44 bytes that read as a response.
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL")
				return true
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len("good"+req.URL.Path), "good"+req.URL.Path)
			return true
		})
	})
	g := startGateway(t, basicConfig(addr))
	for round := 0; round < 5; round++ {
		c := g.dial(5 * time.Second)
		br := bufio.NewReader(c)
		fmt.Fprint(c, "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("round %d: HEAD: %v %v", round, resp, err)
		}
		// At once, on the same client connection (so the same loop and
		// pool), while the stray body is still to come.
		fmt.Fprint(c, "GET /g HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err = http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("round %d: GET: %v", round, err)
		}
		var body strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&body)
		resp.Body.Close()
		if body.String() != "good/g" {
			t.Fatalf("round %d: GET after HEAD got %q, want %q", round, body.String(), "good/g")
		}
		c.Close()
	}
}

// A connection held after a HEAD answer that gets nothing more joins the
// pool once the hold ends: HEAD does not cost a connection per request.
func TestHeadAnswerConnectionReusedAfterHold(t *testing.T) {
	var conns atomic.Int32
	addr := rawUpstream(t, func(c net.Conn) {
		conns.Add(1)
		eachRequest(c, func(_ int, req *http.Request) bool {
			if req.Method == http.MethodHead {
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
				return true
			}
			fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return true
		})
	})
	g := startGateway(t, basicConfig(addr))
	c := g.dial(5 * time.Second)
	br := bufio.NewReader(c)
	fmt.Fprint(c, "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	time.Sleep(400 * time.Millisecond) // past the hold (100 ms)
	fmt.Fprint(c, "GET /g HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: %v %v", resp, err)
	}
	resp.Body.Close()
	if n := conns.Load(); n != 1 {
		t.Fatalf("upstream saw %d connections; the one that answered HEAD should have been reused", n)
	}
}
