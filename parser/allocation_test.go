//go:build !race

package parser

import "testing"

// TestAllocs pins the zero-allocation promise of the hot path (after the
// first request has grown Request.Fields).
func TestAllocs(t *testing.T) {
	f := func(name string, fn func()) {
		t.Helper()
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocs/op, want 0", name, n)
		}
	}
	req := []byte(browserHead)
	var r Request
	f("ParseRequest", func() {
		if _, err := ParseRequest(req, &r, 0); err != nil {
			t.Fatal(err)
		}
	})
	bad := [][]byte{
		[]byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
		[]byte("GET / HTTP/1.1\nHost: a\n\n"),
		[]byte("GET /" + string(make([]byte, 100)) + " HTTP/1.1\r\n"),
	}
	f("ParseRequest rejections", func() {
		for _, b := range bad {
			if _, err := ParseRequest(b, &r, 64); err == nil {
				t.Fatal("accepted")
			}
		}
		if _, err := ParseRequest(req[:50], &r, 0); err != ErrNeedMore {
			t.Fatal(err)
		}
	})
	resp := []byte(typicalResponse)
	var rs Response
	f("ParseResponse", func() {
		if _, err := ParseResponse(resp, &rs, 0); err != nil {
			t.Fatal(err)
		}
		_ = ResponseBodyKind(false, &rs)
	})
	var d ChunkedDecoder
	f("ChunkedDecoder", func() {
		d.Reset()
		in := chunkedBody
		for len(in) > 0 {
			c, _, done, err := d.Decode(in)
			if err != nil {
				t.Fatal(err)
			}
			in = in[c:]
			if done {
				break
			}
		}
	})
	dst := make([]byte, 0, 256)
	path := []byte("/static/%7Euser/a/./b/../c%2dd/caf%c3%a9.png")
	f("NormalizePath", func() {
		if _, err := NormalizePath(dst, path); err != nil {
			t.Fatal(err)
		}
		if _, err := NormalizePath(dst, []byte("/a%2fb")); err == nil {
			t.Fatal("accepted")
		}
	})
	out := make([]byte, 0, 256)
	if _, err := ParseRequest(req, &r, 0); err != nil {
		t.Fatal(err)
	}
	f("helpers", func() {
		_ = IsHopByHopIn(r.Fields, []byte("X-Secret"))
		_ = EqualFoldString(r.Fields[0].Name, "host")
		_ = ValidRequestID([]byte("0f8fad5b-d9cb-469f-a165-70867728950e"))
		_, _ = Lookup(r.Fields, "Cookie")
		_ = HeadEnd(req, 0)
		o := AppendStatusLine(out[:0], 200, "")
		o = AppendChunkHeader(o, 4096)
		_ = AppendLastChunk(o)
	})
	_, perr := ParseRequest(bad[0], &r, 0)
	f("UpstreamError", func() {
		if UpstreamError(perr).Status != 502 {
			t.Fatal("UpstreamError")
		}
	})
}
