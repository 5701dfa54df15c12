//go:build integration

package test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func h2TimeoutConfig(up string) string {
	return strings.Replace(h2cConfig(up), "limits: {", "limits: {header_timeout: 1s, idle_timeout: 1s, ", 1)
}

// h2Raw opens an h2c connection, sends the preface and SETTINGS, and
// reports when the server's GOAWAY arrives and when the socket closes.
type h2Raw struct {
	c       net.Conn
	fr      *http2.Framer
	start   time.Time
	goaway  chan time.Duration
	closed  chan time.Duration
	headers chan uint32 // stream ids of response HEADERS
}

func dialH2Raw(t *testing.T, addr string) *h2Raw {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h := &h2Raw{c: c, fr: http2.NewFramer(c, c), start: time.Now(),
		goaway: make(chan time.Duration, 1), closed: make(chan time.Duration, 1), headers: make(chan uint32, 16)}
	io.WriteString(c, http2.ClientPreface)
	h.fr.WriteSettings()
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
		for {
			f, err := h.fr.ReadFrame()
			if err != nil {
				h.closed <- time.Since(h.start)
				return
			}
			switch f := f.(type) {
			case *http2.GoAwayFrame:
				select {
				case h.goaway <- time.Since(h.start):
				default:
				}
			case *http2.HeadersFrame:
				h.headers <- f.StreamID
			}
		}
	}()
	return h
}

func requestBlock(path string) []byte {
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", path}, {":authority", "a"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return hb.Bytes()
}

// waitClosed: the server sent GOAWAY and closed the socket between lo
// and hi after the connection opened.
func (h *h2Raw) waitClosed(t *testing.T, what string, lo, hi time.Duration) {
	t.Helper()
	select {
	case d := <-h.closed:
		if d < lo || d > hi {
			t.Errorf("%s: closed after %v, want between %v and %v", what, d, lo, hi)
		}
		select {
		case <-h.goaway:
		default:
			t.Errorf("%s: closed without a GOAWAY", what)
		}
	case <-time.After(hi + 2*time.Second):
		t.Fatalf("%s: still open after %v", what, hi+2*time.Second)
	}
}

// TestH2HeaderTimeout: a header block trickled in CONTINUATION frames, or
// a HEADERS frame trickled byte by byte, is cut off by header_timeout
// (1s) even though bytes keep arriving, as a slow HTTP/1.1 head is.
func TestH2HeaderTimeout(t *testing.T) {
	up := echoHashUpstream(t)
	g := startGateway(t, h2TimeoutConfig(up.addr()))

	// Trickled CONTINUATION frames, every 200ms.
	h := dialH2Raw(t, g.addr)
	block := requestBlock("/x")
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:2], EndHeaders: false, EndStream: true})
	go func(fr *http2.Framer) {
		for i := 2; i < len(block) && i < 40; i++ {
			time.Sleep(200 * time.Millisecond)
			if fr.WriteContinuation(1, false, block[i:i+1]) != nil {
				return
			}
		}
	}(h.fr)
	h.waitClosed(t, "trickled CONTINUATION", 900*time.Millisecond, 3*time.Second)

	// One HEADERS frame whose bytes arrive one at a time.
	h = dialH2Raw(t, g.addr)
	var frame bytes.Buffer
	http2.NewFramer(&frame, nil).WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndHeaders: true, EndStream: true})
	go func(c net.Conn) {
		for _, b := range frame.Bytes() {
			time.Sleep(200 * time.Millisecond)
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
		}
	}(h.c)
	h.waitClosed(t, "trickled HEADERS frame", 900*time.Millisecond, 3*time.Second)
}

// TestH2IdleTimeoutIgnoresPings: with no stream open, PINGs every 200ms do
// not keep the connection past idle_timeout (1s); a stream that stays open
// longer than idle_timeout is not cut, and the idle time counts from its end.
func TestH2IdleTimeoutIgnoresPings(t *testing.T) {
	up := echoHashUpstream(t)
	g := startGateway(t, h2TimeoutConfig(up.addr()))

	h := dialH2Raw(t, g.addr)
	go func(fr *http2.Framer) {
		for i := 0; i < 30; i++ {
			time.Sleep(200 * time.Millisecond)
			if fr.WritePing(false, [8]byte{byte(i)}) != nil {
				return
			}
		}
	}(h.fr)
	h.waitClosed(t, "PINGs only", 900*time.Millisecond, 3*time.Second)

	// /slow takes 700ms upstream; sent at 600ms, it is open across the
	// first idle deadline, and the connection must outlive it.
	h = dialH2Raw(t, g.addr)
	time.Sleep(600 * time.Millisecond)
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: requestBlock("/slow"), EndHeaders: true, EndStream: true})
	select {
	case id := <-h.headers:
		if id != 1 {
			t.Fatalf("response on stream %d", id)
		}
	case d := <-h.closed:
		t.Fatalf("closed after %v with the stream open", d)
	case <-time.After(5 * time.Second):
		t.Fatal("no response to /slow")
	}
	// The response ended at about 1.3s; idle then runs to about 2.3s.
	h.waitClosed(t, "after the stream ended", 2*time.Second, 4*time.Second)
}

// TestH2IdleTimeoutCountsInstantRequests: requests answered within the
// event that brought them (a direct_response, a 404) are activity too: a
// client sending one every 300ms keeps its connection past idle_timeout.
func TestH2IdleTimeoutCountsInstantRequests(t *testing.T) {
	up := echoHashUpstream(t)
	cfg := strings.Replace(h2TimeoutConfig(up.addr()), "routes:\n", `routes:
  - name: ping
    match: {path: /ping}
    direct_response: {status: 200, body: "pong"}
`, 1)
	g := startGateway(t, cfg)
	h := dialH2Raw(t, g.addr)
	for i := 0; i < 8; i++ { // 2.4s, over twice idle_timeout
		id := uint32(2*i + 1)
		path := "/ping"
		if i%2 == 1 {
			path = "/ping/none" // falls to the upstream route: not instant
		}
		if i%4 == 3 {
			path = "/ping"
		}
		h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: requestBlock(path), EndHeaders: true, EndStream: true})
		select {
		case got := <-h.headers:
			if got != id {
				t.Fatalf("response on stream %d, want %d", got, id)
			}
		case d := <-h.closed:
			t.Fatalf("closed after %v while requests kept coming", d)
		case <-time.After(3 * time.Second):
			t.Fatalf("no response on stream %d", id)
		}
		time.Sleep(300 * time.Millisecond)
	}
	select {
	case <-h.goaway:
		t.Fatal("GOAWAY while requests kept coming")
	default:
	}
	h.waitClosed(t, "after the last request", 2900*time.Millisecond, 5*time.Second)
}

// TestH2IdleTimeoutCountsFromStreamEnd: idle_timeout (1s) runs from the
// end of the last stream, not from its request: a stream answered after
// 0.7 s leaves the connection open until about 1.7 s (the GOAWAY came at
// 1 s, right after the answer, for a long poll at any length).
func TestH2IdleTimeoutCountsFromStreamEnd(t *testing.T) {
	up := echoHashUpstream(t)
	g := startGateway(t, h2TimeoutConfig(up.addr()))
	h := dialH2Raw(t, g.addr)
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: requestBlock("/slow"), EndHeaders: true, EndStream: true})
	select {
	case <-h.headers:
	case d := <-h.closed:
		t.Fatalf("closed after %v before the answer", d)
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
	}
	answered := time.Since(h.start)
	h.waitClosed(t, "after the slow answer", answered+950*time.Millisecond, answered+2*time.Second)
}

// TestH2FirstRequestWithinHeaderTimeout: a connection that sends the
// preface, SETTINGS and then only PINGs is closed at header_timeout (1s),
// not kept for idle_timeout (30s): the first request must come within
// header_timeout, as an HTTP/1.1 connection's first head must. One that
// sent a request keeps idle_timeout.
func TestH2FirstRequestWithinHeaderTimeout(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, strings.Replace(h2cConfig(up.addr()), "limits: {", "limits: {header_timeout: 1s, idle_timeout: 30s, ", 1))
	silent := dialH2Raw(t, g.addr)
	go func() {
		for i := 0; i < 10; i++ { // bytes keep coming, but no request
			time.Sleep(300 * time.Millisecond)
			if silent.fr.WritePing(false, [8]byte{byte(i)}) != nil {
				return
			}
		}
	}()
	asked := dialH2Raw(t, g.addr)
	if err := asked.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: requestBlock("/"), EndHeaders: true, EndStream: true}); err != nil {
		t.Fatal(err)
	}
	silent.waitClosed(t, "no request after the preface", 900*time.Millisecond, 2500*time.Millisecond)
	select {
	case id := <-asked.headers:
		if id != 1 {
			t.Fatalf("answer on stream %d", id)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no answer to the request")
	}
	time.Sleep(time.Since(asked.start) + time.Second) // well past header_timeout
	select {
	case d := <-asked.closed:
		t.Fatalf("a connection that sent a request closed after %v (idle_timeout is 30s)", d)
	case <-asked.goaway:
		t.Fatalf("a connection that sent a request got GOAWAY before idle_timeout")
	default:
	}
}

// header_timeout bounds each header block, not the connection: a busy
// connection whose reads keep ending inside the next request's HEADERS
// (large blocks, one segment at a time) ran on the first block's deadline
// and got GOAWAY and a close while every request was being answered.
func TestH2HeaderTimeoutPerBlock(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, strings.Replace(h2cConfig(up.addr()), "limits: {", "limits: {header_timeout: 1s, idle_timeout: 30s, ", 1))
	h := dialH2Raw(t, g.addr)
	frame := func(id uint32) []byte {
		var b bytes.Buffer
		fr := http2.NewFramer(&b, nil)
		block := requestBlock("/pad/" + strings.Repeat("p", 200))
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true, EndStream: true}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	const requests = 14 // 200 ms apart: 2.8 s, almost three header timeouts
	answered := 0
	next := frame(1)
	for i := range requests {
		cur := next
		next = frame(uint32(2*i + 3))
		half := len(cur) / 2
		if i == 0 {
			h.c.Write(cur[:half])
		}
		// The rest of this block and the start of the next, in one write.
		h.c.Write(append(append([]byte(nil), cur[half:]...), next[:len(next)/2]...))
		deadline := time.After(200 * time.Millisecond)
	wait:
		for {
			select {
			case <-h.headers:
				answered++
			case d := <-h.goaway:
				t.Fatalf("GOAWAY after %v with %d of %d requests answered (header_timeout 1s, each block complete within 200ms)", d, answered, i+1)
			case d := <-h.closed:
				t.Fatalf("closed after %v with %d of %d requests answered", d, answered, i+1)
			case <-deadline:
				break wait
			}
		}
	}
	if answered < requests-1 {
		t.Fatalf("%d of %d requests answered", answered, requests)
	}
}

// Until the first request opens a stream, header blocks that open none
// (malformed: no :path) do not move the preface's header_timeout: the
// connection still ends then, not at idle_timeout.
func TestH2BlocksWithoutRequestKeepPrefaceDeadline(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, strings.Replace(h2cConfig(up.addr()), "limits: {", "limits: {header_timeout: 1s, idle_timeout: 30s, ", 1))
	h := dialH2Raw(t, g.addr)
	frame := func(id uint32) []byte {
		var hb, b bytes.Buffer
		enc := hpack.NewEncoder(&hb)
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "a"}} { // no :path
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		http2.NewFramer(&b, nil).WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: true})
		return b.Bytes()
	}
	go func() {
		next := frame(1)
		h.c.Write(next[:5])
		for i := range 8 { // 8 x 400 ms: past header_timeout, well before idle_timeout
			time.Sleep(400 * time.Millisecond)
			cur := next
			next = frame(uint32(2*i + 3))
			if _, err := h.c.Write(append(append([]byte(nil), cur[5:]...), next[:5]...)); err != nil {
				return
			}
		}
	}()
	h.waitClosed(t, "malformed blocks and no request", 900*time.Millisecond, 2500*time.Millisecond)
}

// TestH2OverTLSFirstRequestFromAccept: over TLS, as for HTTP/1.1, the first
// request must come within header_timeout (1s) of the accept, the
// handshake's time included: a client that spends 0.7 s before its
// ClientHello and then sends no request is closed at about 1 s, not 1.7 s
// (the deadline restarted at the handshake's end).
func TestH2OverTLSFirstRequestFromAccept(t *testing.T) {
	up := newUpstream(t, nil)
	p := newPKI(t, "h2tls-deadline")
	cert, key, _ := p.issue(t, "server", false, "localhost")
	g := startGateway(t, `version: 1
listeners:
  - name: tls
    address: "{{LISTEN}}"
    protocols: [http1, h2]
    limits: {header_timeout: 1s, idle_timeout: 30s}
    tls:
      certificates: [{cert_file: "`+cert+`", key_file: "`+key+`"}]
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: app
    targets: [{address: "`+up.addr()+`"}]
routes:
  - name: all
    match: {path_prefix: /}
    upstream: app
`)
	start := time.Now()
	raw, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	time.Sleep(700 * time.Millisecond)
	c := tls.Client(raw, &tls.Config{RootCAs: p.pool(), ServerName: "localhost", NextProtos: []string{"h2"}})
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	if c.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatalf("ALPN %q", c.ConnectionState().NegotiatedProtocol)
	}
	io.WriteString(c, http2.ClientPreface)
	http2.NewFramer(c, c).WriteSettings()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.Copy(io.Discard, c) // until the server closes
	if d := time.Since(start); d < 900*time.Millisecond || d > 1500*time.Millisecond {
		t.Fatalf("closed %v after the connect, want about header_timeout (1s) from the accept", d)
	}
}
