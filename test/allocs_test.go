//go:build integration

package test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func mallocs(t *testing.T, admin string) int64 {
	t.Helper()
	_, body := doReq(t, "GET", "http://"+admin+"/metrics", nil)
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "go_memstats_mallocs_total ") {
			n, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return n
		}
	}
	t.Fatal("no go_memstats_mallocs_total in /metrics")
	return 0
}

// TestHotPathAllocations counts heap allocations in the real binary across
// thousands of proxied keep-alive requests (parse, route, auth-free route
// with headers rewritten, pick, pooled upstream, response relay, access log
// to a file): the hot path allocates nothing per request, for small
// answers and for 16 KiB ones, length-delimited or chunked (which leave
// through the write-through path).
func TestHotPathAllocations(t *testing.T) {
	big := strings.Repeat("x", 16<<10)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch r.URL.Path {
		case "/v2/big":
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			io.WriteString(w, big)
		case "/v2/bigchunked":
			io.WriteString(w, big[:8<<10])
			w.(http.Flusher).Flush()
			io.WriteString(w, big[8<<10:])
		default:
			defaultHandler(w, r, body)
		}
	})
	cfg := strings.Replace(basicConfig(up.addr()), "access_log: {path: stdout}", "access_log: {path: \""+t.TempDir()+"/access.log\"}", 1)
	g := startGateway(t, cfg)
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for _, path := range []string{"/api/items?id=1", "/api/big", "/api/bigchunked"} {
		req := "GET " + path + " HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench\r\nAccept: */*\r\nX-Forwarded-For: 198.51.100.7\r\n\r\n"
		send := func(n int) {
			for i := 0; i < n; i++ {
				if _, err := io.WriteString(c, req); err != nil {
					t.Fatal(err)
				}
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
		}
		send(200) // warm pools, buffers, metric handles
		m0 := mallocs(t, g.admin)
		m1 := mallocs(t, g.admin)
		scrape := m1 - m0
		const n = 5000
		start := time.Now()
		send(n)
		elapsed := time.Since(start)
		m2 := mallocs(t, g.admin)
		// The loops' timer ticks allocate a little whatever the traffic (about
		// 20/s per loop), so a slow machine that stretches the run would count
		// them as per-request allocations: an idle interval as long as the run
		// measures them, and they are taken off.
		time.Sleep(elapsed)
		m3 := mallocs(t, g.admin)
		idle := max(m3-m2-scrape, 0)
		perReq := float64(m2-m1-scrape-idle) / n
		t.Logf("%s: %d requests in %v: %d allocations beyond the scrape's %d and the %d of as long idle (%.4f per request)",
			path, n, elapsed.Round(time.Millisecond), m2-m1-scrape-idle, scrape, idle, perReq)
		if perReq > 0.05 {
			t.Fatalf("%s: %.3f allocations per request on the hot path; want 0", path, perReq)
		}
	}
}
