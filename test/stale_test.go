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
)

// TestStaleKeepAliveRetried: an upstream that closes a kept-alive
// connection as the next request arrives (the idle race every proxy meets)
// costs the client nothing: the request goes again on a fresh connection.
func TestStaleKeepAliveRetried(t *testing.T) {
	var conns atomic.Int64
	up := rawUpstream(t, func(c net.Conn) {
		conns.Add(1)
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			if i == 1 {
				return // second request on this connection: close without answering
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
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
