//go:build integration

package test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// bigBody returns the transfer size and the slow side's read rate: 1 GiB at
// 10 MiB/s as the issue states when PORTICO_BIG_BODY=1 (100 s per test),
// else 256 MiB at 64 MiB/s, which exercises the same pause/resume path.
func bigBody() (size, rate int64) {
	if os.Getenv("PORTICO_BIG_BODY") == "1" {
		return 1 << 30, 10 << 20
	}
	return 256 << 20, 64 << 20
}

// rssWatch samples the process's VmRSS every 20 ms and keeps the maximum.
func rssWatch(t *testing.T, pid int) (stop func() int64) {
	var max atomic.Int64
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				continue
			}
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "VmRSS:") {
					kb, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
					if kb*1024 > max.Load() {
						max.Store(kb * 1024)
					}
				}
			}
		}
	}()
	return func() int64 { close(done); return max.Load() }
}

// slowRead reads r at about rate bytes/s and returns how many bytes came and
// whether every byte matched the repeating pattern byte(i).
func slowRead(r io.Reader, rate int64, deadline time.Time) (int64, bool) {
	buf := make([]byte, 64<<10)
	var n int64
	ok := true
	start := time.Now()
	for time.Now().Before(deadline) {
		k, err := r.Read(buf)
		for i := 0; i < k; i++ {
			if buf[i] != byte((n+int64(i))%251) {
				ok = false
			}
		}
		n += int64(k)
		if err != nil {
			break
		}
		if ahead := time.Duration(float64(n)/float64(rate)*float64(time.Second)) - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
	}
	return n, ok
}

// patternReader yields byte(i % 251) for size bytes.
type patternReader struct{ off, size int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.size {
		return 0, io.EOF
	}
	if int64(len(b)) > p.size-p.off {
		b = b[:p.size-p.off]
	}
	for i := range b {
		b[i] = byte((p.off + int64(i)) % 251)
	}
	p.off += int64(len(b))
	return len(b), nil
}

func TestSlowClientDownloadBoundedMemory(t *testing.T) {
	size, rate := bigBody()
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		io.Copy(w, &patternReader{size: size})
	})
	g := startGateway(t, basicConfig(up.addr()))
	stop := rssWatch(t, g.cmd.Process.Pid)
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /download HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReaderSize(c, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, ok := slowRead(resp.Body, rate, time.Now().Add(time.Duration(size/rate+30)*time.Second))
	maxRSS := stop()
	t.Logf("downloaded %d MiB at %d MiB/s; gateway peak RSS %.1f MiB", n>>20, rate>>20, float64(maxRSS)/(1<<20))
	if n != size || !ok {
		t.Fatalf("got %d of %d bytes, intact=%v", n, size, ok)
	}
	if maxRSS > 64<<20 {
		t.Fatalf("gateway RSS peaked at %d MiB (limit 64)", maxRSS>>20)
	}
}

func TestSlowUpstreamUploadBoundedMemory(t *testing.T) {
	size, rate := bigBody()
	// A raw upstream that reads the body slowly, then answers with the count.
	up := rawUpstream(t, func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReaderSize(c, 64<<10))
		if err != nil {
			return
		}
		n, ok := slowRead(req.Body, rate, time.Now().Add(time.Duration(size/rate+30)*time.Second))
		body := fmt.Sprintf("%d %v", n, ok)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	})
	g := startGateway(t, basicConfig(up))
	stop := rssWatch(t, g.cmd.Process.Pid)
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", size)
		io.Copy(c, &patternReader{size: size})
	}()
	c.SetReadDeadline(time.Now().Add(time.Duration(size/rate+40) * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	maxRSS := stop()
	t.Logf("uploaded %d MiB at %d MiB/s; gateway peak RSS %.1f MiB", size>>20, rate>>20, float64(maxRSS)/(1<<20))
	if string(b) != fmt.Sprintf("%d true", size) {
		t.Fatalf("upstream saw %q, want %d intact bytes", b, size)
	}
	if maxRSS > 64<<20 {
		t.Fatalf("gateway RSS peaked at %d MiB (limit 64)", maxRSS>>20)
	}
}

// twoSlotConfig is one listener (with listenerExtra) and one route (with
// routeExtra) to an upstream of max_conns 2: what a few held requests
// would exhaust.
func twoSlotConfig(upstream, listenerExtra, routeExtra string) string {
	return `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
` + listenerExtra + `admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: app
    max_conns: 2
    targets: [{address: "` + upstream + `"}]
routes:
  - name: all
    match: {path_prefix: /}
    upstream: app
` + routeExtra
}

// A Content-Length request body is read whole, or its first 64 KiB are,
// before the request takes an upstream target: clients trickling their
// bodies cannot hold max_conns slots (the others got 503 overloaded) for
// the route timeout; they get 408 once no byte came for idle_timeout.
// Bodies sent promptly are proxied as usual, larger ones streamed; chunked
// bodies stream as they come (TestBodyFailureAfterTheAnswerBegan's
// streaming client waits for the answer before it sends its body).
func TestSlowBodyHoldsNoUpstreamSlot(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		fmt.Fprintf(w, "got %d", len(body))
	})
	g := startGateway(t, twoSlotConfig(up.addr(), "    limits: {idle_timeout: 2s}\n", ""))
	trickled := []string{
		"POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nx",
		"POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n" + strings.Repeat("y", 60000),
		"POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 70000\r\n\r\n" + strings.Repeat("z", 1000),
	}
	var slow []net.Conn
	for _, req := range trickled {
		c := g.dial(10 * time.Second)
		io.WriteString(c, req)
		slow = append(slow, c)
	}
	time.Sleep(300 * time.Millisecond)
	for i := 0; i < 3; i++ {
		resp, body := doReq(t, "GET", "http://"+g.addr+"/ok", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d beside trickled bodies: %d %s", i, resp.StatusCode, body)
		}
	}
	for _, n := range []int{5000, 70000, 300000} { // awaited whole, and streamed
		for _, chunked := range []bool{false, true} {
			var rd io.Reader = strings.NewReader(strings.Repeat("b", n))
			if chunked {
				rd = io.MultiReader(rd) // hides the length: Go's client sends it chunked
			}
			r, _ := http.NewRequest("POST", "http://"+g.addr+"/post", rd)
			resp, err := client.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := fmt.Sprintf("got %d", n); resp.StatusCode != 200 || string(b) != want {
				t.Fatalf("a %d-byte body (chunked %v) sent at once: %d %q", n, chunked, resp.StatusCode, b)
			}
		}
	}
	// Bodies split over two writes are proxied whole.
	for _, req := range [][2]string{
		{"POST /split HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nConnection: close\r\n\r\n01234", "56789"},
		{"POST /split HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n012", "34\r\n5\r\n56789\r\n0\r\n\r\n"},
	} {
		c := g.dial(5 * time.Second)
		io.WriteString(c, req[0])
		time.Sleep(200 * time.Millisecond)
		io.WriteString(c, req[1])
		if out, _ := io.ReadAll(c); !strings.HasSuffix(string(out), "got 10") {
			t.Fatalf("split body %q: %q", req[0], out)
		}
	}
	for i, c := range slow {
		out, _ := io.ReadAll(c)
		if !strings.HasPrefix(string(out), "HTTP/1.1 408") {
			t.Errorf("trickled body %d: %.40q, want 408", i, out)
		}
	}
}

// HTTP/2 streams with a Content-Length body are held as HTTP/1.1 requests
// are, until the body or its first 8 KiB (half the connection window's share
// of each stream) are in: streams trickling their bodies hold no max_conns
// slot and get 408 at the route timeout; whole bodies, larger ones sent at
// once, and bodies of unknown length (streamed) are proxied.
func TestSlowH2BodyHoldsNoUpstreamSlot(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		fmt.Fprintf(w, "got %d", len(body))
	})
	g := startGateway(t, twoSlotConfig(up.addr(), "    protocols: [http1, h2c]\n", "    timeout: 2s\n"))
	c := h2cClient()
	type result struct {
		status int
		body   string
		err    error
	}
	post := func(path string, body io.Reader, length int64) result {
		req, _ := http.NewRequest("POST", "http://"+g.addr+path, body)
		req.ContentLength = length
		resp, err := c.Do(req)
		if err != nil {
			return result{err: err}
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return result{status: resp.StatusCode, body: string(b)}
	}
	var writers []*io.PipeWriter
	slow := make(chan result, 4)
	for range 4 {
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		go func() { slow <- post("/slow", pr, 1<<20) }()
		go pw.Write([]byte("trickle")) // a few bytes, then nothing
	}
	time.Sleep(300 * time.Millisecond)
	for i := 0; i < 3; i++ {
		if r := post("/ok", strings.NewReader("x"), 1); r.status != 200 || r.body != "got 1" {
			t.Fatalf("request %d beside trickled streams: %+v", i, r)
		}
	}
	for _, n := range []int64{5000, 300000} {
		if r := post("/post", strings.NewReader(strings.Repeat("b", int(n))), n); r.status != 200 || r.body != fmt.Sprintf("got %d", n) {
			t.Fatalf("a %d-byte body sent at once: %+v", n, r)
		}
		if r := post("/stream", io.MultiReader(strings.NewReader(strings.Repeat("c", int(n)))), -1); r.status != 200 || r.body != fmt.Sprintf("got %d", n) {
			t.Fatalf("a %d-byte body of unknown length: %+v", n, r)
		}
	}
	for range 4 {
		select {
		case r := <-slow:
			if r.status != 408 {
				t.Errorf("trickled stream: %+v, want 408", r)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a trickled stream got no answer")
		}
	}
	for _, pw := range writers {
		pw.Close()
	}
}

// Many HTTP/2 uploads on one connection, their DATA frames interleaved
// (as a client fair to its streams sends them): held streams take no
// connection credit back until they go upstream, and the connection's
// consumed bytes are credited only in batches of half the window, so the
// holds together must leave the client window to finish them. 256
// streams of 100 kB in 1000-byte frames, in turn, all answered 200 well
// within the route timeout (a 16 KiB share stalled them into 408 and 504).
func TestH2HeldUploadsLeaveConnectionWindow(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		fmt.Fprintf(w, "got %d", len(body))
	})
	g := startGateway(t, oneRouteConfig(up.addr(), "    protocols: [http1, h2c]\n", "    timeout: 8s\n"))
	const streams, size, frame = 256, 100_000, 1000
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.WriteSettings()

	// The reader keeps the connection's send credit and the answers.
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	connCredit := int64(65535)
	statuses := map[uint32]string{}
	done := 0
	readErr := make(chan error, 1)
	go func() {
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				readErr <- err
				mu.Lock()
				cond.Broadcast()
				mu.Unlock()
				return
			}
			mu.Lock()
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					fr.WriteSettingsAck()
				}
			case *http2.WindowUpdateFrame:
				if f.StreamID == 0 {
					connCredit += int64(f.Increment)
				}
			case *http2.MetaHeadersFrame:
				statuses[f.StreamID] = f.PseudoValue("status")
				if f.StreamEnded() {
					done++
				}
			case *http2.DataFrame:
				if f.StreamEnded() {
					done++
				}
			case *http2.GoAwayFrame:
				readErr <- fmt.Errorf("GOAWAY %v %q", f.ErrCode, f.DebugData())
			}
			cond.Broadcast()
			mu.Unlock()
		}
	}()

	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	start := time.Now()
	mu.Lock()
	for i := range streams {
		hb.Reset()
		for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "a"},
			{":path", fmt.Sprintf("/up/%d", i)}, {"content-length", strconv.Itoa(size)}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: hb.Bytes(), EndHeaders: true})
	}
	chunk := bytes.Repeat([]byte("u"), frame)
	for sent := 0; sent < size; sent += frame {
		for i := range streams {
			for connCredit < frame && len(readErr) == 0 && time.Since(start) < 15*time.Second {
				cond.Wait()
			}
			if connCredit < frame {
				mu.Unlock()
				t.Fatalf("no connection credit after %d bytes of each stream (%v)", sent, time.Since(start))
			}
			connCredit -= frame
			fr.WriteData(uint32(2*i+1), sent+frame >= size, chunk)
		}
	}
	for done < streams && len(readErr) == 0 && time.Since(start) < 15*time.Second {
		cond.Wait()
	}
	got := map[string]int{}
	for _, s := range statuses {
		got[s]++
	}
	mu.Unlock()
	if got["200"] != streams || time.Since(start) > 6*time.Second {
		t.Fatalf("answers %v of %d streams after %v", got, streams, time.Since(start))
	}
}

// A held body answered 408 logs the body bytes that did arrive.
func TestHeldBodyTimeoutLogsBytesIn(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {})
	g := startGateway(t, oneRouteConfig(up.addr(), "", "    timeout: 500ms\n"))
	c := g.dial(5 * time.Second)
	io.WriteString(c, "POST /held HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n"+strings.Repeat("x", 300))
	if out, _ := io.ReadAll(c); !strings.HasPrefix(string(out), "HTTP/1.1 408") {
		t.Fatalf("%.40q, want 408", out)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		for _, l := range strings.Split(g.stdout.String(), "\n") {
			if strings.Contains(l, `"path":"/held"`) {
				if !strings.Contains(l, `"status":408`) || !strings.Contains(l, `"bytes_in":300,`) {
					t.Fatalf("log line %s, want status 408 and bytes_in 300", l)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no access-log line for /held")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPipelinedOwnAnswersBounded: a client that pipelines requests the
// gateway answers itself (here a 16 KB direct_response; a 401 or a 404
// alike) and never reads is no longer read once about 1 MiB of answers
// waits for it: the gateway's memory does not grow with what it sends
// (256 KiB of requests made 116 MB of answers before). Once the client
// reads, every request is answered, in order.
func TestPipelinedOwnAnswersBounded(t *testing.T) {
	up := newUpstream(t, nil)
	cfg := strings.Replace(basicConfig(up.addr()), "routes:\n", `routes:
  - name: own-answer
    match: {path_prefix: /own/}
    direct_response: {status: 200, body: "`+strings.Repeat("x", 16000)+`"}
`, 1)
	g := startGateway(t, cfg)
	before := rssOf(t, g.cmd.Process.Pid)
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "GET /own/x HTTP/1.1\r\nHost: a\r\n\r\n"
	n := (256 << 10) / len(req)
	// Written while nothing is read: the write may block once the gateway
	// stops reading, so it runs on its own, bounded by the deadline.
	_ = c.SetWriteDeadline(time.Now().Add(3 * time.Second))
	written := make(chan int, 1)
	go func() {
		k, _ := c.Write([]byte(strings.Repeat(req, n)))
		written <- k / len(req)
	}()
	time.Sleep(2 * time.Second)
	if grew := rssOf(t, g.cmd.Process.Pid) - before; grew > 40<<20 {
		t.Fatalf("RSS grew by %d MiB from one pipelining client that does not read", grew>>20)
	}
	sent := <-written
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	for i := range sent {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d of %d: %v", i+1, sent, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) != 16000 {
			t.Fatalf("response %d: %d, %d bytes", i+1, resp.StatusCode, len(b))
		}
	}
}
