package bench

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func startUpstream(t *testing.T, cfg UpstreamConfig) *Upstream {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Loops == 0 {
		cfg.Loops = 1
	}
	u, err := NewUpstream(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = u.Stop(ctx)
	})
	return u
}

// exchange writes raw request bytes and reads n complete responses.
func exchange(t *testing.T, addr, raw string, n int) []string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return readResponses(t, bufio.NewReader(c), n)
}

func readResponses(t *testing.T, br *bufio.Reader, n int) []string {
	t.Helper()
	var out []string
	for range n {
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading response %d: %v (got %q)", len(out), err, head.String())
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		h, err := parseResponseHead([]byte(head.String()))
		if err != nil {
			t.Fatalf("bad response head %q: %v", head.String(), err)
		}
		body := make([]byte, max(h.contentLength, 0))
		if _, err := io.ReadFull(br, body); err != nil {
			t.Fatal(err)
		}
		if h.chunked {
			rest, _ := br.Peek(br.Buffered())
			var cs chunkSkipper
			k, done, err := cs.skip(rest)
			if err != nil || !done {
				t.Fatalf("chunked body: done %v err %v", done, err)
			}
			body = append(body, rest[:k]...)
			_, _ = br.Discard(k)
		}
		out = append(out, head.String()+string(body))
	}
	return out
}

func TestUpstreamKeepAlivePipeliningBodies(t *testing.T) {
	u := startUpstream(t, UpstreamConfig{BodySize: 12})
	raw := "GET / HTTP/1.1\r\nHost: a\r\n\r\n" +
		"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" +
		"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n" +
		"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n" +
		"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n" +
		"GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
	got := exchange(t, u.Addr(), raw, 5)
	for i, r := range got[:3] {
		if !strings.HasPrefix(r, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(r, "\r\n\r\nhello world\n") {
			t.Errorf("response %d = %q", i, r)
		}
	}
	if !strings.HasSuffix(got[3], "\r\n\r\nok\n") {
		t.Errorf("healthz = %q", got[3])
	}
	if u.Served() < 5 {
		t.Errorf("served %d", u.Served())
	}
	// HEAD answers carry Content-Length but no body; read it raw, then the
	// close response, then EOF.
	c, err := net.Dial("tcp", u.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	_, _ = io.WriteString(c, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(all); strings.Count(s, "HTTP/1.1 200 OK") != 2 || !strings.Contains(s, "Connection: close") || strings.Count(s, "hello world") != 1 {
		t.Errorf("HEAD then close: %q", s)
	}
}

func TestUpstreamSplitWrites(t *testing.T) {
	u := startUpstream(t, UpstreamConfig{BodySize: 3})
	c, err := net.Dial("tcp", u.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	raw := "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n"
	for i := 0; i < len(raw); i += 7 { // trickle so heads and chunks straddle reads
		_, _ = io.WriteString(c, raw[i:min(i+7, len(raw))])
		time.Sleep(time.Millisecond)
	}
	got := readResponses(t, bufio.NewReader(c), 2)
	for _, r := range got {
		if !strings.HasSuffix(r, "\r\n\r\nhel") {
			t.Errorf("response %q", r)
		}
	}
}

func TestUpstreamOptions(t *testing.T) {
	t.Run("chunked_status", func(t *testing.T) {
		u := startUpstream(t, UpstreamConfig{BodySize: 20, Chunked: true, Status: 201})
		got := exchange(t, u.Addr(), "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n", 2)
		for _, r := range got {
			if !strings.HasPrefix(r, "HTTP/1.1 201 Created\r\n") || !strings.Contains(r, "Transfer-Encoding: chunked") || !strings.HasSuffix(r, "14\r\nhello world\nhello wo\r\n0\r\n\r\n") {
				t.Errorf("response %q", r)
			}
		}
	})
	t.Run("fail_rate", func(t *testing.T) {
		u := startUpstream(t, UpstreamConfig{FailRate: 1})
		got := exchange(t, u.Addr(), "GET / HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n", 2)
		if !strings.HasPrefix(got[0], "HTTP/1.1 500 ") || !strings.HasPrefix(got[1], "HTTP/1.1 200 ") {
			t.Errorf("responses %q", got)
		}
	})
	t.Run("delay_keeps_order", func(t *testing.T) {
		u := startUpstream(t, UpstreamConfig{BodySize: 12, Delay: Delay{Kind: "uniform", Min: 5 * time.Millisecond, Max: 30 * time.Millisecond}})
		start := time.Now()
		got := exchange(t, u.Addr(), "GET /a HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 3)
		if time.Since(start) < 5*time.Millisecond {
			t.Errorf("answered too fast")
		}
		if !strings.HasSuffix(got[0], "hello world\n") || !strings.HasSuffix(got[1], "ok\n") || !strings.HasSuffix(got[2], "hello world\n") {
			t.Errorf("responses out of order: %q", got)
		}
	})
	t.Run("bad_request", func(t *testing.T) {
		u := startUpstream(t, UpstreamConfig{})
		got := exchange(t, u.Addr(), "BOGUS\r\n\r\n", 1)
		if !strings.HasPrefix(got[0], "HTTP/1.1 400 ") {
			t.Errorf("response %q", got[0])
		}
	})
}

func TestParseDelayDist(t *testing.T) {
	f := func(in string, ok bool) {
		t.Helper()
		d, err := ParseDelayDist(in)
		if (err == nil) != ok {
			t.Fatalf("%q: err %v", in, err)
		}
		if ok {
			for range 100 {
				if s := d.sample(); s < 0 || (d.Kind == "uniform" && (s < d.Min || s > d.Max)) {
					t.Fatalf("%q: sample %v", in, s)
				}
			}
		}
	}
	f("uniform:1ms:5ms", true)
	f("exp:2ms", true)
	f("uniform:5ms:1ms", false)
	f("exp:0s", false)
	f("normal:1ms", false)
	f("uniform:1ms", false)
}

// TestUpstreamLargePipelinedBodies fills the socket so the raw write is
// partial and the rest goes through gnet's outbound buffer: every byte
// must still arrive, in order.
func TestUpstreamLargePipelinedBodies(t *testing.T) {
	const size, n = 4 << 20, 4
	u := startUpstream(t, UpstreamConfig{BodySize: size})
	c, err := net.Dial("tcp", u.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, strings.Repeat("GET / HTTP/1.1\r\nHost: a\r\n\r\n", n)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the server hit a full socket buffer
	want := strings.Repeat(string(bodyPattern), size/len(bodyPattern)+1)[:size]
	got := readResponses(t, bufio.NewReaderSize(c, 64<<10), n)
	for i, r := range got {
		_, body, ok := strings.Cut(r, "\r\n\r\n")
		if !ok || body != want {
			t.Fatalf("response %d: %d body bytes", i, len(body))
		}
	}
	if u.Served() != n {
		t.Errorf("served %d, want %d", u.Served(), n)
	}
}
