package parser

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected sections of testdata/golden")

// goldenSep separates input from expected output (the Caddy adapt-test
// format).
const goldenSep = "----------"

// TestGolden runs the accept/reject corpus in testdata/golden. Each file is
// an input, a line "----------", and the expected dump. The input is written
// with Go escapes (\r, \n, \t, \xNN, \\); the file's own newlines are layout
// only and are dropped, so every byte on the wire is visible. Files named
// request-*.txt are parsed as a pipelined stream of requests (bodies
// skipped by their framing), response-*.txt as one response head,
// chunked-*.txt as a chunked body and path-*.txt (one path per line) by
// NormalizePath. Run with -update to regenerate the expected sections.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			text := string(raw)
			i := strings.Index(text, "\n"+goldenSep+"\n")
			if i < 0 {
				t.Fatalf("%s: no %s line", file, goldenSep)
			}
			src, want := text[:i], text[i+len(goldenSep)+2:]
			var got string
			base := filepath.Base(file)
			switch {
			case strings.HasPrefix(base, "path-"):
				got = dumpPaths(t, src)
			default:
				in := unescapeGolden(t, src)
				switch {
				case strings.HasPrefix(base, "request-"):
					got = dumpRequests(in)
				case strings.HasPrefix(base, "response-"):
					got = dumpResponse(in)
				case strings.HasPrefix(base, "chunked-"):
					got = dumpChunked(in)
				default:
					t.Fatalf("%s: unknown kind", file)
				}
			}
			if *update {
				if err := os.WriteFile(file, []byte(src+"\n"+goldenSep+"\n"+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Fatalf("%s:\n--- got ---\n%s--- want ---\n%s", file, got, want)
			}
		})
	}
}

// unescapeGolden drops layout newlines and '#' comment lines, then
// interprets Go escapes.
func unescapeGolden(t *testing.T, src string) []byte {
	t.Helper()
	var b strings.Builder
	for _, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		b.WriteString(line)
	}
	s, err := strconv.Unquote(`"` + strings.ReplaceAll(b.String(), `"`, `\"`) + `"`)
	if err != nil {
		t.Fatalf("bad escapes in input: %v", err)
	}
	return []byte(s)
}

func dumpErr(b *bytes.Buffer, err error) {
	if err == ErrNeedMore {
		b.WriteString("need more\n")
		return
	}
	e := err.(*Error)
	fmt.Fprintf(b, "error %d %s: %s\n", e.Status, e.Code, e.Reason)
}

func dumpFields(b *bytes.Buffer, fields []Field) {
	for _, f := range fields {
		fmt.Fprintf(b, "field %q: %q\n", f.Name, f.Value)
	}
}

func dumpRequests(in []byte) string {
	var b bytes.Buffer
	var r Request
	var d ChunkedDecoder
	for i := 0; len(in) > 0 && i < 16; i++ {
		if i > 0 {
			b.WriteString("\n")
		}
		n, err := ParseRequest(in, &r, 1024)
		if err != nil {
			dumpErr(&b, err)
			return b.String()
		}
		fmt.Fprintf(&b, "request n=%d\nmethod %q target %q form %s proto 1.%d\n", n, r.Method, r.Target,
			[]string{"origin", "absolute", "asterisk"}[r.Form], r.ProtoMinor)
		fmt.Fprintf(&b, "path %q query %s host %s\n", r.Path, orNone(r.Query), orNone(r.Host))
		fmt.Fprintf(&b, "content-length %d chunked %v keep-alive %v expect-100 %v body %s\n",
			r.ContentLength, r.Chunked, r.KeepAlive, r.Expect100, r.BodyKind())
		dumpFields(&b, r.Fields)
		in = in[n:]
		switch r.BodyKind() {
		case BodyContentLength:
			if int64(len(in)) < r.ContentLength {
				fmt.Fprintf(&b, "body incomplete %q\n", in)
				return b.String()
			}
			fmt.Fprintf(&b, "body %q\n", in[:r.ContentLength])
			in = in[r.ContentLength:]
		case BodyChunked:
			d.Reset()
			body, c, done, err := decodeAll(&d, in, 0)
			fmt.Fprintf(&b, "body %q\n", body)
			if err != nil {
				dumpErr(&b, err)
				return b.String()
			}
			if !done {
				b.WriteString("body incomplete\n")
				return b.String()
			}
			in = in[c:]
		}
		if !r.KeepAlive && len(in) > 0 {
			fmt.Fprintf(&b, "\nafter close %q\n", in)
			return b.String()
		}
	}
	return b.String()
}

func dumpResponse(in []byte) string {
	var b bytes.Buffer
	var r Response
	n, err := ParseResponse(in, &r, 1024)
	if err != nil {
		dumpErr(&b, err)
		return b.String()
	}
	fmt.Fprintf(&b, "response n=%d\nproto 1.%d status %d reason %q\n", n, r.ProtoMinor, r.Status, r.Reason)
	fmt.Fprintf(&b, "content-length %d chunked %v keep-alive %v body %s (after HEAD: %s)\n",
		r.ContentLength, r.Chunked, r.KeepAlive, ResponseBodyKind(false, &r), ResponseBodyKind(true, &r))
	dumpFields(&b, r.Fields)
	fmt.Fprintf(&b, "rest %q\n", in[n:])
	return b.String()
}

func dumpChunked(in []byte) string {
	var b bytes.Buffer
	var d ChunkedDecoder
	body, n, done, err := decodeAll(&d, in, 0)
	fmt.Fprintf(&b, "body %q\nconsumed %d done %v\n", body, n, done)
	if err != nil {
		dumpErr(&b, err)
	}
	fmt.Fprintf(&b, "rest %q\n", in[n:])
	return b.String()
}

func dumpPaths(t *testing.T, src string) string {
	var b bytes.Buffer
	for _, line := range strings.Split(src, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := unescapeGolden(t, line)
		out, err := NormalizePath(nil, p)
		if err != nil {
			fmt.Fprintf(&b, "%q => error %s\n", p, err.(*Error).Reason)
			continue
		}
		fmt.Fprintf(&b, "%q => %q\n", p, out)
	}
	return b.String()
}

// orNone quotes b, or says <none> for nil so that absent and empty differ.
func orNone(b []byte) string {
	if b == nil {
		return "<none>"
	}
	return strconv.Quote(string(b))
}
