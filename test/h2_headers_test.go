//go:build integration

package test

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

func h2HeadersConfig(up string) string {
	return `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
    protocols: [http1, h2c]
    limits: {max_header_bytes: 4KiB}
admin: {address: "{{ADMIN}}"}
access_log: {path: stdout}
upstreams:
  - name: app
    targets: [{address: "` + up + `"}]
routes:
  - name: all
    match: {path_prefix: /}
    upstream: app
`
}

// hideHeaderListLimit hides SETTINGS_MAX_HEADER_LIST_SIZE from the client
// (rewritten to an unknown setting id, which RFC 9113 §6.5.2 says to
// ignore): x/net's Transport enforces the advertised limit itself and would
// never send an over-size request, while curl (nghttp2) and browsers send
// it, and the gateway must answer them.
type hideHeaderListLimit struct {
	net.Conn
	pending []byte // bytes to hand out before reading more
	left    int    // payload bytes of the current frame still to pass through
}

func (c *hideHeaderListLimit) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		if c.left > 0 {
			n, err := c.Conn.Read(p[:min(len(p), c.left)])
			c.left -= n
			return n, err
		}
		hdr := make([]byte, 9)
		if _, err := io.ReadFull(c.Conn, hdr); err != nil {
			return 0, err
		}
		length := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		if http2.FrameType(hdr[3]) != http2.FrameSettings || http2.Flags(hdr[4]).Has(http2.FlagSettingsAck) {
			c.pending, c.left = hdr, length
		} else {
			payload := make([]byte, length)
			if _, err := io.ReadFull(c.Conn, payload); err != nil {
				return 0, err
			}
			for i := 0; i+6 <= len(payload); i += 6 {
				if http2.SettingID(binary.BigEndian.Uint16(payload[i:])) == http2.SettingMaxHeaderListSize {
					binary.BigEndian.PutUint16(payload[i:], 0xf0f0)
				}
			}
			c.pending = append(hdr, payload...)
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// h2cLaxClient is h2cClient over hideHeaderListLimit; dials counts the
// connections it opened.
func h2cLaxClient(dials *atomic.Int32) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			dials.Add(1)
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &hideHeaderListLimit{Conn: c}, nil
		},
	}}
}

type errorEnvelope struct {
	Error struct {
		Status    int    `json:"status"`
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

// checkH2Envelope asserts SPEC §3/§4: status, JSON envelope with code, and
// the X-Request-Id header equal to the envelope's request_id.
func checkH2Envelope(t *testing.T, resp *http.Response, status int, code string) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the %d body: %v", resp.StatusCode, err)
	}
	var env errorEnvelope
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("%d body is not the JSON envelope: %q", resp.StatusCode, b)
	}
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != status || resp.ProtoMajor != 2 || env.Error.Status != status || env.Error.Code != code ||
		env.Error.Message == "" || id == "" || env.Error.RequestID != id ||
		resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Date") == "" {
		t.Fatalf("got %s %d %v %q, want %d %s", resp.Proto, resp.StatusCode, resp.Header, b, status, code)
	}
	return id
}

// TestH2HeadersTooLarge: over-size request header blocks on HTTP/2 get the
// same answer as on HTTP/1.1 (SPEC §2 max_header_bytes, §4 envelope, §6
// access log, §5 metric), and the connection survives unless the block was
// past the hard cap (2 × max_header_bytes encoded).
func TestH2HeadersTooLarge(t *testing.T) {
	up := echoHashUpstream(t)
	g := startGateway(t, h2HeadersConfig(up.addr()))
	var dials atomic.Int32
	cl := h2cLaxClient(&dials)
	get := func(path string, hdr map[string]string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", "http://"+g.addr+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return cl.Do(req)
	}

	// A 5000-byte value: 431, and the same connection serves the next request.
	resp, err := get("/x?secret=1", map[string]string{"X-Big": strings.Repeat("a", 5000)})
	if err != nil {
		t.Fatal(err)
	}
	id := checkH2Envelope(t, resp, 431, "header_too_large")
	resp, err = get("/ok", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after the 431: %d", resp.StatusCode)
	}
	l := accessLogLine(t, g, id)
	want := map[string]any{"status": float64(431), "error_code": "header_too_large", "proto": "HTTP/2.0",
		"method": "GET", "path": "/x", "route": ""}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("access log %s = %#v, want %#v (%v)", k, l[k], v, l)
		}
	}

	// A 5000-byte path: the request line alone is over, 414 as on HTTP/1.1.
	resp, err = get("/"+strings.Repeat("p", 5000), nil)
	if err != nil {
		t.Fatal(err)
	}
	id = checkH2Envelope(t, resp, 414, "uri_too_long")
	if l := accessLogLine(t, g, id); l["status"] != float64(414) {
		t.Errorf("414 line: %v", l)
	}
	resp, err = get("/ok2", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || dials.Load() != 1 {
		t.Fatalf("after the 414: %d, %d connections", resp.StatusCode, dials.Load())
	}

	// 20 KiB: past the hard cap, answered 431 before the connection ends.
	var dials2 atomic.Int32
	cl = h2cLaxClient(&dials2)
	resp, err = get("/y", map[string]string{"X-Huge": string(randomValue(20 << 10))})
	if err != nil {
		t.Fatal(err)
	}
	id = checkH2Envelope(t, resp, 431, "header_too_large")
	if l := accessLogLine(t, g, id); l["status"] != float64(431) || l["proto"] != "HTTP/2.0" {
		t.Errorf("hard-cap 431 line: %v", l)
	}

	// SPEC §5: counted on the no-route series.
	mresp, err := http.Get("http://" + g.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(mb), `portico_http_requests_total{listener="public",route="",code="431"} 2`) ||
		!strings.Contains(string(mb), `portico_http_requests_total{listener="public",route="",code="414"} 1`) {
		t.Errorf("metrics:\n%s", grepLines(string(mb), "portico_http_requests_total"))
	}
	if n := len(up.requests()); n != 2 {
		t.Errorf("upstream saw %d requests, want the 2 small ones", n)
	}
}

// randomValue is n visible-ASCII bytes that HPACK's Huffman code shortens
// little, so the encoded block spans HEADERS and CONTINUATION frames.
func randomValue(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = '!' + byte(x%94) // visible ASCII
	}
	return b
}
