package parser

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
	"unsafe"
)

// Seeds shared by the fuzz targets; testdata/fuzz/<Name>/ holds more.
var requestSeeds = []string{
	browserHead,
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"\r\nGET / HTTP/1.0\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
	"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello",
	"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
	"GET / HTTP/1.1\nHost: a\n\n",
	"GET /a\x00 HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n",
	"GET http://h.example:8080/a/../b?q HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
	"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
}

var responseSeeds = []string{
	typicalResponse,
	"HTTP/1.1 204 No Content\r\n\r\n",
	"HTTP/1.0 200 OK\r\n\r\nbody",
	"HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	"HTTP/1.1 999 X\r\n\r\n",
}

var chunkedSeeds = []string{
	"0\r\n\r\n",
	"5\r\nhello\r\n0\r\n\r\n",
	"5;a=b\r\nhello\r\n6 ;c\r\n world\r\n0\r\nX: y\r\n\r\nNEXT",
	"A\r\n0123456789\r\n0\r\n\r\n",
	"ffffffffffffffff\r\n",
	"4000000000000000\r\n",
	"5\nhello\n0\n\n",
	"5\r\nhelloX\r\n",
	"0\r\nX: a\r\n b\r\n\r\n",
}

var pathSeeds = []string{
	"/", "//", "/a/b/../c/./d", "/a/%2e%2E/b", "/%7euser/%41", "/a%2fb", "/a%5C", "/a%00",
	"/a\\b", "/..", "//..", "/a|b%c3%a9", "/a%zz", "/a%4", "/caf\xc3\xa9", "/.%2e/x",
}

// within reports whether s lies inside buf (or is empty, or is the shared
// slash).
func within(buf, s []byte) bool {
	if len(s) == 0 || unsafe.SliceData(s) == unsafe.SliceData(slash) {
		return true
	}
	b0 := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	s0 := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return s0 >= b0 && s0+uintptr(len(s)) <= b0+uintptr(len(buf))
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	const max = 4096
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Request
		n, err := ParseRequest(data, &r, max)
		if err != nil {
			if n != 0 {
				t.Fatalf("n = %d with error", n)
			}
			if err != ErrNeedMore {
				toError(t, err)
			} else if len(data) > max {
				t.Fatal("ErrNeedMore beyond the limit")
			}
			return
		}
		if n <= 0 || n > len(data) || n > max || n != r.HeadLen {
			t.Fatalf("n = %d, HeadLen = %d, len = %d", n, r.HeadLen, len(data))
		}
		head := data[:n]
		for _, s := range [][]byte{r.Method, r.Target, r.Path, r.Query, r.Host} {
			if !within(head, s) {
				t.Fatalf("slice %q outside the head", s)
			}
		}
		for _, fl := range r.Fields {
			if !within(head, fl.Name) || !within(head, fl.Value) || !ValidToken(fl.Name) || !ValidFieldValue(fl.Value) {
				t.Fatalf("bad field %q: %q", fl.Name, fl.Value)
			}
		}
		if r.Chunked && r.ContentLength >= 0 || r.ProtoMinor > 1 || r.ProtoMinor == 1 && r.Host == nil {
			t.Fatalf("inconsistent %+v", r)
		}
		// The head alone parses the same; any shorter prefix does not parse.
		var r2 Request
		if n2, err := ParseRequest(head, &r2, max); n2 != n || err != nil {
			t.Fatalf("re-parse: %d %v", n2, err)
		}
		if _, err := ParseRequest(head[:n-1], &r2, max); err == nil {
			t.Fatal("a strict prefix of the head parsed")
		}
		// Smuggling check: where net/http also accepts, it must agree on
		// how the body is framed (net/http is stricter on some inputs, e.g.
		// "Content-Length: 5, 5", and laxer on others).
		hr, herr := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
		if herr != nil {
			return
		}
		theirChunked := len(hr.TransferEncoding) == 1 && hr.TransferEncoding[0] == "chunked"
		if theirChunked != r.Chunked {
			t.Fatalf("chunked: ours %v, net/http %v", r.Chunked, hr.TransferEncoding)
		}
		ourCL := r.ContentLength
		if ourCL < 0 && !r.Chunked {
			ourCL = 0
		}
		if !r.Chunked && hr.ContentLength != ourCL {
			t.Fatalf("Content-Length: ours %d, net/http %d", r.ContentLength, hr.ContentLength)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s))
	}
	const max = 4096
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Response
		n, err := ParseResponse(data, &r, max)
		if err != nil {
			if n != 0 {
				t.Fatalf("n = %d with error", n)
			}
			if err != ErrNeedMore {
				if e := toError(t, err); e.Status != 502 {
					t.Fatalf("status %d", e.Status)
				}
			} else if len(data) > max {
				t.Fatal("ErrNeedMore beyond the limit")
			}
			return
		}
		if n <= 0 || n > len(data) || n > max || n != r.HeadLen || r.Status < 100 || r.Status > 599 {
			t.Fatalf("n = %d, %+v", n, r)
		}
		head := data[:n]
		if !within(head, r.Reason) {
			t.Fatal("Reason outside the head")
		}
		for _, fl := range r.Fields {
			if !within(head, fl.Name) || !within(head, fl.Value) || !ValidToken(fl.Name) || !ValidFieldValue(fl.Value) {
				t.Fatalf("bad field %q: %q", fl.Name, fl.Value)
			}
		}
		if r.Chunked && r.ContentLength >= 0 {
			t.Fatalf("inconsistent %+v", r)
		}
		var r2 Response
		if _, err := ParseResponse(head[:n-1], &r2, max); err == nil {
			t.Fatal("a strict prefix of the head parsed")
		}
		_ = ResponseBodyKind(false, &r)
		if r.Status < 200 || r.Status == 204 || r.Status == 304 {
			return
		}
		hr, herr := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), nil)
		if herr != nil {
			return
		}
		theirChunked := len(hr.TransferEncoding) == 1 && hr.TransferEncoding[0] == "chunked"
		if theirChunked != r.Chunked || !r.Chunked && hr.ContentLength != r.ContentLength {
			t.Fatalf("framing: ours chunked=%v CL=%d, net/http TE=%v CL=%d",
				r.Chunked, r.ContentLength, hr.TransferEncoding, hr.ContentLength)
		}
	})
}

func FuzzChunkedDecoder(f *testing.F) {
	for i, s := range chunkedSeeds {
		f.Add([]byte(s), uint64(i)*0x9e3779b97f4a7c15)
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		var whole ChunkedDecoder
		var wTrailers, sTrailers []byte
		whole.KeepTrailers(&wTrailers)
		wBody, wN, wDone, wErr := decodeAll(&whole, data, 0)

		// The same input split at pseudo-random points (one to eight bytes
		// per piece, from seed) must decode identically.
		var split ChunkedDecoder
		split.KeepTrailers(&sTrailers)
		var sBody []byte
		sN, sDone := 0, false
		var sErr error
		var pending []byte
		fed := 0
		for iter := 0; iter < 4*len(data)+8 && !sDone && sErr == nil; iter++ {
			if fed < len(data) {
				step := int(seed&7) + 1
				seed = seed>>3 | seed<<61
				end := min(fed+step, len(data))
				pending = data[sN:end]
				fed = end
			} else if len(pending) == 0 {
				break
			}
			c, d, done, err := split.Decode(pending)
			if c < 0 || c > len(pending) || !within(pending, d) {
				t.Fatalf("consumed %d of %d", c, len(pending))
			}
			sBody = append(sBody, d...)
			sN += c
			pending = pending[c:]
			sDone, sErr = done, err
		}
		if (wErr == nil) != (sErr == nil) || wDone != sDone || wN != sN {
			t.Fatalf("whole: n=%d done=%v err=%v; split: n=%d done=%v err=%v", wN, wDone, wErr, sN, sDone, sErr)
		}
		if wDone {
			// Kept trailers are the same however the input was split, and
			// are well-formed field lines within the bound.
			if !bytes.Equal(wTrailers, sTrailers) {
				t.Fatalf("trailers differ: %q vs %q", wTrailers, sTrailers)
			}
			if len(wTrailers) > MaxTrailerBytes || (len(wTrailers) > 0 && !bytes.HasSuffix(wTrailers, []byte("\r\n"))) {
				t.Fatalf("kept trailer section %q", wTrailers)
			}
			ForEachTrailer(wTrailers, func(name, value []byte) {
				if len(name) == 0 || bytes.ContainsAny(value, "\r\n") {
					t.Fatalf("trailer field %q: %q", name, value)
				}
			})
		}
		if wErr != nil {
			if wErr != sErr {
				t.Fatalf("errors differ: %v vs %v", wErr, sErr)
			}
			toError(t, wErr)
			return
		}
		if !bytes.Equal(wBody, sBody) {
			t.Fatalf("bodies differ: %q vs %q", wBody, sBody)
		}
		if !wDone {
			return
		}
		// Round trip through the encoder.
		var enc []byte
		for b := wBody; len(b) > 0; {
			k := min(len(b), 1+int(seed%97))
			seed = seed>>7 | seed<<57
			enc = AppendChunk(enc, b[:k])
			b = b[k:]
		}
		enc = AppendLastChunk(enc)
		var rt ChunkedDecoder
		rBody, rN, rDone, rErr := decodeAll(&rt, enc, 0)
		if rErr != nil || !rDone || rN != len(enc) || !bytes.Equal(rBody, wBody) {
			t.Fatalf("round trip: %v %v %d %q", rErr, rDone, rN, rBody)
		}
	})
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range pathSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, path []byte) {
		dst := []byte("pre")
		out, err := NormalizePath(dst, path)
		if err != nil {
			toError(t, err)
			if string(out) != "pre" {
				t.Fatalf("dst modified on error: %q", out)
			}
			return
		}
		if string(out[:3]) != "pre" {
			t.Fatal("prefix lost")
		}
		n := out[3:]
		if len(n) == 0 || n[0] != '/' {
			t.Fatalf("result %q does not start with /", n)
		}
		again, err := NormalizePath(nil, n)
		if err != nil || !bytes.Equal(again, n) {
			t.Fatalf("not idempotent: %q -> %q (%v)", n, again, err)
		}
		for _, seg := range bytes.Split(n[1:], []byte("/")) {
			if string(seg) == "." || string(seg) == ".." {
				t.Fatalf("dot segment left in %q", n)
			}
		}
		for i := 0; i < len(n); i++ {
			c := n[i]
			if c == '%' {
				if i+2 >= len(n) {
					t.Fatalf("truncated escape in %q", n)
				}
				h, l := n[i+1], n[i+2]
				if unhex(h) < 0 || unhex(l) < 0 || lower(h) == h && h > '9' || lower(l) == l && l > '9' {
					t.Fatalf("escape not uppercase hex in %q", n)
				}
				v := byte(unhex(h)<<4 | unhex(l))
				if charClass[v]&cUnres != 0 || v == '/' || v == '\\' || v == 0 {
					t.Fatalf("escape %%%c%c should not remain in %q", h, l, n)
				}
				i += 2
				continue
			}
			if charClass[c]&cPchar == 0 {
				t.Fatalf("raw byte %q in %q", c, n)
			}
		}
	})
}
