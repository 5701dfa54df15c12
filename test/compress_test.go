//go:build integration

package test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/net/http2"
)

// jsonBody is a compressible payload of about 20 KiB.
var jsonBody = func() []byte {
	var b bytes.Buffer
	b.WriteString("[")
	for i := 0; i < 300; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"order %d","status":"shipped","items":[1,2,3]}`, i, i)
	}
	b.WriteString("]")
	return b.Bytes()
}()

// compressUpstream serves jsonBody in the ways a route can meet it: with a
// length, chunked, close-delimited, already encoded, tiny, binary, and
// trickled in two parts.
func compressUpstream(t *testing.T) *upstream {
	return newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		h := w.Header()
		switch r.URL.Path {
		case "/json":
			h.Set("Content-Type", "application/json")
			h.Set("ETag", `"v1"`)
			h.Set("Accept-Ranges", "bytes")
			h.Set("Content-Length", fmt.Sprint(len(jsonBody)))
			_, _ = w.Write(jsonBody)
		case "/chunked":
			h.Set("Content-Type", "text/plain; charset=utf-8")
			for i := 0; i < len(jsonBody); i += 4096 {
				_, _ = w.Write(jsonBody[i:min(i+4096, len(jsonBody))])
				w.(http.Flusher).Flush()
			}
		case "/vary":
			h.Set("Content-Type", "application/json")
			h.Set("Vary", "Origin")
			_, _ = w.Write(jsonBody)
		case "/encoded":
			h.Set("Content-Type", "application/json")
			h.Set("Content-Encoding", "br")
			_, _ = w.Write(jsonBody)
		case "/tiny":
			h.Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"ok":true}`))
		case "/png":
			h.Set("Content-Type", "image/png")
			_, _ = w.Write(jsonBody)
		case "/notransform":
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "no-transform")
			_, _ = w.Write(jsonBody)
		case "/trickle":
			// The first half, then a pause: the client must be able to
			// decode the first half before the second is sent.
			h.Set("Content-Type", "text/event-stream")
			_, _ = w.Write([]byte("data: first\n\n" + strings.Repeat("x", 300) + "\n"))
			w.(http.Flusher).Flush()
			time.Sleep(800 * time.Millisecond)
			_, _ = w.Write([]byte("data: second\n\n"))
		default:
			http.NotFound(w, r)
		}
	})
}

func compressConfig(up string, listenerExtra string) string {
	return `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
` + listenerExtra + `admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: app
    targets: [{address: "` + up + `"}]
routes:
  - name: plain
    match: {path_prefix: /plain/}
    rewrite: {strip_prefix: /plain}
    upstream: app
  - name: zipped
    match: {path_prefix: /}
    upstream: app
    compress: [zstd, gzip]
`
}

// rawClient never asks for or undoes an encoding itself.
var rawClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true}}

func getEncoded(t *testing.T, cl *http.Client, url, acceptEncoding string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func decode(t *testing.T, enc string, b []byte) []byte {
	t.Helper()
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("gzip body: %v", err)
		}
		return out
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("zstd: %v", err)
		}
		defer zr.Close()
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("zstd body: %v", err)
		}
		return out
	case "":
		return b
	}
	t.Fatalf("unexpected encoding %q", enc)
	return nil
}

// TestCompressNegotiation: the coding follows Accept-Encoding (q-values,
// "*", the route's order for ties), the body decodes to what the upstream
// sent, and the head is rewritten as an encoding proxy must: no
// Content-Length, Vary: Accept-Encoding, a weak ETag, no Accept-Ranges.
func TestCompressNegotiation(t *testing.T) {
	up := compressUpstream(t)
	g := startGateway(t, compressConfig(up.addr(), ""))
	base := "http://" + g.addr
	cases := []struct{ path, accept, want string }{
		{"/json", "gzip", "gzip"},
		{"/json", "zstd", "zstd"},
		{"/json", "gzip, zstd", "zstd"},        // equal q: the route's order
		{"/json", "zstd;q=0.5, gzip", "gzip"},  // the client's preference wins
		{"/json", "gzip;q=0, zstd;q=0", ""},    // both refused
		{"/json", "*", "zstd"},                 // anything: the route's first
		{"/json", "*;q=0.1, zstd;q=0", "gzip"}, // "*" covers gzip, zstd refused
		{"/json", "br", ""},                    // nothing we offer
		{"/json", "", ""},                      // no header: identity
		{"/json", "GZIP ; Q=1.0", "gzip"},      // case-insensitive
		{"/json", "gzip;q=2", ""},              // malformed q refuses
		{"/chunked", "gzip", "gzip"},           // chunked upstream body
		{"/vary", "gzip", "gzip"},              // keeps the upstream's Vary
		{"/encoded", "gzip, zstd", "br"},       // never encoded twice
		{"/tiny", "gzip", ""},                  // too small to gain
		{"/png", "gzip", ""},                   // not a textual type
		{"/notransform", "gzip", ""},           // Cache-Control: no-transform
		{"/plain/json", "gzip", ""},            // a route without compress
	}
	for _, c := range cases {
		resp, b := getEncoded(t, rawClient, base+c.path, c.accept)
		enc := resp.Header.Get("Content-Encoding")
		if resp.StatusCode != 200 || enc != c.want {
			t.Errorf("%s with Accept-Encoding %q: status %d, Content-Encoding %q, want %q", c.path, c.accept, resp.StatusCode, enc, c.want)
			continue
		}
		if enc == "br" {
			continue
		}
		// Compressible and on a compress route: the response depends on
		// Accept-Encoding, encoded or not (RFC 9110 §12.5.5).
		if wantVary := c.path == "/json" || c.path == "/chunked" || c.path == "/vary"; wantVary &&
			!strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Accept-Encoding") {
			t.Errorf("%s with Accept-Encoding %q: Vary %q lacks Accept-Encoding", c.path, c.accept, resp.Header.Values("Vary"))
		}
		body := decode(t, enc, b)
		want := jsonBody
		if c.path == "/tiny" {
			want = []byte(`{"ok":true}`)
		}
		if !bytes.Equal(body, want) {
			t.Errorf("%s (%s): decoded body of %d bytes differs from the upstream's %d", c.path, enc, len(body), len(want))
		}
		if enc == "" {
			continue
		}
		if len(b) >= len(jsonBody)/2 {
			t.Errorf("%s (%s): %d bytes encoded from %d: not compressed", c.path, enc, len(b), len(jsonBody))
		}
		if resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" {
			t.Errorf("%s (%s): Content-Length %q kept on an encoded body", c.path, enc, resp.Header.Get("Content-Length"))
		}
		vary := strings.Join(resp.Header.Values("Vary"), ",")
		if !strings.Contains(vary, "Accept-Encoding") {
			t.Errorf("%s (%s): Vary %q lacks Accept-Encoding", c.path, enc, vary)
		}
		if c.path == "/vary" && !strings.Contains(vary, "Origin") {
			t.Errorf("/vary: the upstream's Vary was lost: %q", vary)
		}
		if c.path == "/json" {
			if et := resp.Header.Get("ETag"); et != `W/"v1"` {
				t.Errorf("/json (%s): ETag %q, want the weak W/\"v1\"", enc, et)
			}
			if ar := resp.Header.Get("Accept-Ranges"); ar != "" {
				t.Errorf("/json (%s): Accept-Ranges %q offered on an encoded body", enc, ar)
			}
		}
	}
	// A route without compress passes the strong validator through.
	resp, _ := getEncoded(t, rawClient, base+"/plain/json", "gzip")
	if et := resp.Header.Get("ETag"); et != `"v1"` {
		t.Errorf("uncompressed route: ETag %q, want \"v1\"", et)
	}
}

// TestCompressHeadAndHTTP10: HEAD is answered with the identity head (no
// body to encode); an HTTP/1.0 client, which has no chunked coding, gets
// the encoded body delimited by the close.
func TestCompressHeadAndHTTP10(t *testing.T) {
	up := compressUpstream(t)
	g := startGateway(t, compressConfig(up.addr(), ""))
	out := g.raw("HEAD /json HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n", 5*time.Second)
	if !strings.HasPrefix(out, "HTTP/1.1 200") || strings.Contains(strings.ToLower(out), "content-encoding") {
		t.Errorf("HEAD: %q", out)
	}
	out = g.raw("GET /json HTTP/1.0\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n", 5*time.Second)
	head, body, ok := strings.Cut(out, "\r\n\r\n")
	if !ok || !strings.HasPrefix(head, "HTTP/1.1 200") {
		t.Fatalf("HTTP/1.0: %q", head)
	}
	lh := strings.ToLower(head)
	if !strings.Contains(lh, "content-encoding: gzip") || strings.Contains(lh, "transfer-encoding") || strings.Contains(lh, "content-length") {
		t.Fatalf("HTTP/1.0 head: %q", head)
	}
	if got := decode(t, "gzip", []byte(body)); !bytes.Equal(got, jsonBody) {
		t.Errorf("HTTP/1.0: decoded %d bytes, want %d", len(got), len(jsonBody))
	}
}

// TestCompressStreams: an encoded response that streams is flushed as it
// arrives; the first event decodes before the upstream sends the second.
func TestCompressStreams(t *testing.T) {
	up := compressUpstream(t)
	g := startGateway(t, compressConfig(up.addr(), ""))
	for _, enc := range []string{"gzip", "zstd"} {
		c, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /trickle HTTP/1.1\r\nHost: x\r\nAccept-Encoding: %s\r\n\r\n", enc)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get("Content-Encoding") != enc {
			t.Fatalf("%s: Content-Encoding %q", enc, resp.Header.Get("Content-Encoding"))
		}
		start := time.Now()
		var zr io.Reader
		if enc == "gzip" {
			zr, err = gzip.NewReader(resp.Body)
		} else {
			var d *zstd.Decoder
			d, err = zstd.NewReader(resp.Body)
			zr = d
			defer d.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		first := make([]byte, len("data: first\n\n"))
		if _, err := io.ReadFull(zr, first); err != nil || string(first) != "data: first\n\n" {
			t.Fatalf("%s: first event %q %v", enc, first, err)
		}
		if d := time.Since(start); d > 600*time.Millisecond {
			t.Errorf("%s: first event took %v: held back until the body ended", enc, d)
		}
		rest, err := io.ReadAll(zr)
		if err != nil || !strings.HasSuffix(string(rest), "data: second\n\n") {
			t.Errorf("%s: rest %q %v", enc, rest, err)
		}
		c.Close()
	}
}

// TestCompressH2: over HTTP/2 the encoded body arrives in DATA frames with
// the same head rules.
func TestCompressH2(t *testing.T) {
	up := compressUpstream(t)
	g := startGateway(t, compressConfig(up.addr(), "    protocols: [http1, h2c]\n"))
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http2.Transport{
		AllowHTTP:          true,
		DisableCompression: true,
		DialTLS: func(network, addr string, _ *tls.Config) (net.Conn, error) {
			return net.Dial(network, addr)
		},
	}}
	for _, enc := range []string{"gzip", "zstd"} {
		for _, path := range []string{"/json", "/chunked"} {
			resp, b := getEncoded(t, cl, "http://"+g.addr+path, enc)
			if resp.ProtoMajor != 2 || resp.Header.Get("Content-Encoding") != enc {
				t.Fatalf("%s %s: %s Content-Encoding %q", enc, path, resp.Proto, resp.Header.Get("Content-Encoding"))
			}
			if got := decode(t, enc, b); !bytes.Equal(got, jsonBody) {
				t.Errorf("%s %s: decoded %d bytes, want %d", enc, path, len(got), len(jsonBody))
			}
		}
	}
}

// TestCompressKeepAlive: many encoded responses on one connection, both
// codings interleaved, each complete and decodable (encoders are reused
// across responses and must start clean).
func TestCompressKeepAlive(t *testing.T) {
	up := compressUpstream(t)
	g := startGateway(t, compressConfig(up.addr(), ""))
	var req strings.Builder
	const n = 40
	encs := []string{"gzip", "zstd", "identity"}
	for i := 0; i < n; i++ {
		path := []string{"/json", "/chunked"}[i%2]
		fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: x\r\nAccept-Encoding: %s\r\n\r\n", path, encs[i%3])
	}
	resps := g.rawResponses(req.String(), n)
	for i, resp := range resps {
		want := encs[i%3]
		if want == "identity" {
			want = ""
		}
		if got := resp.Header.Get("Content-Encoding"); got != want {
			t.Fatalf("response %d: Content-Encoding %q, want %q", i, got, want)
		}
		b, _ := io.ReadAll(resp.Body)
		if got := decode(t, want, b); !bytes.Equal(got, jsonBody) {
			t.Fatalf("response %d (%s): decoded %d bytes, want %d", i, want, len(got), len(jsonBody))
		}
	}
}

// TestCompressObeysRouteHeadersAndValidators: what decides the encoding
// and its Vary is the head the client gets, after the route's
// response_headers: a route that sets Vary keeps Accept-Encoding in it, one
// that sets no-transform is obeyed; a 304 for an encoded answer carries
// the weak ETag and the Vary its 200 had (RFC 9110 §15.4.5); a digest of
// the upstream's bytes never rides on an encoded body.
func TestCompressObeysRouteHeadersAndValidators(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("ETag", `"v1"`)
		switch r.URL.Path {
		case "/nm/x", "/nm/untyped":
			if r.Header.Get("If-None-Match") != "" {
				if r.URL.Path == "/nm/untyped" {
					w.WriteHeader(304) // net/http leaves Content-Type out of a 304
					return
				}
				// A 304 that says its type (written raw: net/http would drop it).
				c, rw, err := w.(http.Hijacker).Hijack()
				if err != nil {
					panic(err)
				}
				rw.WriteString("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Type: application/json\r\n\r\n")
				rw.Flush()
				c.Close()
				return
			}
		case "/digest/x":
			h.Set("Content-Digest", "sha-256=:abc:")
		case "/trailer/x":
			h.Set("Trailer", "Content-Digest, X-Checked")
			_, _ = w.Write(jsonBody)
			h.Set("Content-Digest", "sha-256=:abc:")
			h.Set("X-Checked", "yes")
			return
		}
		h.Set("Vary", "Accept-Encoding, Origin")
		_, _ = w.Write(jsonBody)
	})
	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: app
    targets: [{address: "`+up.addr()+`"}]
routes:
  - name: vary-set
    match: {path_prefix: /vs/}
    upstream: app
    compress: [gzip]
    response_headers: {set: {Vary: Origin}}
  - name: vary-removed
    match: {path_prefix: /vr/}
    upstream: app
    compress: [gzip]
    response_headers: {remove: [Vary]}
  - name: no-transform
    match: {path_prefix: /nt/}
    upstream: app
    compress: [gzip]
    response_headers: {set: {Cache-Control: "public, max-age=60, no-transform"}}
  - name: zipped
    match: {path_prefix: /}
    upstream: app
    compress: [gzip]
`)
	hasAE := func(resp *http.Response) bool {
		for _, v := range resp.Header.Values("Vary") {
			for _, tok := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(tok), "Accept-Encoding") {
					return true
				}
			}
		}
		return false
	}
	for _, p := range []string{"/vs/x", "/vr/x"} {
		resp, body := getEncoded(t, rawClient, "http://"+g.addr+p, "gzip")
		if resp.Header.Get("Content-Encoding") != "gzip" || !hasAE(resp) {
			t.Errorf("%s: Content-Encoding %q, Vary %q: an encoded answer must vary on Accept-Encoding", p, resp.Header.Get("Content-Encoding"), resp.Header.Values("Vary"))
		} else if got := decode(t, "gzip", body); !bytes.Equal(got, jsonBody) {
			t.Errorf("%s: decoded %d bytes", p, len(got))
		}
	}
	resp, body := getEncoded(t, rawClient, "http://"+g.addr+"/nt/x", "gzip")
	if resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, jsonBody) {
		t.Errorf("route's no-transform: Content-Encoding %q, %d bytes", resp.Header.Get("Content-Encoding"), len(body))
	}

	// The 200 and the 304 that revalidates it carry the same validator and Vary.
	resp, _ = getEncoded(t, rawClient, "http://"+g.addr+"/nm/x", "gzip")
	if resp.Header.Get("ETag") != `W/"v1"` || !hasAE(resp) {
		t.Fatalf("encoded 200: ETag %q, Vary %q", resp.Header.Get("ETag"), resp.Header.Values("Vary"))
	}
	req, _ := http.NewRequest("GET", "http://"+g.addr+"/nm/x", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("If-None-Match", `W/"v1"`)
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 304 || resp.Header.Get("ETag") != `W/"v1"` || !hasAE(resp) {
		t.Errorf("304: %d, ETag %q, Vary %q; want the encoded 200's W/\"v1\" and Vary: Accept-Encoding", resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Values("Vary"))
	}
	// A 304 that does not say its type may stand for a 200 that was never
	// encoded (an image): it passes as it is.
	req, _ = http.NewRequest("GET", "http://"+g.addr+"/nm/untyped", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("If-None-Match", `"v1"`)
	if resp, err = rawClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 304 || resp.Header.Get("ETag") != `"v1"` || hasAE(resp) {
		t.Errorf("untyped 304: %d, ETag %q, Vary %q; want it as the upstream sent it", resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Values("Vary"))
	}

	// A digest in the head: the body passes as it is; in a trailer of an
	// encoded body: dropped, other trailers kept.
	resp, body = getEncoded(t, rawClient, "http://"+g.addr+"/digest/x", "gzip")
	if resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Content-Digest") == "" || !bytes.Equal(body, jsonBody) {
		t.Errorf("digest in the head: Content-Encoding %q, Content-Digest %q, %d bytes", resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Digest"), len(body))
	}
	resp, body = getEncoded(t, rawClient, "http://"+g.addr+"/trailer/x", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Trailer.Get("Content-Digest") != "" || resp.Trailer.Get("X-Checked") != "yes" {
		t.Errorf("digest trailer on an encoded body: Content-Encoding %q, trailers %v", resp.Header.Get("Content-Encoding"), resp.Trailer)
	} else if got := decode(t, "gzip", body); !bytes.Equal(got, jsonBody) {
		t.Errorf("trailer route: decoded %d bytes", len(got))
	}
}
