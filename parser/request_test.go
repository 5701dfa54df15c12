package parser

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// browserHead is a typical 12-field browser request, used by tests and
// benchmarks alike.
const browserHead = "GET /v1/orders/12345?expand=items&limit=10 HTTP/1.1\r\n" +
	"Host: api.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Connection: keep-alive\r\n" +
	"Cookie: session=abc123def456; theme=dark; _ga=GA1.2.1234567890.1700000000\r\n" +
	"Referer: https://www.example.com/dashboard\r\n" +
	"Cache-Control: max-age=0\r\n" +
	"Sec-Fetch-Mode: navigate\r\n" +
	"Sec-Fetch-Site: same-origin\r\n" +
	"Upgrade-Insecure-Requests: 1\r\n" +
	"\r\n"

func toError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not *Error", err)
	}
	return e
}

func TestParseRequestAccept(t *testing.T) {
	f := func(name, in string, check func(t *testing.T, r *Request)) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			var r Request
			buf := []byte(in + "TRAILING")
			n, err := ParseRequest(buf, &r, 0)
			if err != nil {
				t.Fatalf("ParseRequest(%q): %v", in, err)
			}
			if n != len(in) || r.HeadLen != n {
				t.Fatalf("n = %d, HeadLen = %d, want %d", n, r.HeadLen, len(in))
			}
			check(t, &r)
		})
	}
	eq := func(t *testing.T, what string, got []byte, want string) {
		t.Helper()
		if string(got) != want {
			t.Fatalf("%s = %q, want %q", what, got, want)
		}
	}

	f("browser", browserHead, func(t *testing.T, r *Request) {
		eq(t, "Method", r.Method, "GET")
		eq(t, "Target", r.Target, "/v1/orders/12345?expand=items&limit=10")
		eq(t, "Path", r.Path, "/v1/orders/12345")
		eq(t, "Query", r.Query, "expand=items&limit=10")
		eq(t, "Host", r.Host, "api.example.com")
		if len(r.Fields) != 12 || r.ProtoMinor != 1 || !r.KeepAlive || r.ContentLength != -1 ||
			r.Chunked || r.Expect100 || r.Form != FormOrigin || r.BodyKind() != BodyNone {
			t.Fatalf("unexpected %+v", r)
		}
		eq(t, "Fields[5].Value", r.Fields[5].Value, "keep-alive")
	})
	f("leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", func(t *testing.T, r *Request) {
		eq(t, "Path", r.Path, "/")
	})
	f("no query", "GET /a/b HTTP/1.1\r\nHost: a\r\n\r\n", func(t *testing.T, r *Request) {
		if r.Query != nil {
			t.Fatalf("Query = %q, want nil", r.Query)
		}
	})
	f("empty query", "GET /a? HTTP/1.1\r\nHost: a\r\n\r\n", func(t *testing.T, r *Request) {
		if r.Query == nil || len(r.Query) != 0 {
			t.Fatalf("Query = %q, want empty non-nil", r.Query)
		}
	})
	f("absolute-form", "GET http://Example.COM:8080/x/y?q=1 HTTP/1.1\r\nHost: other\r\n\r\n", func(t *testing.T, r *Request) {
		eq(t, "Host", r.Host, "Example.COM:8080")
		eq(t, "Path", r.Path, "/x/y")
		eq(t, "Query", r.Query, "q=1")
		if r.Form != FormAbsolute {
			t.Fatal("not absolute-form")
		}
	})
	f("absolute-form https no path", "GET HTTPS://h.example HTTP/1.1\r\nHost: h.example\r\n\r\n", func(t *testing.T, r *Request) {
		eq(t, "Path", r.Path, "/")
		eq(t, "Host", r.Host, "h.example")
	})
	// The target names the host; Host is ignored (RFC 9112 §3.2.2), even empty.
	f("absolute-form empty Host", "GET http://h.example/a HTTP/1.1\r\nHost:\r\n\r\n", func(t *testing.T, r *Request) {
		eq(t, "Host", r.Host, "h.example")
	})
	f("absolute-form query no path", "GET http://h?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", func(t *testing.T, r *Request) {
		eq(t, "Path", r.Path, "/")
		eq(t, "Query", r.Query, "x=1")
	})
	f("asterisk OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", func(t *testing.T, r *Request) {
		eq(t, "Path", r.Path, "*")
		if r.Form != FormAsterisk {
			t.Fatal("not asterisk-form")
		}
	})
	f("HTTP/1.2 handled as 1.1", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", func(t *testing.T, r *Request) {
		if r.ProtoMinor != 1 || !r.KeepAlive {
			t.Fatalf("unexpected %+v", r)
		}
	})
	f("HTTP/1.0 no Host", "GET / HTTP/1.0\r\n\r\n", func(t *testing.T, r *Request) {
		if r.ProtoMinor != 0 || r.KeepAlive || r.Host != nil {
			t.Fatalf("unexpected %+v", r)
		}
	})
	f("HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", func(t *testing.T, r *Request) {
		if !r.KeepAlive {
			t.Fatal("KeepAlive = false")
		}
	})
	f("HTTP/1.0 keep-alive and close", "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", func(t *testing.T, r *Request) {
		if r.KeepAlive {
			t.Fatal("KeepAlive = true")
		}
	})
	f("close in list", "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo ,CLOSE, bar\r\n\r\n", func(t *testing.T, r *Request) {
		if r.KeepAlive {
			t.Fatal("KeepAlive = true")
		}
	})
	f("closed is not close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", func(t *testing.T, r *Request) {
		if !r.KeepAlive {
			t.Fatal("KeepAlive = false")
		}
	})
	f("content-length", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", func(t *testing.T, r *Request) {
		if r.ContentLength != 5 || r.BodyKind() != BodyContentLength {
			t.Fatalf("ContentLength = %d", r.ContentLength)
		}
	})
	f("content-length zero", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", func(t *testing.T, r *Request) {
		if r.ContentLength != 0 || r.BodyKind() != BodyNone {
			t.Fatalf("ContentLength = %d", r.ContentLength)
		}
	})
	f("content-length leading zeros and OWS", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: \t005 \r\n\r\n", func(t *testing.T, r *Request) {
		if r.ContentLength != 5 {
			t.Fatalf("ContentLength = %d", r.ContentLength)
		}
	})
	f("content-length duplicate same", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\ncontent-length: 7\r\n\r\n", func(t *testing.T, r *Request) {
		if r.ContentLength != 7 {
			t.Fatalf("ContentLength = %d", r.ContentLength)
		}
	})
	f("content-length list same", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5,5\r\n\r\n", func(t *testing.T, r *Request) {
		if r.ContentLength != 5 {
			t.Fatalf("ContentLength = %d", r.ContentLength)
		}
	})
	f("content-length 18 digits", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999999999\r\n\r\n", func(t *testing.T, r *Request) {
		if r.ContentLength != 999999999999999999 {
			t.Fatalf("ContentLength = %d", r.ContentLength)
		}
	})
	f("content-length 19 digits, the int64 maximum", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", func(t *testing.T, r *Request) {
		if r.ContentLength != math.MaxInt64 {
			t.Fatalf("ContentLength = %d", r.ContentLength)
		}
	})
	f("content-length 30 leading zeros", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000000000000000000005\r\n\r\n", func(t *testing.T, r *Request) {
		if r.ContentLength != 5 {
			t.Fatalf("ContentLength = %d", r.ContentLength)
		}
	})
	f("content-length all zeros", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0000\r\n\r\n", func(t *testing.T, r *Request) {
		if r.ContentLength != 0 {
			t.Fatalf("ContentLength = %d", r.ContentLength)
		}
	})
	f("chunked", "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", func(t *testing.T, r *Request) {
		if !r.Chunked || r.ContentLength != -1 || r.BodyKind() != BodyChunked {
			t.Fatalf("unexpected %+v", r)
		}
	})
	f("chunked case and OWS", "POST /p HTTP/1.1\r\nHost: a\r\ntransfer-encoding:   ChUnKeD  \r\n\r\n", func(t *testing.T, r *Request) {
		if !r.Chunked {
			t.Fatal("not chunked")
		}
	})
	f("expect 100", "PUT /p HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", func(t *testing.T, r *Request) {
		if !r.Expect100 {
			t.Fatal("Expect100 = false")
		}
	})
	f("expect 100 ignored on 1.0", "PUT /p HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", func(t *testing.T, r *Request) {
		if r.Expect100 {
			t.Fatal("Expect100 = true")
		}
	})
	f("value trimmed, inner tab, obs-text", "GET / HTTP/1.1\r\nHost: a\r\nX-A: \t a\tb \xff\xfe \t\r\nX-Empty:\r\n\r\n", func(t *testing.T, r *Request) {
		eq(t, "X-A", r.Fields[1].Value, "a\tb \xff\xfe")
		eq(t, "X-Empty", r.Fields[2].Value, "")
	})
	f("IPv6 Host", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", func(t *testing.T, r *Request) {
		eq(t, "Host", r.Host, "[::1]:8080")
	})
	f("Host with every unreserved byte", "GET / HTTP/1.1\r\nHost: Az09-._~.example\r\n\r\n", func(t *testing.T, r *Request) {
		eq(t, "Host", r.Host, "Az09-._~.example")
	})
	f("IPv4-mapped IPv6 Host", "GET / HTTP/1.1\r\nHost: [::ffff:10.0.0.1]\r\n\r\n", func(t *testing.T, r *Request) {
		eq(t, "Host", r.Host, "[::ffff:10.0.0.1]")
	})
	f("Host with port and empty port", "GET / HTTP/1.1\r\nHost: a.example:\r\n\r\n", func(t *testing.T, r *Request) {
		eq(t, "Host", r.Host, "a.example:")
	})
	f("Host IPv4 with port", "GET / HTTP/1.1\r\nHost: 10.0.0.1:80\r\n\r\n", func(t *testing.T, r *Request) {
		eq(t, "Host", r.Host, "10.0.0.1:80")
	})
	f("unusual method and target bytes", "M-SEARCH /a|b{c}?x=\"y\"&z=^ HTTP/1.1\r\nHost: a\r\n\r\n", func(t *testing.T, r *Request) {
		eq(t, "Method", r.Method, "M-SEARCH")
		eq(t, "Path", r.Path, "/a|b{c}")
	})
	f("max fields", "GET / HTTP/1.1\r\nHost: a\r\n"+strings.Repeat("X: y\r\n", MaxFields-1)+"\r\n", func(t *testing.T, r *Request) {
		if len(r.Fields) != MaxFields {
			t.Fatalf("len(Fields) = %d", len(r.Fields))
		}
	})
}

func TestParseRequestReject(t *testing.T) {
	f := func(name, in string, status int, reason string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			var r Request
			n, err := ParseRequest([]byte(in), &r, 1024)
			if err == nil {
				t.Fatalf("ParseRequest(%q) = %d, nil; want %d %s", in, n, status, reason)
			}
			e := toError(t, err)
			if e.Status != status || e.Reason != reason {
				t.Fatalf("ParseRequest(%q): got %d %q, want %d %q", in, e.Status, e.Reason, status, reason)
			}
			if n != 0 {
				t.Fatalf("n = %d on error", n)
			}
		})
	}
	const h = "Host: a\r\n"
	post := func(fields string) string { return "POST /p HTTP/1.1\r\n" + h + fields + "\r\n" }

	// Framing: the request smuggling classics.
	f("CL then TE", post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), 400, "both Content-Length and Transfer-Encoding")
	f("TE then CL", post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), 400, "both Content-Length and Transfer-Encoding")
	f("TE unknown and CL", post("Transfer-Encoding: gzip\r\nContent-Length: 5\r\n"), 400, "both Content-Length and Transfer-Encoding")
	f("TE chunked, identity", post("Transfer-Encoding: chunked, identity\r\n"), 400, "chunked is not the final transfer coding")
	f("TE chunked then gzip field", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"), 400, "chunked is not the final transfer coding")
	f("TE chunked twice", post("Transfer-Encoding: chunked, chunked\r\n"), 400, "chunked applied more than once")
	f("TE chunked two fields", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), 400, "chunked applied more than once")
	f("TE identity", post("Transfer-Encoding: identity\r\n"), 501, "unsupported transfer coding")
	f("TE gzip, chunked", post("Transfer-Encoding: gzip, chunked\r\n"), 501, "unsupported transfer coding")
	f("TE xchunked", post("Transfer-Encoding: xchunked\r\n"), 501, "unsupported transfer coding")
	f("TE chunked trailing comma", post("Transfer-Encoding: chunked,\r\n"), 400, "invalid Transfer-Encoding")
	f("TE empty", post("Transfer-Encoding:\r\n"), 400, "invalid Transfer-Encoding")
	f("TE quoted", post("Transfer-Encoding: \"chunked\"\r\n"), 400, "invalid Transfer-Encoding")
	f("TE vertical tab", post("Transfer-Encoding: \x0bchunked\r\n"), 400, "control byte in header field value")
	f("TE NUL", post("Transfer-Encoding: chunked\x00\r\n"), 400, "control byte in header field value")
	f("TE space before colon", post("Transfer-Encoding : chunked\r\n"), 400, "whitespace before header colon")
	f("TE tab before colon", post("Transfer-Encoding\t: chunked\r\n"), 400, "whitespace before header colon")
	f("TE obs-fold", post("Transfer-Encoding:\r\n chunked\r\n"), 400, "obsolete line folding")
	f("TE folded continuation", post("X: a\r\n\tTransfer-Encoding: chunked\r\n"), 400, "obsolete line folding")
	f("TE on HTTP/1.0", "POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Transfer-Encoding in an HTTP/1.0 message")
	f("CL plus sign", post("Content-Length: +5\r\n"), 400, "invalid Content-Length")
	f("CL negative", post("Content-Length: -1\r\n"), 400, "invalid Content-Length")
	f("CL inner space", post("Content-Length: 5 5\r\n"), 400, "invalid Content-Length")
	f("CL hex", post("Content-Length: 0x10\r\n"), 400, "invalid Content-Length")
	f("CL exponent", post("Content-Length: 1e3\r\n"), 400, "invalid Content-Length")
	f("CL empty", post("Content-Length:\r\n"), 400, "invalid Content-Length")
	f("CL huge", post("Content-Length: 99999999999999999999999\r\n"), 400, "invalid Content-Length")
	f("CL past int64", post("Content-Length: 9223372036854775808\r\n"), 400, "invalid Content-Length")
	f("CL 20 digits", post("Content-Length: 10000000000000000000\r\n"), 400, "invalid Content-Length")
	f("CL differing", post("Content-Length: 5\r\nContent-Length: 6\r\n"), 400, "differing Content-Length values")
	f("CL list differing", post("Content-Length: 5, 6\r\n"), 400, "differing Content-Length values")
	f("CL list trailing comma", post("Content-Length: 5,\r\n"), 400, "invalid Content-Length")
	f("CL list empty element", post("Content-Length: 5,,5\r\n"), 400, "invalid Content-Length")
	f("CL space before colon", post("Content-Length : 5\r\n"), 400, "whitespace before header colon")

	// Line endings and control bytes.
	f("LF only", "GET / HTTP/1.1\nHost: a\n\n", 400, "bare LF line ending")
	f("LF field line", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400, "bare LF line ending")
	f("LF end of head", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400, "bare LF line ending")
	f("LF after name", "GET / HTTP/1.1\r\nHost\n\r\n", 400, "bare LF line ending")
	f("LF first line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bare LF line ending")
	f("bare CR request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400, "bare CR")
	f("bare CR value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400, "bare CR")
	f("bare CR end of head", "GET / HTTP/1.1\r\nHost: a\r\n\rX", 400, "bare CR")
	f("bare CR leading", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bare CR")
	f("bare CR in name", "GET / HTTP/1.1\r\nHost: a\r\nX\rY: b\r\n\r\n", 400, "bare CR")
	f("NUL in path", "GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request target")
	f("DEL in path", "GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request target")
	f("tab in path", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request target")
	f("non-ASCII in path", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request target")
	f("fragment in target", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request target")
	f("NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400, "control byte in header field value")
	f("DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400, "control byte in header field value")
	f("SOH in value", "GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n", 400, "control byte in header field value")
	f("NUL in method", "G\x00T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid method")

	// Request line shape.
	f("bad method char", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid method")
	f("empty method", " / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid method")
	f("double SP", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request target")
	f("tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid method")
	f("HTTP/0.9", "GET /\r\n\r\n", 400, "invalid request target")
	f("lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400, "malformed HTTP version")
	f("version trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "malformed HTTP version")
	f("version 1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, "malformed HTTP version")
	f("version 2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "HTTP version not supported")
	f("version 3.0", "GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505, "HTTP version not supported")
	f("h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "HTTP version not supported")
	f("CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501, "CONNECT is not supported")
	f("asterisk GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "asterisk-form target with a method other than OPTIONS")
	f("asterisk with more", "OPTIONS *a HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request target")
	f("authority-form GET", "GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request target")
	f("relative path", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request target")
	f("ftp scheme", "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid request target")
	f("absolute empty host", "GET http:///a HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid absolute-form target")
	f("absolute userinfo", "GET http://u:p@h/a HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid absolute-form target")

	// Host.
	f("missing Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400, "missing Host header")
	f("missing Host on HTTP/1.9 (handled as 1.1)", "GET / HTTP/1.9\r\n\r\n", 400, "missing Host header")
	f("missing Host absolute", "GET http://h/ HTTP/1.1\r\n\r\n", 400, "missing Host header")
	f("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400, "multiple Host headers")
	f("Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid Host")
	f("Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, "invalid Host")
	f("Host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "invalid Host")
	f("Host unclosed IPv6", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, "invalid Host")
	f("Host bad port", "GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", 400, "invalid Host")
	f("Host two ports", "GET / HTTP/1.1\r\nHost: a:80:90\r\n\r\n", 400, "invalid Host")
	f("Host stray bracket", "GET / HTTP/1.1\r\nHost: a]\r\n\r\n", 400, "invalid Host")
	f("Host after IPv6", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 400, "invalid Host")
	f("Host bad percent", "GET / HTTP/1.1\r\nHost: adm%zzin\r\n\r\n", 400, "invalid Host")
	// An http URI with an empty host is invalid (RFC 9110 §4.2.1), as
	// nginx and HTTP/2's empty :authority have it.
	f("empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 400, "invalid Host")
	f("blank Host", "GET / HTTP/1.1\r\nHost:   \r\n\r\n", 400, "invalid Host")
	f("Host port only", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400, "invalid Host")
	f("empty Host on HTTP/1.0", "GET / HTTP/1.0\r\nHost:\r\n\r\n", 400, "invalid Host")
	f("Host trailing percent", "GET / HTTP/1.1\r\nHost: a%\r\n\r\n", 400, "invalid Host")
	f("Host short percent", "GET / HTTP/1.1\r\nHost: a%4\r\n\r\n", 400, "invalid Host")
	// Sub-delims and percent-encoding name no DNS host, and they pass a
	// "*.example.com" route while X-Forwarded-Host readers split on ','.
	for _, h := range []string{"evil.com,a.example.com", "evil.com;a.example.com", "evil.com'a.example.com",
		"a%41.example.com", "a!b", "a$b", "a&b", "a(b)", "a*b", "a+b", "a=b", "[v1.x]", "[fe80::1%25eth0]", "[::1,]",
		"[]", "[]:80", "[abc]", "[1.2.3.4]", "[:::]"} {
		f("Host "+h, "GET / HTTP/1.1\r\nHost: "+h+"\r\n\r\n", 400, "invalid Host")
	}
	f("absolute-form with a comma", "GET http://evil.com,a.example.com/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid absolute-form target")
	f("absolute bad percent", "GET http://a%/x HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid absolute-form target")
	f("absolute bad port", "GET http://h:x/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid absolute-form target")

	// Field syntax.
	f("whitespace before first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, "obsolete line folding")
	f("empty field name", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400, "invalid header field name")
	f("field without colon", "GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n", 400, "invalid header field name")
	f("bad field name char", "GET / HTTP/1.1\r\nHost: a\r\nX(y): v\r\n\r\n", 400, "invalid header field name")
	f("non-ASCII field name", "GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: v\r\n\r\n", 400, "invalid header field name")

	// Limits (maxHeaderBytes = 1024 above).
	long := strings.Repeat("a", 1100)
	f("line too long", "GET /"+long+" HTTP/1.1\r\nHost: a\r\n\r\n", 414, "request line too long")
	f("line too long partial", "GET /"+long, 414, "request line too long")
	f("head too large", "GET / HTTP/1.1\r\nHost: a\r\nX: "+long+"\r\n\r\n", 431, "head too large")
	f("head too large partial", "GET / HTTP/1.1\r\nHost: a\r\nX: "+long, 431, "head too large")
	f("head too large many small", "GET / HTTP/1.1\r\n"+strings.Repeat("X-Long-Name: yyyyy\r\n", 60), 431, "head too large")

	// Garbage is rejected before the head is complete.
	f("TLS hello", "\x16\x03\x01\x02\x00\x01", 400, "invalid method")
	f("partial bad target", "GET /a\x01", 400, "invalid request target")
	f("partial bad version", "GET / HTTQ", 400, "malformed HTTP version")
	f("partial bare LF version", "GET / HTTP/1.1\n", 400, "bare LF line ending")
	f("partial bad field", "GET / HTTP/1.1\r\nHost: a\r\nX y", 400, "whitespace before header colon")
}

// TestParseRequestNeedMore feeds every proper prefix of valid heads: each
// must ask for more, never succeed or fail.
// TestParseRequestTooManyFields: one field past MaxFields is 431 even
// when the head fits the byte limit.
func TestParseRequestTooManyFields(t *testing.T) {
	in := "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X:\r\n", MaxFields) + "\r\n"
	var r Request
	_, err := ParseRequest([]byte(in), &r, 8192)
	if e := toError(t, err); e.Status != 431 || e.Reason != "too many header fields" {
		t.Fatalf("got %d %q", e.Status, e.Reason)
	}
}

func TestParseRequestNeedMore(t *testing.T) {
	heads := []string{
		browserHead,
		"\r\nGET http://h/a?b HTTP/1.0\r\nHost: h\r\nContent-Length: 3\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
	}
	var r Request
	for _, h := range heads {
		for i := 0; i < len(h); i++ {
			if n, err := ParseRequest([]byte(h[:i]), &r, len(h)); err != ErrNeedMore {
				t.Fatalf("ParseRequest(%q) = %d, %v; want ErrNeedMore", h[:i], n, err)
			}
		}
		if n, err := ParseRequest([]byte(h), &r, len(h)); err != nil || n != len(h) {
			t.Fatalf("ParseRequest(%q) = %d, %v", h, n, err)
		}
	}
}

// TestParseRequestLimitBoundary pins the exact meaning of maxHeaderBytes:
// a head of exactly maxHeaderBytes bytes is accepted.
func TestParseRequestLimitBoundary(t *testing.T) {
	h := "GET /abc HTTP/1.1\r\nHost: a\r\n\r\n"
	var r Request
	if _, err := ParseRequest([]byte(h), &r, len(h)); err != nil {
		t.Fatalf("head of exactly the limit: %v", err)
	}
	_, err := ParseRequest([]byte(h), &r, len(h)-1)
	if e := toError(t, err); e.Status != 431 {
		t.Fatalf("head one over the limit: %v", err)
	}
	line := "GET /abc HTTP/1.1\r\n"
	_, err = ParseRequest([]byte(h), &r, len(line)-1)
	if e := toError(t, err); e.Status != 414 {
		t.Fatalf("line one over the limit: %v", err)
	}
	// Within the limit but incomplete: ask for more.
	if _, err := ParseRequest([]byte(h[:len(h)-1]), &r, len(h)); err != ErrNeedMore {
		t.Fatalf("incomplete: %v", err)
	}
}

func TestParseRequestPipelined(t *testing.T) {
	in := "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello" +
		"GET /b HTTP/1.1\r\nHost: h\r\n\r\n" +
		"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
		"\r\nGET /d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
	buf := []byte(in)
	var (
		r      Request
		d      ChunkedDecoder
		paths  []string
		bodies []string
	)
	for i := 0; len(buf) > 0 && i < 10; i++ {
		n, err := ParseRequest(buf, &r, 0)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		paths = append(paths, string(r.Path))
		buf = buf[n:]
		switch r.BodyKind() {
		case BodyContentLength:
			bodies = append(bodies, string(buf[:r.ContentLength]))
			buf = buf[r.ContentLength:]
		case BodyChunked:
			d.Reset()
			var body []byte
			for j := 0; j < 10; j++ {
				c, data, done, err := d.Decode(buf)
				if err != nil {
					t.Fatal(err)
				}
				body = append(body, data...)
				buf = buf[c:]
				if done {
					break
				}
			}
			bodies = append(bodies, string(body))
		default:
			bodies = append(bodies, "")
		}
	}
	if got := strings.Join(paths, ","); got != "/a,/b,/c,/d" {
		t.Fatalf("paths = %s", got)
	}
	if got := strings.Join(bodies, ","); got != "hello,,abc," {
		t.Fatalf("bodies = %q", got)
	}
	if r.KeepAlive {
		t.Fatal("last request should close")
	}
}

func TestRequestReuse(t *testing.T) {
	var r Request
	if _, err := ParseRequest([]byte(browserHead), &r, 0); err != nil {
		t.Fatal(err)
	}
	c := cap(r.Fields)
	if _, err := ParseRequest([]byte("GET /x HTTP/1.0\r\n\r\n"), &r, 0); err != nil {
		t.Fatal(err)
	}
	if len(r.Fields) != 0 || cap(r.Fields) != c || r.Host != nil || r.Query != nil || r.KeepAlive {
		t.Fatalf("not reset: %+v", r)
	}
	if _, err := ParseRequest([]byte("bad"), &r, 0); err == nil || r.Method != nil {
		t.Fatalf("state after error: %v %+v", err, r)
	}
}

func TestErrorSentinels(t *testing.T) {
	var r Request
	_, err1 := ParseRequest([]byte("GET / HTTP/1.1\nHost: a\n\n"), &r, 0)
	_, err2 := ParseRequest([]byte("GET /x HTTP/1.1\nHost: b\n\n"), &r, 0)
	if err1 != err2 {
		t.Fatal("rejections are not shared sentinels")
	}
	e := toError(t, err1)
	if e.Code != "bad_request" || e.Error() != "parser: bare LF line ending" {
		t.Fatalf("got %q %q", e.Code, e.Error())
	}
	u := UpstreamError(err1)
	if u.Status != 502 || u.Code != "bad_gateway" || u.Reason != "upstream: bare LF line ending" {
		t.Fatalf("UpstreamError = %+v", u)
	}
	if w := UpstreamError(fmt.Errorf("cannot parse: %w", err1)); w != u {
		t.Fatalf("UpstreamError(wrapped) = %v", w)
	}
	if UpstreamError(ErrNeedMore) != nil {
		t.Fatal("UpstreamError(ErrNeedMore) != nil")
	}
	if ErrBodyTooLarge == nil || ErrBodyTooLarge.Status != 413 || ErrBodyTooLarge.Code != "payload_too_large" {
		t.Fatalf("ErrBodyTooLarge = %+v", ErrBodyTooLarge)
	}
	codes := map[int]string{400: "bad_request", 413: "payload_too_large", 414: "uri_too_long", 431: "header_too_large",
		501: "not_implemented", 505: "http_version_not_supported"}
	for k := errKind(1); k < numErrKinds; k++ {
		e := reqErrs[k]
		if codes[e.Status] != e.Code || e.Reason == "" {
			t.Errorf("kind %d: %+v", k, e)
		}
	}
}
