//go:build integration

package test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func h2cConfig(up string) string {
	return `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
    protocols: [http1, h2c]
    limits: {max_body_bytes: 64MiB, h2_max_concurrent_streams: 128}
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
drain_timeout: 5s
upstreams:
  - name: app
    targets: [{address: "` + up + `"}]
routes:
  - name: all
    match: {path_prefix: /}
    upstream: app
    timeout: 30s
`
}

// h2cClient speaks HTTP/2 with prior knowledge over plain TCP.
func h2cClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: h2cTransport()}
}

// h2cTransport speaks h2c with prior knowledge: "TLS" dials are plain.
func h2cTransport() *http2.Transport {
	return &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
}

func echoHashUpstream(t *testing.T) *upstream {
	return newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch {
		case r.URL.Path == "/big":
			w.Write(bytes.Repeat([]byte("portico-"), (8<<20)/8))
		case strings.HasPrefix(r.URL.Path, "/slow"):
			time.Sleep(700 * time.Millisecond)
			io.WriteString(w, "slow done")
		default:
			sum := sha256.Sum256(body)
			fmt.Fprintf(w, "%s %s %x", r.Method, r.URL.Path, sum)
		}
	})
}

func TestH2cBasicsAndConcurrency(t *testing.T) {
	up := echoHashUpstream(t)
	g := startGateway(t, h2cConfig(up.addr()))
	cl := h2cClient()
	resp, err := cl.Get("http://" + g.addr + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	empty := sha256.Sum256(nil)
	if resp.ProtoMajor != 2 || string(b) != "GET /hello "+hex.EncodeToString(empty[:]) || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("GET over h2c: %s %q %v", resp.Proto, b, resp.Header)
	}
	last := up.requests()[0]
	if last.Header.Get("X-Forwarded-For") != "127.0.0.1" || last.Header.Get("X-Forwarded-Proto") != "http" {
		t.Errorf("forwarding headers upstream: %v", last.Header)
	}
	// 100 concurrent streams on one connection.
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body := fmt.Sprintf("stream %d", i)
			resp, err := cl.Post(fmt.Sprintf("http://%s/s%d", g.addr, i), "text/plain", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			sum := sha256.Sum256([]byte(body))
			if want := fmt.Sprintf("POST /s%d %x", i, sum); string(b) != want {
				errs <- fmt.Errorf("stream %d: %q want %q", i, b, want)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestH2BigBodiesBothWays(t *testing.T) {
	up := echoHashUpstream(t)
	g := startGateway(t, h2cConfig(up.addr()))
	cl := h2cClient()
	payload := bytes.Repeat([]byte("0123456789abcdef"), (8<<20)/16)
	sum := sha256.Sum256(payload)
	// Unknown length: the request body is streamed as DATA frames.
	resp, err := cl.Post("http://"+g.addr+"/upload", "application/octet-stream", io.MultiReader(bytes.NewReader(payload[:1]), bytes.NewReader(payload[1:])))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "POST /upload "+hex.EncodeToString(sum[:]) {
		t.Fatalf("8 MiB upload: %q", b)
	}
	resp, err = cl.Get("http://" + g.addr + "/big")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(b) != 8<<20 || !bytes.Equal(b[:8], []byte("portico-")) {
		t.Fatalf("8 MiB download: %d bytes", len(b))
	}
}

func TestH2StreamResetAndDrain(t *testing.T) {
	up := echoHashUpstream(t)
	g := startGateway(t, h2cConfig(up.addr()))
	cl := h2cClient()
	// A stream reset mid-body does not disturb the connection's other streams.
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+g.addr+"/abandoned", pr)
	go func() {
		pw.Write(bytes.Repeat([]byte("x"), 64<<10))
		time.Sleep(100 * time.Millisecond)
		cancel()
		pw.CloseWithError(context.Canceled)
	}()
	if _, err := cl.Do(req); err == nil {
		t.Log("abandoned request completed before the reset")
	}
	resp, err := cl.Get("http://" + g.addr + "/after-reset")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after reset: %d", resp.StatusCode)
	}
	// GOAWAY on drain: an in-flight stream completes.
	done := make(chan string, 1)
	go func() {
		resp, err := cl.Get("http://" + g.addr + "/slow")
		if err != nil {
			done <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	up.waitPath("/slow", 1) // in flight
	g.signal(syscall.SIGTERM)
	if got := <-done; got != "slow done" {
		t.Fatalf("in-flight stream during drain: %q", got)
	}
}

// TestH2RapidResetBounded: a client that opens and resets streams in a loop
// (CVE-2023-44487) gets GOAWAY ENHANCE_YOUR_CALM well before 10,000 resets.
func TestH2RapidResetBounded(t *testing.T) {
	up := echoHashUpstream(t)
	g := startGateway(t, h2cConfig(up.addr()))
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.WriteSettings()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	gotGoAway := make(chan http2.ErrCode, 1)
	go func() {
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				close(gotGoAway)
				return
			}
			if ga, ok := f.(*http2.GoAwayFrame); ok {
				gotGoAway <- ga.ErrCode
				return
			}
		}
	}()
	sent := 0
	for id := uint32(1); id < 20000; id += 2 {
		hb.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a"}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		if fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: true}) != nil {
			break
		}
		if fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
			break
		}
		sent++
	}
	select {
	case code, ok := <-gotGoAway:
		if !ok || code != http2.ErrCodeEnhanceYourCalm {
			t.Fatalf("after %d resets: GOAWAY %v (ok=%v), want ENHANCE_YOUR_CALM", sent, code, ok)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no GOAWAY after %d rapid resets", sent)
	}
	// The defence is visible: counted by reason, and logged.
	if _, body := adminGet(t, g, "GET", "/metrics"); !strings.Contains(body, `portico_h2_connection_errors_total{listener="public",reason="rapid_reset"} 1`) {
		t.Errorf("metrics lack the rapid-reset GOAWAY:\n%s", grepLines(body, "portico_h2_"))
	}
	if !g.logged(`"msg":"http2 connection ended with an error"`) {
		t.Errorf("no warning logged for the rapid-reset GOAWAY")
	}
}

// TestH2Spec runs h2spec (a go tool dependency) against the h2c listener
// and the TLS (ALPN h2) listener: every default case must pass.
func TestH2Spec(t *testing.T) {
	up := echoHashUpstream(t)
	p := newPKI(t, "ca")
	cert, key, _ := p.issue(t, "srv", false, "localhost")
	tlsAddr := freePort(t)
	cfg := strings.Replace(h2cConfig(up.addr()), "protocols: [http1, h2c]", "protocols: [h2c]", 1) // h2c-only, like the peers' h2c port
	cfg = strings.Replace(cfg, "admin:", `  - name: tls
    address: "`+tlsAddr+`"
    protocols: [h2]
    tls:
      certificates: [{cert_file: "`+cert+`", key_file: "`+key+`"}]
admin:`, 1)
	g := startGateway(t, cfg)
	total := regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"h2c", []string{"-p", portOf(g.addr)}},
		{"h2-tls", []string{"-p", portOf(tlsAddr), "-t", "-k"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			args := append([]string{"tool", "h2spec", "-h", "127.0.0.1", "-o", "2", "-j", filepath.Join(t.TempDir(), "report.xml")}, tc.args...)
			out, _ := exec.CommandContext(ctx, "go", args...).CombinedOutput()
			m := total.FindStringSubmatch(string(out))
			if m == nil {
				t.Fatalf("h2spec gave no summary:\n%s", tail(string(out), 3000))
			}
			t.Logf("h2spec %s: %s", tc.name, m[0])
			if m[4] != "0" {
				t.Fatalf("h2spec failures:\n%s", tail(string(out), 6000))
			}
		})
	}
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// A drain that ends an HTTP/2 connection while a large answer is still
// queued for a slow reader (which keeps sending WINDOW_UPDATEs, as every
// client does) delivers every byte before the socket closes: the client's
// frames after our GOAWAY must not close it early, nor the close discard
// what the kernel still holds. (Before, the reader got about half.)
func TestH2DrainDeliversQueuedAnswer(t *testing.T) {
	up := echoHashUpstream(t)
	g := startGateway(t, h2cConfig(up.addr()))
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(16 << 10) // a slow reader's small window on the wire
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 16 << 20})
	fr.WriteWindowUpdate(0, 16<<20)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", "/big"}, {":authority", "x"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: true})
	got, ended, signalled := 0, false, false
	start := time.Now()
	for !ended {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", got, 8<<20, err)
		}
		d, ok := f.(*http2.DataFrame)
		if !ok || d.StreamID != 1 {
			continue
		}
		got += len(d.Data())
		ended = d.StreamEnded()
		if n := uint32(len(d.Data())); n > 0 {
			fr.WriteWindowUpdate(0, n) // credit, as a client does while the GOAWAY is out
			fr.WriteWindowUpdate(1, n)
		}
		if !signalled && time.Since(start) > 300*time.Millisecond {
			signalled = true
			g.signal(syscall.SIGTERM) // drain: GOAWAY, then close once the stream is done
		}
		time.Sleep(time.Duration(len(d.Data())) * time.Microsecond / 4) // about 4 MB/s
	}
	if got != 8<<20 {
		t.Fatalf("got %d of %d bytes", got, 8<<20)
	}
	select {
	case <-g.done:
		g.done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway did not exit after the drain")
	}
}

// At drain_timeout a stream still waiting for its upstream gets a 503 it
// can act on; when another stream of its connection had a large answer
// queued, the 503 came out behind it and the close cut it after its
// HEADERS (no body, no END_STREAM). It must arrive whole.
func TestH2DrainTimeout503ArrivesWhole(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path == "/big" {
			w.Write(bytes.Repeat([]byte("portico-"), (8<<20)/8))
			return
		}
		time.Sleep(4 * time.Second) // past the drain timeout
		io.WriteString(w, "late")
	})
	// drain_timeout 2s: the 503s are queued at 2 s, while the big answer
	// is still queued, and get up to 0.5 s more to be written.
	g := startGateway(t, strings.Replace(h2cConfig(up.addr()), "drain_timeout: 5s", "drain_timeout: 2s", 1))
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 16 << 20})
	// The connection window stays at its 64 KiB default, credited back
	// as frames are read: the big answer keeps it used up, so the 503
	// waits for window, not only for the socket.
	for i, path := range []string{"/wait", "/big"} {
		var hb bytes.Buffer
		enc := hpack.NewEncoder(&hb)
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", path}, {":authority", "x"}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: true})
	}
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	status, body, ended := "", "", false
	signalled := false
	var signalledAt time.Time
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			break // the connection's end
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.StreamID == 1 {
				status = f.PseudoValue("status")
				ended = f.StreamEnded()
			}
		case *http2.DataFrame:
			if f.StreamID == 1 {
				body += string(f.Data())
				ended = ended || f.StreamEnded()
			}
			if n := uint32(len(f.Data())); n > 0 {
				fr.WriteWindowUpdate(0, n)
			}
			if f.StreamID == 3 && !signalled {
				signalled, signalledAt = true, time.Now()
				g.signal(syscall.SIGTERM)
			}
			// Slow until the drain times out (the big answer queues up
			// behind the reader), then as fast as a client reads.
			if signalled && time.Since(signalledAt) < 1700*time.Millisecond {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	if status != "503" || !ended || !strings.Contains(body, `"code":"unavailable"`) {
		t.Fatalf("stream 1 at drain timeout: status %q, ended %v, body %q", status, ended, body)
	}
}

// TestH2AnswerAtFieldCap: an upstream answer with as many fields as the
// gateway takes (256) grows past that with the fields the gateway adds
// (X-Request-Id, Date); HTTP/1.1 clients got it whole, and an HTTP/2
// stream got RST_STREAM INTERNAL_ERROR while the log said 200.
func TestH2AnswerAtFieldCap(t *testing.T) {
	up := rawUpstream(t, func(c net.Conn) {
		eachRequest(c, func(_ int, _ *http.Request) bool {
			var b bytes.Buffer
			b.WriteString("HTTP/1.1 200 OK\r\n")
			for i := range 255 {
				fmt.Fprintf(&b, "X-F%d: v%d\r\n", i, i)
			}
			b.WriteString("Content-Length: 2\r\n\r\nok")
			_, err := c.Write(b.Bytes())
			return err == nil
		})
	})
	g := startGateway(t, h2cConfig(up))
	check := func(proto string, resp *http.Response, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ok" || resp.Header.Get("X-F0") != "v0" || resp.Header.Get("X-F254") != "v254" ||
			resp.Header.Get("X-Request-Id") == "" || len(resp.Header) < 257 {
			t.Fatalf("%s: %d %q with %d fields", proto, resp.StatusCode, body, len(resp.Header))
		}
	}
	resp, err := client.Get("http://" + g.addr + "/many")
	check("HTTP/1.1", resp, err)
	resp, err = h2cClient().Get("http://" + g.addr + "/many")
	check("h2c", resp, err)
}

// TestH2NotModifiedWithLength: a 304 whose upstream names the length of
// the representation reaches an HTTP/2 client without Content-Length: with
// it, Go's HTTP/2 client waited for that many bytes and failed the request
// with "unexpected EOF". HTTP/1.1 clients keep it, as sent.
func TestH2NotModifiedWithLength(t *testing.T) {
	up := rawUpstream(t, func(c net.Conn) {
		eachRequest(c, func(_ int, _ *http.Request) bool {
			_, err := io.WriteString(c, "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 10\r\n\r\n")
			return err == nil
		})
	})
	g := startGateway(t, h2cConfig(up))
	resp, err := h2cClient().Get("http://" + g.addr + "/cached")
	if err != nil {
		t.Fatalf("h2c: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 304 || len(body) != 0 || resp.Header.Get("ETag") != `"v1"` || resp.Header.Get("Content-Length") != "" {
		t.Fatalf("h2c: %d %q %v, fields %v", resp.StatusCode, body, err, resp.Header)
	}
	c := g.dial(5 * time.Second)
	defer c.Close()
	io.WriteString(c, "GET /cached HTTP/1.1\r\nHost: x\r\n\r\n")
	var head []byte
	buf := make([]byte, 512)
	for !bytes.Contains(head, []byte("\r\n\r\n")) {
		n, err := c.Read(buf)
		head = append(head, buf[:n]...)
		if err != nil {
			break
		}
	}
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 304")) || !bytes.Contains(head, []byte("Content-Length: 10\r\n")) {
		t.Fatalf("HTTP/1.1: %q", head)
	}
}
