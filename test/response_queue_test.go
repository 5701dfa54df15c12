//go:build integration

package test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestBytesAfterAnswerNeverReachTheNextRequest: an upstream that writes,
// right after an answer and in the same segment, the start of another
// (a crafted response for whoever asks next: response-queue poisoning)
// must not have its connection reused, whatever framed the first answer.
// The next request gets a fresh connection and its own answer.
func TestBytesAfterAnswerNeverReachTheNextRequest(t *testing.T) {
	const poison = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nX-Smuggled: yes\r\n\r\nSMUGGLED"
	for _, tc := range []struct {
		name, answer, method string
		wantStatus           int
		wantBody             string
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst", "GET", 200, "first"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n0\r\n\r\n", "GET", 200, "first"},
		{"chunked-trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n0\r\nX-T: 1\r\n\r\n", "GET", 200, "first"},
		{"no-content", "HTTP/1.1 204 No Content\r\n\r\n", "GET", 204, ""},
		{"not-modified", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", "GET", 304, ""},
		{"head", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conns atomic.Int32
			up := rawUpstream(t, func(c net.Conn) {
				conns.Add(1)
				eachRequest(c, func(int, *http.Request) bool {
					_, err := c.Write([]byte(tc.answer + poison))
					return err == nil
				})
			})
			g := startGateway(t, basicConfig(up))
			for i := range 3 {
				req, _ := http.NewRequest(tc.method, fmt.Sprintf("http://%s/r%d", g.addr, i), nil)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body := string(b)
				if resp.StatusCode != tc.wantStatus || body != tc.wantBody || resp.Header.Get("X-Smuggled") != "" {
					t.Fatalf("request %d got %d %q (X-Smuggled %q): the bytes after the previous answer", i, resp.StatusCode, body, resp.Header.Get("X-Smuggled"))
				}
				time.Sleep(20 * time.Millisecond)
			}
			if n := conns.Load(); n < 3 {
				t.Errorf("%d upstream connections for 3 requests: one with bytes after its answer was reused", n)
			}
		})
	}
}

// TestUpstreamSwitchingProtocolsRefused: the gateway never asks an
// upstream to upgrade (Upgrade is hop-by-hop and removed), so a 101 is
// not an answer it can relay: 502, and the bytes after it (the other
// protocol) never reach the client.
func TestUpstreamSwitchingProtocolsRefused(t *testing.T) {
	up := rawUpstream(t, func(c net.Conn) {
		eachRequest(c, func(int, *http.Request) bool {
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello")
			return false
		})
	})
	g := startGateway(t, basicConfig(up))
	for range 2 {
		resp, body := g.get("/ws")
		checkEnvelope(t, resp, body, 502, "bad_gateway")
	}
}
