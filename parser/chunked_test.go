package parser

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

// decodeAll runs d over in, feeding at most step bytes per call (0: all at
// once). It returns the body, the bytes consumed and whether the end was
// reached, or the first error.
func decodeAll(d *ChunkedDecoder, in []byte, step int) (body []byte, consumed int, done bool, err error) {
	var pending []byte
	fed := 0
	for iter := 0; iter < 4*len(in)+8; iter++ {
		if len(pending) == 0 || (step > 0 && fed < len(in)) {
			// Give the decoder the next piece appended to what it left.
			end := len(in)
			if step > 0 {
				end = min(fed+step, len(in))
			}
			pending = in[consumed:end]
			fed = end
		}
		c, data, dn, e := d.Decode(pending)
		body = append(body, data...)
		consumed += c
		pending = pending[c:]
		if e != nil || dn {
			return body, consumed, dn, e
		}
		if len(pending) == 0 && fed == len(in) {
			return body, consumed, false, nil
		}
	}
	panic("decodeAll did not terminate")
}

func TestChunkedDecoderValid(t *testing.T) {
	f := func(name, in, wantBody string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			full := []byte(in + "NEXT")
			for step := 0; step <= len(in); step++ {
				var d ChunkedDecoder
				body, n, done, err := decodeAll(&d, full, step)
				if err != nil || !done {
					t.Fatalf("step %d: done=%v err=%v", step, done, err)
				}
				if string(body) != wantBody || n != len(in) {
					t.Fatalf("step %d: body %q n %d, want %q %d", step, body, n, wantBody, len(in))
				}
				if !d.Done() {
					t.Fatal("Done() = false")
				}
				if c, data, dn, err := d.Decode([]byte("more")); c != 0 || data != nil || !dn || err != nil {
					t.Fatal("decoder not sticky after done")
				}
			}
		})
	}
	f("empty", "0\r\n\r\n", "")
	f("one", "5\r\nhello\r\n0\r\n\r\n", "hello")
	f("two", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world")
	f("hex upper and lower", "A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij")
	f("leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello")
	f("extensions", "5;name=value;x=\"q s\"\r\nhello\r\n0;last\r\n\r\n", "hello")
	f("BWS before ext", "5 \t;a\r\nhello\r\n0\r\n\r\n", "hello")
	f("trailers", "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other:\tv v\r\n\r\n", "hello")
	f("body has CRLF", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n")
}

func TestChunkedDecoderReject(t *testing.T) {
	f := func(name, in, reason string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			for _, step := range []int{0, 1, 2, 3, 7} {
				var d ChunkedDecoder
				_, _, done, err := decodeAll(&d, []byte(in), step)
				if err == nil {
					t.Fatalf("step %d: accepted %q (done=%v)", step, in, done)
				}
				e := toError(t, err)
				if e.Status != 400 || e.Reason != reason {
					t.Fatalf("step %d: got %d %q, want 400 %q", step, e.Status, e.Reason, reason)
				}
				if _, _, _, err2 := d.Decode([]byte("0\r\n\r\n")); err2 != err {
					t.Fatal("error is not sticky")
				}
			}
		})
	}
	f("non-hex", "g\r\n", "invalid chunk size")
	f("empty size", "\r\n", "invalid chunk size")
	f("sign", "+5\r\nhello\r\n0\r\n\r\n", "invalid chunk size")
	f("negative", "-1\r\n", "invalid chunk size")
	f("0x prefix", "0x5\r\nhello\r\n", "invalid chunk size")
	f("leading space", " 5\r\nhello\r\n", "invalid chunk size")
	f("trailing space no ext", "5 \r\nhello\r\n", "invalid chunk extension")
	f("overflow 2^64", "10000000000000000\r\n", "chunk size too large")
	f("overflow 2^62+1", "4000000000000001\r\n", "chunk size too large")
	f("overflow ffff", "ffffffffffffffff\r\n", "chunk size too large")
	f("bare LF size", "5\nhello\r\n0\r\n\r\n", "bare LF line ending")
	f("bare CR size", "5\rhello\r\n", "bare CR")
	f("bare LF ext", "5;a\nhello\r\n", "bare LF line ending")
	f("control in ext", "5;a\x00\r\nhello\r\n", "invalid chunk extension")
	f("data too long", "5\r\nhello!\r\n0\r\n\r\n", "missing CRLF after chunk data")
	f("data LF only", "5\r\nhello\n0\r\n\r\n", "missing CRLF after chunk data")
	f("data CR only", "5\r\nhello\r0\r\n\r\n", "missing CRLF after chunk data")
	f("size line too long", "5;"+strings.Repeat("a", MaxChunkLineBytes)+"\r\n", "chunk size line too long")
	f("many leading zeros", strings.Repeat("0", MaxChunkLineBytes+1)+"5\r\n", "chunk size line too long")
	f("trailer obs-fold", "0\r\nX: a\r\n b\r\n\r\n", "obsolete line folding")
	f("trailer no colon", "0\r\nX\r\n\r\n", "invalid trailer field")
	f("trailer space before colon", "0\r\nX : a\r\n\r\n", "invalid trailer field")
	f("trailer NUL", "0\r\nX: a\x00\r\n\r\n", "invalid trailer field")
	f("trailer bare LF", "0\r\nX: a\n\r\n", "bare LF line ending")
	f("trailer bare CR", "0\r\nX: a\rb\r\n\r\n", "bare CR")
	f("end bare LF", "0\r\n\n", "bare LF line ending")
	f("end bare CR", "0\r\n\rX", "bare CR")
	f("trailer too large", "0\r\n"+strings.Repeat("X-Pad: "+strings.Repeat("p", 100)+"\r\n", MaxTrailerBytes/100+1)+"\r\n", "trailer section too large")
	// One-byte chunks with 200-byte extensions: framing far beyond the data.
	f("framing overhead", strings.Repeat("1;"+strings.Repeat("e", 200)+"\r\nx\r\n", 100)+"0\r\n\r\n", "chunked framing far larger than its data")
}

// TestChunkedOverheadAllowance: real framing stays within the allowance
// (16 bytes plus twice the data per chunk): one-byte chunks without
// extensions, small chunks with a short extension, a long extension on a
// large chunk.
func TestChunkedOverheadAllowance(t *testing.T) {
	for name, in := range map[string]string{
		"1-byte chunks":      strings.Repeat("1\r\nx\r\n", 50000) + "0\r\n\r\n",
		"short extensions":   strings.Repeat("4;n=v\r\nabcd\r\n", 20000) + "0\r\n\r\n",
		"long ext, big data": strings.Repeat("800;"+strings.Repeat("e", 3000)+"\r\n"+strings.Repeat("d", 0x800)+"\r\n", 50) + "0\r\n\r\n",
	} {
		var d ChunkedDecoder
		if _, _, done, err := decodeAll(&d, []byte(in), 0); err != nil || !done {
			t.Errorf("%s: done=%v err=%v", name, done, err)
		}
	}
}

func TestChunkedDecoderIncomplete(t *testing.T) {
	in := "5\r\nhello\r\n0\r\nX: y\r\n\r\n"
	for i := 0; i < len(in); i++ {
		var d ChunkedDecoder
		body, n, done, err := decodeAll(&d, []byte(in[:i]), 0)
		if err != nil || done || n != i || !strings.HasPrefix("hello", string(body)) {
			t.Fatalf("prefix %q: body %q n %d done %v err %v", in[:i], body, n, done, err)
		}
	}
}

func TestChunkedDecoderOneRunPerCall(t *testing.T) {
	var d ChunkedDecoder
	in := []byte("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
	c, data, done, err := d.Decode(in)
	// The first call stops right before "de", having consumed the framing
	// in between.
	if err != nil || done || string(data) != "abc" || c != len("3\r\nabc\r\n2\r\n") {
		t.Fatalf("first: %d %q %v %v", c, data, done, err)
	}
	c2, data, done, err := d.Decode(in[c:])
	if err != nil || !done || string(data) != "de" || c+c2 != len(in) {
		t.Fatalf("second: %d %q %v %v", c2, data, done, err)
	}
	// data aliases the input.
	if &data[0] != &in[c+0] {
		t.Fatal("data is not a sub-slice of the input")
	}
	d.Reset()
	if d.Done() {
		t.Fatal("Reset did not reset")
	}
}

func TestChunkedEncoder(t *testing.T) {
	var b []byte
	b = AppendChunkHeader(b, 0)
	b = AppendChunkHeader(b, -3)
	if len(b) != 0 {
		t.Fatalf("zero/negative size wrote %q", b)
	}
	b = AppendChunkHeader(b, 255)
	b = append(b, bytes.Repeat([]byte("x"), 255)...)
	b = AppendChunkEnd(b)
	b = AppendChunk(b, nil)
	b = AppendChunk(b, []byte("hello"))
	b = AppendLastChunk(b)
	want := "ff\r\n" + strings.Repeat("x", 255) + "\r\n5\r\nhello\r\n0\r\n\r\n"
	if string(b) != want {
		t.Fatalf("got %q", b)
	}
	var d ChunkedDecoder
	body, n, done, err := decodeAll(&d, b, 0)
	if err != nil || !done || n != len(b) || string(body) != strings.Repeat("x", 255)+"hello" {
		t.Fatalf("round trip: %q %d %v %v", body, n, done, err)
	}
}

// TestChunkedDecoderSize pins the decoder's footprint: it is embedded per
// connection and per upstream exchange, and holds no copy of the input.
func TestChunkedDecoderSize(t *testing.T) {
	if s := unsafe.Sizeof(ChunkedDecoder{}); s > 32 {
		t.Fatalf("ChunkedDecoder is %d bytes, want <= 32", s)
	}
}

// TestChunkedTrailersKept: with KeepTrailers the trailer section comes back
// as field lines (not the final CRLF), the same for any split of the
// input; without it nothing is kept.
func TestChunkedTrailersKept(t *testing.T) {
	cases := []struct {
		in, kept string
		fields   [][2]string
	}{
		{"5\r\nhello\r\n0\r\n\r\n", "", nil},
		{"5\r\nhello\r\n0\r\nX-Sum: abc\r\n\r\n", "X-Sum: abc\r\n", [][2]string{{"X-Sum", "abc"}}},
		{"0\r\nA:1\r\nB:  two words \t\r\nC:\r\n\r\n", "A:1\r\nB:  two words \t\r\nC:\r\n",
			[][2]string{{"A", "1"}, {"B", "two words"}, {"C", ""}}},
	}
	for _, c := range cases {
		for _, step := range []int{0, 1, 2, 7} {
			var d ChunkedDecoder
			var kept []byte
			d.KeepTrailers(&kept)
			_, n, done, err := decodeAll(&d, []byte(c.in), step)
			if err != nil || !done || n != len(c.in) {
				t.Fatalf("%q step %d: n=%d done=%v err=%v", c.in, step, n, done, err)
			}
			if string(kept) != c.kept {
				t.Errorf("%q step %d: kept %q, want %q", c.in, step, kept, c.kept)
			}
			var got [][2]string
			ForEachTrailer(kept, func(name, value []byte) { got = append(got, [2]string{string(name), string(value)}) })
			if fmt.Sprint(got) != fmt.Sprint(c.fields) {
				t.Errorf("%q: fields %q, want %q", c.in, got, c.fields)
			}
		}
		var d ChunkedDecoder // not asked to keep
		if _, _, done, err := decodeAll(&d, []byte(c.in), 1); err != nil || !done {
			t.Fatalf("%q without keeping: %v", c.in, err)
		}
	}
	// Reset forgets the buffer: the next body's trailers are not kept.
	var d ChunkedDecoder
	var kept []byte
	d.KeepTrailers(&kept)
	decodeAll(&d, []byte("0\r\nA: 1\r\n\r\n"), 0)
	d.Reset()
	kept = kept[:0]
	decodeAll(&d, []byte("0\r\nB: 2\r\n\r\n"), 0)
	if len(kept) != 0 {
		t.Errorf("kept after Reset: %q", kept)
	}
}

// TestChunkedDeclared: once a chunk's size line is read, Declared tells
// how many of its data bytes are still to come, so a body limit can refuse
// the chunk before they arrive.
func TestChunkedDeclared(t *testing.T) {
	var d ChunkedDecoder
	if d.Declared() != 0 {
		t.Fatal("declared before any input")
	}
	n, data, _, err := d.Decode([]byte("FFFFFF\r\n"))
	if err != nil || n != 8 || len(data) != 0 || d.Declared() != 0xFFFFFF {
		t.Fatalf("after the size line: consumed %d data %q err %v declared %d", n, data, err, d.Declared())
	}
	_, data, _, _ = d.Decode([]byte("abc"))
	if string(data) != "abc" || d.Declared() != 0xFFFFFF-3 {
		t.Fatalf("after 3 bytes: data %q declared %d", data, d.Declared())
	}
	d.Reset()
	d.Decode([]byte("3\r\nabc\r\n"))
	if d.Declared() != 0 {
		t.Fatalf("between chunks: declared %d", d.Declared())
	}
}
