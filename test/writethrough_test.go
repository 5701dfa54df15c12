//go:build integration

package test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPipelinedBodiesInOrder: large body pieces leave in one sendmsg with
// their head (and chunk framing), straight from the upstream's read
// buffer, while small ones are queued: twenty pipelined requests with
// bodies from 1 byte to 200 KiB, length-delimited or chunked, on one
// connection arrive whole, in order, each with its own head, with a client
// that reads slowly part of the time.
func TestPipelinedBodiesInOrder(t *testing.T) {
	sizes := []int{1, 5000, 4096, 4095, 70000, 10, 200 << 10, 16384, 3, 65537, 8000, 1, 33001, 4097, 100, 131072, 9001, 20000, 4096, 200001}
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/size/"))
		if n%2 == 1 { // odd sizes go chunked, in two pieces
			io.Copy(w, &patternReader{size: int64(n / 2)})
			w.(http.Flusher).Flush()
			io.Copy(w, &patternReader{off: int64(n / 2), size: int64(n)})
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		io.Copy(w, &patternReader{size: int64(n)})
	})
	g := startGateway(t, basicConfig(up.addr()))
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	var reqs strings.Builder
	for _, n := range sizes {
		fmt.Fprintf(&reqs, "GET /size/%d HTTP/1.1\r\nHost: a\r\n\r\n", n)
	}
	if _, err := io.WriteString(c, reqs.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(c, 4096)
	for i, n := range sizes {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		wantLength := int64(n)
		if n%2 == 1 {
			wantLength = -1
		}
		if resp.StatusCode != 200 || resp.ContentLength != wantLength || resp.Header.Get("X-Request-Id") == "" {
			t.Fatalf("answer %d: status %d, length %d (want %d), id %q", i, resp.StatusCode, resp.ContentLength, n, resp.Header.Get("X-Request-Id"))
		}
		if i%3 == 0 {
			time.Sleep(20 * time.Millisecond) // let the gateway's writes meet a full socket now and then
		}
		got, ok := slowRead(resp.Body, 1<<30, time.Now().Add(10*time.Second))
		resp.Body.Close()
		if got != int64(n) || !ok {
			t.Fatalf("answer %d: %d of %d body bytes, intact=%v", i, got, n, ok)
		}
	}
}
