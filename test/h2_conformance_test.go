//go:build integration

package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2ConformanceConfig: /limited takes at most 100 body bytes, /secure
// needs an API key, /direct is a direct_response; an h2c listener and,
// when tlsAddr is set, an h2 (ALPN) one.
func h2ConformanceConfig(up, tlsAddr, cert, key string) string {
	tlsListener := ""
	if tlsAddr != "" {
		tlsListener = `  - name: tls
    address: "` + tlsAddr + `"
    protocols: [h2, http1]
    tls:
      certificates: [{cert_file: "` + cert + `", key_file: "` + key + `"}]
`
	}
	return `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
    protocols: [http1, h2c]
` + tlsListener + `admin: {address: "{{ADMIN}}"}
access_log: {path: stdout}
upstreams:
  - name: app
    targets: [{address: "` + up + `"}]
auth:
  - name: keys
    type: api_key
    from: header:X-API-Key
    keys:
      - {consumer: acme, sha256: "` + strings.Repeat("ab", 32) + `"}
routes:
  - name: limited
    match: {path_prefix: /limited}
    upstream: app
    max_body_bytes: 100
  - name: secure
    match: {path_prefix: /secure}
    auth: [keys]
    upstream: app
  - name: direct
    match: {path_prefix: /direct}
    direct_response: {status: 200, body: "direct\n", content_type: text/plain}
  - name: all
    match: {path_prefix: /}
    upstream: app
`
}

// accessLogStatuses counts the access-log lines per status for path.
func accessLogStatuses(t *testing.T, g *gateway, path string) map[int]int {
	t.Helper()
	out := map[int]int{}
	for _, l := range strings.Split(g.stdout.String(), "\n") {
		var m struct {
			Path   string `json:"path"`
			Status int    `json:"status"`
		}
		if l == "" || json.Unmarshal([]byte(l), &m) != nil || m.Path != path {
			continue
		}
		out[m.Status]++
	}
	return out
}

// waitLogCount waits until path has n access-log lines with status.
func waitLogCount(t *testing.T, g *gateway, path string, status, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := accessLogStatuses(t, g, path)
		if got[status] == n && len(got) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("access log for %s: %v, want %d × %d", path, got, n, status)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// TestH2EarlyResponseCurl: a complete response sent before the request
// body has arrived (413 over max_body_bytes, 401 without credentials, a
// direct_response) must reach curl 7.88.1, which loses it when the stream
// is reset, even with NO_ERROR ("HTTP/2 stream was not closed cleanly",
// exit 92). The gateway drains the rest of the body instead. Every
// exchange is logged exactly once.
func TestH2EarlyResponseCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is not installed; `make test` installs it (make test-tools)")
	}
	up := echoHashUpstream(t)
	p := newPKI(t, "ca")
	cert, key, _ := p.issue(t, "srv", false, "localhost")
	tlsAddr := freePort(t)
	g := startGateway(t, h2ConformanceConfig(up.addr(), tlsAddr, cert, key))
	dir := t.TempDir()
	const runs = 20
	for _, tc := range []struct {
		name, path string
		size       int
		status     int
		tls        bool
		stdin      bool // upload of unknown length (curl -T -)
	}{
		{"413 2KiB", "/limited/a", 2 << 10, 413, false, false},
		{"413 200KiB", "/limited/b", 200 << 10, 413, false, false},
		{"401 2KiB", "/secure/a", 2 << 10, 401, false, false},
		{"401 200KiB", "/secure/b", 200 << 10, 401, false, false},
		{"direct 200KiB", "/direct/a", 200 << 10, 200, false, false},
		{"direct 300KiB of unknown length", "/direct/b", 300 << 10, 200, false, true},
		{"direct empty of unknown length", "/direct/c", 0, 200, false, true},
		{"tls 413 200KiB", "/limited/c", 200 << 10, 413, true, false},
		{"tls 401 2KiB", "/secure/c", 2 << 10, 401, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, fmt.Sprintf("body-%d", tc.size))
			if err := os.WriteFile(file, bytes.Repeat([]byte("b"), tc.size), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"-sS", "-o", "/dev/null", "-w", "%{http_code} %{http_version}", "--data-binary", "@" + file}
			if tc.stdin {
				args = []string{"-sS", "-o", "/dev/null", "-w", "%{http_code} %{http_version}", "-X", "POST", "-T", "-"}
			}
			if tc.tls {
				args = append(args, "--http2", "-k", "https://localhost:"+portOf(tlsAddr)+tc.path, "--resolve", "localhost:"+portOf(tlsAddr)+":127.0.0.1")
			} else {
				args = append(args, "--http2-prior-knowledge", "http://"+g.addr+tc.path)
			}
			want := fmt.Sprintf("%d 2", tc.status)
			for i := range runs {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				cmd := exec.CommandContext(ctx, curl, args...)
				if tc.stdin {
					f, err := os.Open(file)
					if err != nil {
						t.Fatal(err)
					}
					cmd.Stdin = f
					defer f.Close()
				}
				out, err := cmd.CombinedOutput()
				cancel()
				if err != nil || string(out) != want {
					t.Fatalf("run %d: curl printed %q (%v), want %q", i, out, err, want)
				}
			}
			waitLogCount(t, g, tc.path, tc.status, runs)
		})
	}
	for _, r := range up.requests() {
		if strings.HasPrefix(r.Path, "/limited") || strings.HasPrefix(r.Path, "/secure") {
			t.Errorf("upstream saw %s %s", r.Method, r.Path)
		}
	}
}

// TestH2EarlyResponseGoClient: x/net's Transport gets the 413 for an
// over-limit upload and uses the same connection for the next request.
func TestH2EarlyResponseGoClient(t *testing.T) {
	up := echoHashUpstream(t)
	g := startGateway(t, h2ConformanceConfig(up.addr(), "", "", ""))
	var dials atomic.Int32
	cl := h2cLaxClient(&dials)
	for i, size := range []int{2 << 10, 200 << 10, 3 << 20} {
		resp, err := cl.Post("http://"+g.addr+"/limited", "application/octet-stream", bytes.NewReader(bytes.Repeat([]byte("x"), size)))
		if err != nil {
			t.Fatalf("%d-byte upload: %v", size, err)
		}
		checkH2Envelope(t, resp, 413, "payload_too_large")
		// A body of unknown length, still being written when the answer comes.
		pr, pw := io.Pipe()
		go func() {
			pw.Write(bytes.Repeat([]byte("y"), 4<<10))
			time.Sleep(50 * time.Millisecond)
			pw.Write(bytes.Repeat([]byte("y"), 4<<10))
			pw.Close()
		}()
		resp, err = cl.Post("http://"+g.addr+"/limited/stream", "application/octet-stream", pr)
		if err != nil {
			t.Fatalf("streamed upload %d: %v", i, err)
		}
		checkH2Envelope(t, resp, 413, "payload_too_large")
		resp, err = cl.Get("http://" + g.addr + "/next")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "GET /next") {
			t.Fatalf("next request: %d %q", resp.StatusCode, b)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
	waitLogCount(t, g, "/limited", 413, 3)
	waitLogCount(t, g, "/limited/stream", 413, 3)
}

// h2Frames is a bare HTTP/2 client connection for frames net/http never sends.
type h2Frames struct {
	t   *testing.T
	c   net.Conn
	fr  *http2.Framer
	hb  bytes.Buffer
	enc *hpack.Encoder
}

func dialH2Frames(t *testing.T, addr string) *h2Frames {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, http2.ClientPreface)
	r := &h2Frames{t: t, c: c, fr: http2.NewFramer(c, c)}
	r.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	r.enc = hpack.NewEncoder(&r.hb)
	r.fr.WriteSettings()
	return r
}

func (r *h2Frames) headers(id uint32, fields ...string) {
	r.t.Helper()
	r.hb.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		r.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: r.hb.Bytes(), EndHeaders: true, EndStream: true}); err != nil {
		r.t.Fatal(err)
	}
}

// response reads until stream id ends and returns its fields and body.
func (r *h2Frames) response(id uint32) (map[string]string, []byte) {
	r.t.Helper()
	hdr := map[string]string{}
	var body []byte
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			r.t.Fatalf("reading stream %d: %v", id, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				r.fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == id {
				for _, hf := range f.Fields {
					hdr[hf.Name] = hf.Value
				}
			}
		case *http2.DataFrame:
			if f.StreamID == id {
				body = append(body, f.Data()...)
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				r.t.Fatalf("stream %d reset: %v", id, f.ErrCode)
			}
		case *http2.GoAwayFrame:
			r.t.Fatalf("GOAWAY %v waiting for stream %d", f.ErrCode, id)
		}
		if f.Header().StreamID == id && f.Header().Flags.Has(http2.FlagDataEndStream) {
			return hdr, body
		}
	}
}

// goAway reads until a GOAWAY and returns its code.
func (r *h2Frames) goAway() http2.ErrCode {
	r.t.Helper()
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			r.t.Fatalf("no GOAWAY: %v", err)
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			return ga.ErrCode
		}
	}
}

// TestH2LowerStreamIDs: RFC 9113 §5.1.1, HEADERS on a lower id never
// opened is PROTOCOL_ERROR; on a stream opened and closed, STREAM_CLOSED
// (§5.1).
func TestH2LowerStreamIDs(t *testing.T) {
	up := echoHashUpstream(t)
	g := startGateway(t, h2ConformanceConfig(up.addr(), "", "", ""))
	get := []string{":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a"}

	r := dialH2Frames(t, g.addr)
	r.headers(5, get...)
	r.response(5)
	r.headers(3, get...)
	if code := r.goAway(); code != http2.ErrCodeProtocol {
		t.Fatalf("never-opened lower id: GOAWAY %v, want PROTOCOL_ERROR", code)
	}

	r = dialH2Frames(t, g.addr)
	r.headers(1, get...)
	r.response(1)
	r.headers(3, get...)
	r.response(3)
	r.headers(1, get...)
	if code := r.goAway(); code != http2.ErrCodeStreamClosed {
		t.Fatalf("closed stream: GOAWAY %v, want STREAM_CLOSED", code)
	}
}

// TestH2NoAuthority: RFC 9113 §8.3.1 with RFC 9110 §7.2, an http request
// with neither :authority nor Host is answered 400 bad_request (SPEC §4
// envelope, X-Request-Id, one access-log line), as HTTP/1.1 without Host;
// with Host alone it is served.
func TestH2NoAuthority(t *testing.T) {
	up := echoHashUpstream(t)
	g := startGateway(t, h2ConformanceConfig(up.addr(), "", "", ""))
	r := dialH2Frames(t, g.addr)
	r.headers(1, ":method", "GET", ":scheme", "http", ":path", "/noauth", "x-request-id", "no-authority-1")
	hdr, body := r.response(1)
	var env errorEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if hdr[":status"] != "400" || env.Error.Code != "bad_request" || hdr["x-request-id"] != "no-authority-1" ||
		env.Error.RequestID != "no-authority-1" || hdr["content-type"] != "application/json" {
		t.Fatalf("got %v %s", hdr, body)
	}
	if l := accessLogLine(t, g, "no-authority-1"); l["status"] != float64(400) || l["error_code"] != "bad_request" || l["proto"] != "HTTP/2.0" {
		t.Fatalf("access log %v", l)
	}

	// Host alone names the authority; the connection lives on.
	r.headers(3, ":method", "GET", ":scheme", "http", ":path", "/withhost", "host", "h.example")
	hdr, body = r.response(3)
	if hdr[":status"] != "200" || !strings.HasPrefix(string(body), "GET /withhost") {
		t.Fatalf("with Host: %v %q", hdr, body)
	}
	if rs := up.requests(); len(rs) != 1 || rs[0].Host != "h.example" {
		t.Fatalf("upstream saw %+v", rs)
	}
}

// TestH2ContentLengthMismatchLogged: RFC 9113 §8.1.1, DATA that breaks the
// request's content-length makes it malformed: the stream is reset with
// PROTOCOL_ERROR, and its access-log line is a 400 bad_request (the client
// made the error), not a 499 client_closed.
func TestH2ContentLengthMismatchLogged(t *testing.T) {
	up := echoHashUpstream(t)
	g := startGateway(t, h2ConformanceConfig(up.addr(), "", "", ""))
	r := dialH2Frames(t, g.addr)
	r.hb.Reset()
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/cl-mismatch"}, {":authority", "a"}, {"content-length", "10"}} {
		r.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: r.hb.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if err := r.fr.WriteData(1, true, bytes.Repeat([]byte("x"), 5000)); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			t.Fatalf("no RST_STREAM: %v", err)
		}
		if rst, ok := f.(*http2.RSTStreamFrame); ok && rst.StreamID == 1 {
			if rst.ErrCode != http2.ErrCodeProtocol {
				t.Fatalf("RST_STREAM %v, want PROTOCOL_ERROR", rst.ErrCode)
			}
			break
		}
	}
	waitLogCount(t, g, "/cl-mismatch", 400, 1)
}

// TestH2ConnectNotImplemented: a well-formed HTTP/2 CONNECT (RFC 9113
// §8.5) gets the same 501 not_implemented as HTTP/1.1's: the gateway does
// not tunnel.
func TestH2ConnectNotImplemented(t *testing.T) {
	up := echoHashUpstream(t)
	g := startGateway(t, h2ConformanceConfig(up.addr(), "", "", ""))
	r := dialH2Frames(t, g.addr)
	r.headers(1, ":method", "CONNECT", ":authority", "example.com:443")
	hdr, body := r.response(1)
	if hdr[":status"] != "501" || !strings.Contains(string(body), `"code":"not_implemented"`) {
		t.Fatalf("CONNECT: %v %s", hdr, body)
	}
	out := g.raw("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 2*time.Second)
	if !strings.HasPrefix(out, "HTTP/1.1 501") {
		t.Fatalf("HTTP/1.1 CONNECT: %.40q", out)
	}
}

// TestH2PseudoHeaderInjection: CR, LF or other bytes in a pseudo-header
// that would inject fields or whole requests into the HTTP/1.1 request
// sent upstream make the request malformed (RFC 9113 §8.2.1): the stream
// is reset and the upstream receives nothing.
func TestH2PseudoHeaderInjection(t *testing.T) {
	var got atomic.Int64
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		got.Add(1)
		io.WriteString(w, "reached")
	})
	g := startGateway(t, h2ConformanceConfig(up.addr(), "", "", ""))
	for i, fields := range [][]string{
		{":method", "GET", ":scheme", "http", ":path", "/h2", ":authority", "a\r\nX-Inj: 1"},
		{":method", "GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET", ":scheme", "http", ":path", "/second", ":authority", "a"},
		{":method", "GET", ":scheme", "http\r\nX-Inj: 1", ":path", "/h2", ":authority", "a"},
		{":method", "GET", ":scheme", "http", ":path", "/h2 HTTP/1.1\r\nX-Inj: 1", ":authority", "a"},
	} {
		r := dialH2Frames(t, g.addr)
		r.headers(1, fields...)
		for {
			f, err := r.fr.ReadFrame()
			if err != nil {
				t.Fatalf("case %d: no RST_STREAM: %v", i, err)
			}
			if rst, ok := f.(*http2.RSTStreamFrame); ok && rst.StreamID == 1 {
				if rst.ErrCode != http2.ErrCodeProtocol {
					t.Errorf("case %d: RST_STREAM %v, want PROTOCOL_ERROR", i, rst.ErrCode)
				}
				break
			}
			if h, ok := f.(*http2.MetaHeadersFrame); ok && h.StreamID == 1 {
				t.Fatalf("case %d: answered %v instead of a reset", i, h.Fields)
			}
		}
	}
	if n := got.Load(); n != 0 {
		t.Fatalf("the upstream received %d requests", n)
	}
}

// TestBrokenPrefaceOnSharedPort: on a plaintext listener that speaks both
// HTTP/1.1 and h2c, bytes that begin the HTTP/2 preface's request line
// and then leave the preface are an HTTP/2 connection error (RFC 9113
// §3.4): the connection closes without an HTTP/1.1 answer (it got a 505).
// Anything else malformed is still an HTTP/1.1 request and gets its 400.
func TestBrokenPrefaceOnSharedPort(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { io.WriteString(w, "ok") })
	g := startGateway(t, h2cConfig(up.addr()))
	start := time.Now()
	if out := g.raw("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", 3*time.Second); out != "" {
		t.Errorf("broken preface answered %q, want a close", out)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closed after %v, want at once", d)
	}
	if out := g.raw("INVALID CONNECTION PREFACE\r\n\r\n", 3*time.Second); !strings.HasPrefix(out, "HTTP/1.1 400 ") {
		t.Errorf("malformed request line answered %q, want a 400", out)
	}
	if out := g.raw("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 3*time.Second); !strings.HasPrefix(out, "HTTP/1.1 200 ") || !strings.HasSuffix(out, "ok") {
		t.Errorf("HTTP/1.1 on the shared port: %q", out)
	}
	// A preface that stops after its first line: at header_timeout, a
	// close, not an HTTP/1.1 408.
	g.reload(strings.Replace(h2cConfig(up.addr()), "limits: {", "limits: {header_timeout: 300ms, ", 1))
	start = time.Now()
	if out := g.raw("PRI * HTTP/2.0\r\n\r\n", 3*time.Second); out != "" {
		t.Errorf("stalled preface answered %q, want a close", out)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stalled preface closed after %v, want at header_timeout", d)
	}
	if out := g.raw("PRI * HT", 3*time.Second); out != "" {
		t.Errorf("preface stalled in its first line answered %q, want a close", out)
	}
}

// An early answer (a direct response to a POST whose body is still
// coming) that waits for window (the client allows 1 byte per stream)
// while the client ends its body: one whole answer, sent as the client
// opens its window, and the connection serves the next stream. (The
// fuzzer found the test origin answering twice in this order of events.)
func TestH2EarlyAnswerBehindTinyWindow(t *testing.T) {
	g := startGateway(t, `version: 1
listeners: [{name: web, address: "{{LISTEN}}", protocols: [http1, h2c]}]
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
routes:
  - {name: direct, direct_response: {status: 200, body: "a direct answer"}}
`)
	r := dialH2Frames(t, g.addr)
	r.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
	r.hb.Reset()
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/upload"}, {":authority", "x"}, {"content-length", "5"}} {
		r.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: r.hb.Bytes(), EndHeaders: true})
	time.Sleep(100 * time.Millisecond) // the answer is queued, 1 byte sent
	r.fr.WriteData(1, true, []byte("hello"))
	r.fr.WriteWindowUpdate(1, 1<<20)
	hdr, body := r.response(1)
	if hdr[":status"] != "200" || string(body) != "a direct answer" {
		t.Fatalf("early answer behind a 1-byte window: %v %q", hdr, body)
	}
	r.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535})
	r.headers(3, ":method", "GET", ":scheme", "http", ":path", "/next", ":authority", "x")
	if hdr, body := r.response(3); hdr[":status"] != "200" || string(body) != "a direct answer" {
		t.Fatalf("next stream: %v %q", hdr, body)
	}
}

// A plaintext HTTP/2-only listener (protocols: [h2c]) answers an HTTP/1.x
// request line with a 505 saying why, as the TLS h2-only listener does
// (it closed in silence, unlogged); garbage and a broken preface are still
// closed without an answer, and h2c with prior knowledge is served.
func TestH1OnH2COnlyListener(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { io.WriteString(w, "ok") })
	cfg := strings.Replace(h2cConfig(up.addr()), "protocols: [http1, h2c]", "protocols: [h2c]", 1)
	g := startGateway(t, cfg)
	for _, req := range []string{"GET /x HTTP/1.1\r\nHost: x\r\n\r\n", "\r\nGET /x HTTP/1.0\r\n\r\n"} {
		out := g.raw(req, 3*time.Second)
		if !strings.HasPrefix(out, "HTTP/1.1 505 ") || !strings.Contains(out, `"code":"http_version_not_supported"`) || !strings.Contains(out, "prior knowledge") {
			t.Errorf("%q on an h2c-only listener: %q", req, out)
		}
	}
	for _, junk := range []string{"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", "\x16\x03\x01\x00\x05hello", "hello there\r\n\r\n"} {
		if out := g.raw(junk, 3*time.Second); out != "" {
			t.Errorf("%q answered %q, want a close", junk, out)
		}
	}
	r := dialH2Frames(t, g.addr)
	r.headers(1, ":method", "GET", ":scheme", "http", ":authority", "x", ":path", "/h2")
	if hdr, body := r.response(1); hdr[":status"] != "200" || string(body) != "ok" {
		t.Errorf("h2c on the h2c-only listener: %v %q", hdr, body)
	}
}
