package edge

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/portico-gw/portico/parser"
)

// ownHeadSeeds are heads as the pipeline writes them (relayed, with route
// header ops, errors, interim answers) and some it never writes, which
// must fall back to ParseResponse with the same result.
var ownHeadSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: nginx\r\nContent-Length: 12\r\nDate: Sat, 28 Nov 2026 08:00:00 GMT\r\nX-Request-Id: 0123456789abcdef\r\n\r\nhello world!",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Request-Id: a\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\nX-Request-Id: a\r\n\r\n{}",
	"HTTP/1.1 100 Continue\r\nX-Request-Id: a\r\n\r\n",
	"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nX-Request-Id: a\r\n\r\n",
	"HTTP/1.1 204 No Content\r\nX-Request-Id: a\r\n\r\n",
	"HTTP/1.1 304 Not Modified\r\nETag: W/\"x\"\r\nContent-Length: 99\r\n\r\n",
	"HTTP/1.1 200 \r\nX-Empty: \r\nX-Spaced:   padded value \t\r\nX-Colon: a:b:c\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
	"HTTP/1.1 200 OK\r\nNo-Colon\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX: a\nb\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX: a\nb",
	"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
	"HTTP/1.1 099 Low\r\n\r\n",
	"HTTP/1.1 600 High\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n",
	"HTTP/1.1 200 OK\r\nContent-Len",
	"HTTP/1.1 2",
	"",
}

// TestOwnHeadMatchesParseResponse: wherever ParseResponse accepts a head,
// parseOwnHead reads it the same (the fields a stream uses), whether by
// its fast split or by falling back; where ParseResponse refuses, so does
// parseOwnHead unless the fast split took it (only Portico's own bytes
// reach it, and those always parse).
func TestOwnHeadMatchesParseResponse(t *testing.T) {
	for _, in := range ownHeadSeeds {
		checkOwnHead(t, []byte(in))
	}
	// Every field count up to the cap, and one past it.
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 200 OK\r\n")
	for i := 0; i <= parser.MaxFields; i++ {
		fmt.Fprintf(&b, "X-F%d: v%d\r\n", i, i)
		checkOwnHead(t, append(b.Bytes(), "\r\n"...))
	}
}

func TestOwnHeadFastSplit(t *testing.T) {
	var r parser.Response
	in := []byte(ownHeadSeeds[0])
	n, shape := splitOwnHead(in, &r)
	if shape != ownHeadWhole || n != bytes.Index(in, []byte("\r\n\r\n"))+4 || r.Status != 200 || r.ContentLength != 12 || len(r.Fields) != 5 ||
		string(r.Fields[4].Name) != "X-Request-Id" || string(r.Fields[4].Value) != "0123456789abcdef" {
		t.Fatalf("typical relayed head not split by the fast path: %d n=%d %+v", shape, n, r)
	}
	n, shape = splitOwnHead([]byte(ownHeadSeeds[1]), &r)
	if shape != ownHeadWhole || !r.Chunked || r.ContentLength != -1 {
		t.Fatalf("chunked head: %d n=%d %+v", shape, n, r)
	}
	// An upstream head at the parser's field cap plus the fields Portico
	// adds is over the cap, and still a whole head (HTTP/1.1 clients get
	// it all; a stream got RST_STREAM when it went to ParseResponse).
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 200 OK\r\n")
	for i := range parser.MaxFields + 12 {
		fmt.Fprintf(&b, "X-F%d: v\r\n", i)
	}
	b.WriteString("Content-Length: 2\r\nX-Request-Id: a\r\n\r\nok")
	n, err := parseOwnHead(b.Bytes(), &r)
	if err != nil || n != b.Len()-2 || len(r.Fields) != parser.MaxFields+14 || r.ContentLength != 2 {
		t.Fatalf("head over the field cap: n=%d err=%v fields=%d", n, err, len(r.Fields))
	}
	// Cut anywhere, it is incomplete, never an error or a shorter head.
	for cut := range b.Len() - 2 {
		if _, err := parseOwnHead(b.Bytes()[:cut], &r); err != parser.ErrNeedMore {
			t.Fatalf("head cut at %d: %v, want ErrNeedMore", cut, err)
		}
	}
}

func checkOwnHead(t testing.TB, in []byte) {
	t.Helper()
	var want, got parser.Response
	wn, werr := parser.ParseResponse(in, &want, 1<<20)
	gn, gerr := parseOwnHead(in, &got)
	if gerr == nil {
		// Whatever the split took, no line break is left inside a field:
		// HTTP/2 would drop or refuse such a field, not reset the stream.
		for _, f := range got.Fields {
			if bytes.ContainsAny(f.Name, "\r\n") || bytes.ContainsAny(f.Value, "\r\n") {
				t.Fatalf("%q: field %q: %q carries a line break", in, f.Name, f.Value)
			}
		}
	}
	if gerr == parser.ErrNeedMore {
		// Partial only while more bytes can make a head: ended here, it
		// is a head or an error, never partial forever.
		var r parser.Response
		if _, err := parseOwnHead(append(in[:len(in):len(in)], "\r\n\r\n"...), &r); err == parser.ErrNeedMore {
			t.Fatalf("%q: still incomplete once ended with an empty line", in)
		}
	}
	if werr != nil {
		if werr == parser.ErrNeedMore && gerr != parser.ErrNeedMore {
			t.Fatalf("%q: incomplete for ParseResponse, parseOwnHead says %v", in, gerr)
		}
		if gerr == nil {
			if _, shape := splitOwnHead(in, &got); shape != ownHeadWhole {
				t.Fatalf("%q: ParseResponse refused (%v) but the fallback accepted", in, werr)
			}
		}
		return
	}
	if gerr != nil || gn != wn || got.Status != want.Status || !bytes.Equal(got.Reason, want.Reason) ||
		got.ContentLength != want.ContentLength || got.Chunked != want.Chunked || len(got.Fields) != len(want.Fields) {
		t.Fatalf("%q:\n got n=%d err=%v %+v\nwant n=%d %+v", in, gn, gerr, got, wn, want)
	}
	for i := range want.Fields {
		if !bytes.Equal(got.Fields[i].Name, want.Fields[i].Name) || !bytes.Equal(got.Fields[i].Value, want.Fields[i].Value) {
			t.Fatalf("%q: field %d got %q: %q, want %q: %q", in, i, got.Fields[i].Name, got.Fields[i].Value, want.Fields[i].Name, want.Fields[i].Value)
		}
	}
}

func FuzzOwnHead(f *testing.F) {
	for _, s := range ownHeadSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkOwnHead(t, in)
	})
}

func BenchmarkOwnHead(b *testing.B) {
	in := []byte(ownHeadSeeds[0])
	var r parser.Response
	b.Run("split", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := parseOwnHead(in, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ParseResponse", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := parser.ParseResponse(in, &r, 1<<20); err != nil {
				b.Fatal(err)
			}
		}
	})
}
