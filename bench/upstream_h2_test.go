package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2cClient returns an HTTP/2 client speaking h2c with prior knowledge
// (TLS dial replaced by plain TCP) and a counter of the connections it
// opened.
func h2cClient(t *testing.T) (*http.Client, *atomic.Int32) {
	t.Helper()
	var dials atomic.Int32
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, &dials
}

type h2Result struct {
	status int
	header http.Header
	body   string
	proto  string
}

func h2Do(t *testing.T, cl *http.Client, method, url string, body io.Reader) h2Result {
	t.Helper()
	r, err := h2DoErr(context.Background(), cl, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func h2DoErr(ctx context.Context, cl *http.Client, method, url string, body io.Reader) (h2Result, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return h2Result{}, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return h2Result{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return h2Result{}, fmt.Errorf("cannot read %s %s: %w", method, url, err)
	}
	return h2Result{status: resp.StatusCode, header: resp.Header, body: string(b), proto: resp.Proto}, nil
}

func pattern(n int) string {
	return strings.Repeat(string(bodyPattern), n/len(bodyPattern)+1)[:n]
}

func TestUpstreamH2CBodySizes(t *testing.T) {
	t.Parallel() // gnet takes ~0.5 s to stop an upstream
	for _, tc := range []struct {
		name    string
		size    int
		chunked bool
	}{
		{"empty", 0, false},
		{"small", 12, false},
		{"odd", 1001, false},
		{"over_frame_and_window", 1<<20 + 3, false}, // > 16 KiB frames and the 64 KiB initial window
		{"chunked", 40000, true},
		{"chunked_empty", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := startUpstream(t, UpstreamConfig{BodySize: tc.size, Chunked: tc.chunked})
			cl, _ := h2cClient(t)
			r := h2Do(t, cl, "GET", "http://"+u.Addr()+"/x?y=1", nil)
			if r.proto != "HTTP/2.0" || r.status != 200 || r.body != pattern(tc.size) {
				t.Fatalf("got %s %d, %d body bytes", r.proto, r.status, len(r.body))
			}
			cl0 := r.header.Get("Content-Length")
			if want := strconv.Itoa(tc.size); !tc.chunked && cl0 != want || tc.chunked && cl0 != "" {
				t.Errorf("content-length %q (chunked %v)", cl0, tc.chunked)
			}
			if r.header.Get("Server") != "portico-bench" || r.header.Get("Content-Type") != "text/plain" {
				t.Errorf("header %v", r.header)
			}
			h := h2Do(t, cl, "HEAD", "http://"+u.Addr()+"/", nil)
			if h.status != 200 || h.body != "" {
				t.Errorf("HEAD: %d %q", h.status, h.body)
			}
		})
	}
}

func TestUpstreamH2CStatusAndFailures(t *testing.T) {
	t.Parallel() // gnet takes ~0.5 s to stop an upstream
	for _, tc := range []struct {
		name     string
		cfg      UpstreamConfig
		path     string
		status   int
		body     string
		noLength bool
	}{
		{"default", UpstreamConfig{BodySize: 12}, "/", 200, "hello world\n", false},
		{"created", UpstreamConfig{BodySize: 5, Status: 201}, "/", 201, "hello", false},
		{"no_content", UpstreamConfig{BodySize: 5, Status: 204}, "/", 204, "", true},
		{"not_found", UpstreamConfig{BodySize: 3, Status: 404}, "/", 404, "hel", false},
		{"unusual", UpstreamConfig{BodySize: 3, Status: 599}, "/", 599, "hel", false},
		{"fail_all", UpstreamConfig{BodySize: 12, FailRate: 1}, "/", 500, "injected failure\n", false},
		{"healthz", UpstreamConfig{BodySize: 12, Status: 503}, "/healthz", 200, "ok\n", false},
		{"healthz_never_fails", UpstreamConfig{FailRate: 1}, "/healthz", 200, "ok\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := startUpstream(t, tc.cfg)
			cl, _ := h2cClient(t)
			for range 3 {
				r := h2Do(t, cl, "GET", "http://"+u.Addr()+tc.path, nil)
				if r.status != tc.status || r.body != tc.body {
					t.Fatalf("got %d %q, want %d %q", r.status, r.body, tc.status, tc.body)
				}
				if _, has := r.header["Content-Length"]; has == tc.noLength {
					t.Errorf("content-length present %v", has)
				}
			}
		})
	}
	t.Run("fail_share", func(t *testing.T) {
		t.Parallel()
		u := startUpstream(t, UpstreamConfig{FailRate: 0.5})
		cl, _ := h2cClient(t)
		fails := 0
		const n = 200
		for range n {
			if h2Do(t, cl, "GET", "http://"+u.Addr()+"/", nil).status == 500 {
				fails++
			}
		}
		if fails < n/4 || fails > 3*n/4 { // p < 1e-12 for a fair coin
			t.Errorf("%d of %d failed at fail rate 0.5", fails, n)
		}
	})
}

func TestUpstreamH2CPostLargeBody(t *testing.T) {
	t.Parallel() // gnet takes ~0.5 s to stop an upstream
	u := startUpstream(t, UpstreamConfig{BodySize: 12})
	cl, _ := h2cClient(t)
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	for _, tc := range []struct {
		name     string
		body     func() io.Reader
		trailers bool
	}{
		{"content_length", func() io.Reader { return bytes.NewReader(payload) }, false},
		// An io.Reader of unknown length: DATA frames without content-length.
		{"unknown_length", func() io.Reader { return io.MultiReader(bytes.NewReader(payload)) }, false},
		// The request ends with a trailer block instead of END_STREAM on DATA.
		{"trailers", func() io.Reader { return io.MultiReader(bytes.NewReader(payload)) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 3 { // more than the 4 MiB connection window in total
				req, err := http.NewRequest("POST", "http://"+u.Addr()+"/upload", tc.body())
				if err != nil {
					t.Fatal(err)
				}
				if tc.trailers {
					req.Trailer = http.Header{"X-Checksum": {"abc"}}
				}
				resp, err := cl.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || string(b) != "hello world\n" {
					t.Fatalf("got %d %q %v", resp.StatusCode, b, err)
				}
			}
		})
	}
}

func TestUpstreamH2CConcurrentStreams(t *testing.T) {
	t.Parallel() // gnet takes ~0.5 s to stop an upstream
	const n = 100
	const delay = 100 * time.Millisecond
	u := startUpstream(t, UpstreamConfig{BodySize: 2000, Delay: Delay{Kind: "fixed", Min: delay}})
	cl, dials := h2cClient(t)
	// Open the connection first so all streams share it.
	if r := h2Do(t, cl, "GET", "http://"+u.Addr()+"/healthz", nil); r.status != 200 {
		t.Fatalf("healthz %d", r.status)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body io.Reader
			method := "GET"
			if i%2 == 1 {
				method, body = "POST", strings.NewReader(strings.Repeat("x", 5000))
			}
			r, err := h2DoErr(context.Background(), cl, method, "http://"+u.Addr()+"/"+strconv.Itoa(i), body)
			if err == nil && (r.status != 200 || r.body != pattern(2000)) {
				err = fmt.Errorf("stream %d: %d, %d bytes", i, r.status, len(r.body))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	if d := dials.Load(); d != 1 {
		t.Errorf("%d connections, want 1", d)
	}
	// Served one after another they would take n*delay = 10 s: the delays
	// run side by side, off the event loop.
	if elapsed < delay || elapsed > 3*time.Second {
		t.Errorf("%d delayed streams took %v", n, elapsed)
	}
	if got := u.Served(); got != n+1 {
		t.Errorf("served %d, want %d", got, n+1)
	}
}

func TestUpstreamH2CDelay(t *testing.T) {
	t.Parallel() // gnet takes ~0.5 s to stop an upstream
	t.Run("healthz_overtakes", func(t *testing.T) {
		t.Parallel()
		// Long enough that a loaded machine (make test runs the race
		// build of other packages beside this one) does not starve the
		// upstream's loop past it: it then read the healthz only after the
		// delay had run out and answered in the wrong order (seen once at
		// 400 ms).
		const delay = 1500 * time.Millisecond
		u := startUpstream(t, UpstreamConfig{BodySize: 12, Delay: Delay{Kind: "fixed", Min: delay}})
		cl, dials := h2cClient(t)
		h2Do(t, cl, "GET", "http://"+u.Addr()+"/healthz", nil)
		start := time.Now()
		slow := make(chan time.Duration, 1)
		go func() {
			r, err := h2DoErr(context.Background(), cl, "GET", "http://"+u.Addr()+"/", nil)
			if err != nil || r.body != "hello world\n" {
				slow <- -1
				return
			}
			slow <- time.Since(start)
		}()
		time.Sleep(20 * time.Millisecond)
		if r := h2Do(t, cl, "GET", "http://"+u.Addr()+"/healthz", nil); r.body != "ok\n" {
			t.Fatalf("healthz %q", r.body)
		}
		fast := time.Since(start)
		s := <-slow
		if s < delay || fast >= s {
			t.Errorf("delayed answer after %v, healthz after %v (delay %v)", s, fast, delay)
		}
		if dials.Load() != 1 {
			t.Errorf("%d connections", dials.Load())
		}
	})
	t.Run("independent_random_delays", func(t *testing.T) {
		t.Parallel()
		// Uniform 0-300 ms: streams are answered at their own due times,
		// so the batch takes about the largest delay, not the sum.
		u := startUpstream(t, UpstreamConfig{BodySize: 12, Delay: Delay{Kind: "uniform", Min: 0, Max: 300 * time.Millisecond}})
		cl, _ := h2cClient(t)
		h2Do(t, cl, "GET", "http://"+u.Addr()+"/healthz", nil)
		start := time.Now()
		var wg sync.WaitGroup
		var bad atomic.Int32
		for range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r, err := h2DoErr(context.Background(), cl, "GET", "http://"+u.Addr()+"/", nil); err != nil || r.status != 200 {
					bad.Add(1)
				}
			}()
		}
		wg.Wait()
		if bad.Load() > 0 || time.Since(start) > 2*time.Second {
			t.Errorf("%d failed, took %v", bad.Load(), time.Since(start))
		}
	})
	t.Run("cancel_while_delayed", func(t *testing.T) {
		t.Parallel()
		u := startUpstream(t, UpstreamConfig{BodySize: 12, Delay: Delay{Kind: "fixed", Min: 200 * time.Millisecond}})
		cl, _ := h2cClient(t)
		h2Do(t, cl, "GET", "http://"+u.Addr()+"/healthz", nil)
		for range 5 {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			_, err := h2DoErr(ctx, cl, "GET", "http://"+u.Addr()+"/", nil)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("want a timeout, got %v", err)
			}
		}
		// The reset streams' answers are dropped; the connection still serves.
		if r := h2Do(t, cl, "GET", "http://"+u.Addr()+"/", nil); r.body != "hello world\n" {
			t.Fatalf("after resets: %q", r.body)
		}
	})
}

// TestUpstreamH2CAndHTTP1SamePort: the port serves both protocols, one
// connection each, interleaved.
func TestUpstreamH2CAndHTTP1SamePort(t *testing.T) {
	t.Parallel() // gnet takes ~0.5 s to stop an upstream
	u := startUpstream(t, UpstreamConfig{BodySize: 12})
	h2c, _ := h2cClient(t)
	h1 := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	t.Cleanup(h1.CloseIdleConnections)
	for i := range 3 {
		r := h2Do(t, h2c, "GET", "http://"+u.Addr()+"/", nil)
		if r.proto != "HTTP/2.0" || r.body != "hello world\n" {
			t.Fatalf("h2c %d: %s %q", i, r.proto, r.body)
		}
		r, err := h2DoErr(context.Background(), h1, "POST", "http://"+u.Addr()+"/", strings.NewReader("payload"))
		if err != nil || r.proto != "HTTP/1.1" || r.body != "hello world\n" {
			t.Fatalf("h1 %d: %v %s %q", i, err, r.proto, r.body)
		}
	}
	// An HTTP/1.1 request whose first byte is also the preface's ('P').
	got := exchange(t, u.Addr(), "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi", 1)
	if !strings.HasPrefix(got[0], "HTTP/1.1 200 OK") {
		t.Errorf("PUT: %q", got[0])
	}
}

// rawH2 is a minimal h2c client for what http2.Transport does not let a
// test do: hold back reading.
type rawH2 struct {
	c  net.Conn
	fr *http2.Framer
	bw *bufio.Writer
}

func dialRawH2(t *testing.T, addr string, settings ...http2.Setting) *rawH2 {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	bw := bufio.NewWriter(c)
	r := &rawH2{c: c, bw: bw, fr: http2.NewFramer(bw, bufio.NewReaderSize(c, 64<<10))}
	_, _ = bw.WriteString(http2.ClientPreface)
	if err := r.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rawH2) get(t *testing.T, id uint32, path string) {
	t.Helper()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "a"}, {":path", path}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if err := r.bw.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestUpstreamH2CSlowReader: a client that grants a huge window but does
// not read makes the origin stop at its high-water mark; once the client
// reads, the origin resumes (stall poll) and every byte arrives.
func TestUpstreamH2CSlowReader(t *testing.T) {
	t.Parallel() // gnet takes ~0.5 s to stop an upstream
	const size = 16 << 20
	u := startUpstream(t, UpstreamConfig{BodySize: size})
	r := dialRawH2(t, u.Addr(), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	if err := r.fr.WriteWindowUpdate(0, 1<<30); err != nil {
		t.Fatal(err)
	}
	r.get(t, 1, "/")
	time.Sleep(150 * time.Millisecond) // the server fills the socket and stalls
	want := pattern(size)
	got := 0
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %d body bytes: %v", got, err)
		}
		if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 {
			if string(d.Data()) != want[got:got+len(d.Data())] {
				t.Fatalf("body differs at %d", got)
			}
			got += len(d.Data())
			if d.StreamEnded() {
				break
			}
		}
	}
	if got != size {
		t.Fatalf("got %d body bytes, want %d", got, size)
	}
}

// TestUpstreamH2CBadPreface: a connection that starts like the preface but
// is not one ends with GOAWAY... or, as HTTP/1.1, with a 400.
func TestUpstreamH2CBadPreface(t *testing.T) {
	t.Parallel() // gnet takes ~0.5 s to stop an upstream
	u := startUpstream(t, UpstreamConfig{})
	got := exchange(t, u.Addr(), "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", 1)
	if !strings.HasPrefix(got[0], "HTTP/1.1 400 ") {
		t.Errorf("response %q", got[0])
	}
	// A valid preface followed by garbage frames: GOAWAY, then close.
	c, err := net.Dial("tcp", u.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	_, _ = io.WriteString(c, http2.ClientPreface+"\x00\x00\x00\x04\x01\x00\x00\x00\x00") // SETTINGS with ACK first: a protocol error
	fr := http2.NewFramer(nil, c)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no GOAWAY before %v", err)
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			if g.ErrCode != http2.ErrCodeProtocol {
				t.Errorf("GOAWAY %v", g.ErrCode)
			}
			break
		}
	}
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after GOAWAY: %v, want EOF", err)
	}
}

// h2BenchConn drives one origin HTTP/2 connection without a socket: the
// request frames are fed to the ServerConn and its output dropped, so what
// is measured is the origin's own per-request work.
type h2BenchConn struct {
	hc   *h2Conn
	req  []byte // HEADERS frame; the stream ID is patched per request
	next uint32
}

func newH2BenchConn(tb testing.TB, cfg UpstreamConfig) *h2BenchConn {
	tb.Helper()
	u, err := NewUpstream(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	hc := u.newH2Conn(nil)
	var pre bytes.Buffer
	pre.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&pre, nil)
	_ = fr.WriteSettings()
	_ = fr.WriteWindowUpdate(0, 1<<30)
	if n, err := hc.sc.Feed(pre.Bytes()); err != nil || n != pre.Len() {
		tb.Fatalf("preface: %d %v", n, err)
	}
	// As real clients do, the first request puts :authority in the HPACK
	// dynamic table and later ones refer to it (every field indexed).
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	var frames [2][]byte
	for i := range frames {
		hb.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "127.0.0.1"}, {":path", "/"}} {
			_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		var frame bytes.Buffer
		_ = http2.NewFramer(&frame, nil).WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
		frames[i] = frame.Bytes()
	}
	b := &h2BenchConn{hc: hc, req: frames[0], next: 1}
	b.request(tb)
	b.req = frames[1]
	return b
}

func (b *h2BenchConn) request(tb testing.TB) {
	binary.BigEndian.PutUint32(b.req[5:9], b.next)
	b.next += 2
	if n, err := b.hc.sc.Feed(b.req); err != nil || n != len(b.req) {
		tb.Fatalf("feed: %d %v", n, err)
	}
	out := b.hc.sc.Output()
	if len(out) == 0 {
		tb.Fatal("no answer")
	}
	b.hc.sc.ConsumeOutput(len(out))
}

func BenchmarkUpstreamH2CRequest(b *testing.B) {
	c := newH2BenchConn(b, UpstreamConfig{BodySize: 12})
	b.ReportAllocs()
	for b.Loop() {
		c.request(b)
	}
}
