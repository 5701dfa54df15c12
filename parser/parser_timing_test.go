package parser

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
)

func BenchmarkParseRequest(b *testing.B) {
	buf := []byte(browserHead)
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := ParseRequest(buf, &r, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNetHTTPReadRequest is the baseline: net/http parsing the same
// bytes, with the bufio.Reader reused as a server would.
func BenchmarkNetHTTPReadRequest(b *testing.B) {
	buf := []byte(browserHead)
	rd := bytes.NewReader(buf)
	br := bufio.NewReader(rd)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		rd.Reset(buf)
		br.Reset(rd)
		if _, err := http.ReadRequest(br); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRequestReject(b *testing.B) {
	buf := []byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
	var r Request
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(buf, &r, 0); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkParseResponse(b *testing.B) {
	buf := []byte(typicalResponse)
	var r Response
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := ParseResponse(buf, &r, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNetHTTPReadResponse(b *testing.B) {
	buf := []byte(typicalResponse)
	rd := bytes.NewReader(buf)
	br := bufio.NewReader(rd)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		rd.Reset(buf)
		br.Reset(rd)
		if _, err := http.ReadResponse(br, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// chunkedBody is 16 KiB of data in 16 chunks, with a trailer.
var chunkedBody = func() []byte {
	var b []byte
	for i := 0; i < 16; i++ {
		b = AppendChunk(b, bytes.Repeat([]byte{'a' + byte(i)}, 1024))
	}
	b = append(b, "0\r\nX-Sum: 1\r\n\r\n"...)
	return b
}()

func BenchmarkChunkedDecoder(b *testing.B) {
	var d ChunkedDecoder
	b.ReportAllocs()
	b.SetBytes(int64(len(chunkedBody)))
	for b.Loop() {
		d.Reset()
		in := chunkedBody
		for len(in) > 0 {
			c, _, done, err := d.Decode(in)
			if err != nil {
				b.Fatal(err)
			}
			in = in[c:]
			if done {
				break
			}
		}
	}
}

func BenchmarkNormalizePath(b *testing.B) {
	for _, p := range []string{"/v1/orders/12345", "/static/%7Euser/a/./b/../c%2dd/caf%c3%a9.png"} {
		b.Run(strings.ReplaceAll(p, "/", "_"), func(b *testing.B) {
			in := []byte(p)
			dst := make([]byte, 0, 256)
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := NormalizePath(dst, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkHopByHop(b *testing.B) {
	var r Request
	if _, err := ParseRequest([]byte(browserHead), &r, 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range r.Fields {
			_ = IsHopByHopIn(r.Fields, r.Fields[i].Name)
		}
	}
}
