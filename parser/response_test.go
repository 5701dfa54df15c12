package parser

import (
	"strings"
	"testing"
)

const typicalResponse = "HTTP/1.1 200 OK\r\n" +
	"Content-Type: application/json; charset=utf-8\r\n" +
	"Content-Length: 1234\r\n" +
	"Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n" +
	"Cache-Control: no-cache\r\n" +
	"Vary: Accept-Encoding\r\n" +
	"X-Upstream: orders-1\r\n" +
	"\r\n"

func TestParseResponseAccept(t *testing.T) {
	f := func(name, in string, check func(t *testing.T, r *Response)) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			var r Response
			n, err := ParseResponse([]byte(in+"BODY"), &r, 0)
			if err != nil {
				t.Fatalf("ParseResponse(%q): %v", in, err)
			}
			if n != len(in) || r.HeadLen != n {
				t.Fatalf("n = %d, want %d", n, len(in))
			}
			check(t, &r)
		})
	}
	f("typical", typicalResponse, func(t *testing.T, r *Response) {
		if r.Status != 200 || string(r.Reason) != "OK" || r.ContentLength != 1234 || !r.KeepAlive ||
			len(r.Fields) != 6 || r.ProtoMinor != 1 {
			t.Fatalf("unexpected %+v", r)
		}
	})
	f("no reason", "HTTP/1.1 204 \r\n\r\n", func(t *testing.T, r *Response) {
		if r.Status != 204 || len(r.Reason) != 0 {
			t.Fatalf("unexpected %+v", r)
		}
	})
	f("no SP before empty reason", "HTTP/1.1 204\r\n\r\n", func(t *testing.T, r *Response) {
		if r.Status != 204 {
			t.Fatalf("unexpected %+v", r)
		}
	})
	f("reason with spaces and obs-text", "HTTP/1.1 404 Not \xe9 Found\r\n\r\n", func(t *testing.T, r *Response) {
		if string(r.Reason) != "Not \xe9 Found" {
			t.Fatalf("Reason = %q", r.Reason)
		}
	})
	f("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", func(t *testing.T, r *Response) {
		if !r.Chunked || r.ContentLength != -1 {
			t.Fatalf("unexpected %+v", r)
		}
	})
	f("HTTP/1.0 default close", "HTTP/1.0 200 OK\r\n\r\n", func(t *testing.T, r *Response) {
		if r.KeepAlive || r.ProtoMinor != 0 {
			t.Fatalf("unexpected %+v", r)
		}
	})
	f("HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", func(t *testing.T, r *Response) {
		if !r.KeepAlive {
			t.Fatalf("unexpected %+v", r)
		}
	})
	f("close", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", func(t *testing.T, r *Response) {
		if r.KeepAlive {
			t.Fatalf("unexpected %+v", r)
		}
	})
	f("100 continue", "HTTP/1.1 100 Continue\r\n\r\n", func(t *testing.T, r *Response) {
		if r.Status != 100 {
			t.Fatalf("unexpected %+v", r)
		}
	})
	f("duplicate Host is not checked", "HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n\r\n", func(t *testing.T, r *Response) {})
}

func TestParseResponseTooManyFields(t *testing.T) {
	in := "HTTP/1.1 200 OK\r\n" + strings.Repeat("X:\r\n", MaxFields+1) + "\r\n"
	var r Response
	_, err := ParseResponse([]byte(in), &r, 8192)
	if e := toError(t, err); e.Status != 502 || e.Reason != "upstream: too many header fields" {
		t.Fatalf("got %d %q", e.Status, e.Reason)
	}
}

func TestParseResponseReject(t *testing.T) {
	f := func(name, in string, reason string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			var r Response
			_, err := ParseResponse([]byte(in), &r, 1024)
			if err == nil {
				t.Fatalf("ParseResponse(%q) accepted", in)
			}
			e := toError(t, err)
			if e.Status != 502 || e.Code != "bad_gateway" || e.Reason != "upstream: "+reason {
				t.Fatalf("ParseResponse(%q): got %d %s %q, want 502 %q", in, e.Status, e.Code, e.Reason, reason)
			}
		})
	}
	f("CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "both Content-Length and Transfer-Encoding")
	f("CL differing", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", "differing Content-Length values")
	f("CL invalid", "HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n", "invalid Content-Length")
	f("TE gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "invalid Transfer-Encoding")
	f("TE gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "invalid Transfer-Encoding")
	f("TE chunked, gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "chunked is not the final transfer coding")
	f("TE on 1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "Transfer-Encoding in an HTTP/1.0 message")
	f("obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", "obsolete line folding")
	f("space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\n", "whitespace before header colon")
	f("bare LF", "HTTP/1.1 200 OK\nContent-Length: 3\n\n", "bare LF line ending")
	f("bare LF no reason", "HTTP/1.1 200\n\n", "bare LF line ending")
	f("bare CR", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", "bare CR")
	f("NUL in value", "HTTP/1.1 200 OK\r\nX: a\x00\r\n\r\n", "control byte in header field value")
	f("control in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", "malformed status line")
	f("status 2 digits", "HTTP/1.1 20 OK\r\n\r\n", "invalid status code")
	f("status 4 digits", "HTTP/1.1 2000 OK\r\n\r\n", "malformed status line")
	f("status 099", "HTTP/1.1 099 X\r\n\r\n", "invalid status code")
	f("status 600", "HTTP/1.1 600 X\r\n\r\n", "invalid status code")
	f("HTTP/2", "HTTP/2.0 200 OK\r\n\r\n", "HTTP version not supported")
	f("lowercase", "http/1.1 200 OK\r\n\r\n", "malformed HTTP version")
	f("garbage", "<html>", "malformed status line")
	f("garbage long", "SSH-2.0-OpenSSH_9.6\r\n", "malformed HTTP version")
	f("head too large", "HTTP/1.1 200 OK\r\nX: "+strings.Repeat("a", 2000)+"\r\n\r\n", "head too large")
}

func TestParseResponseNeedMore(t *testing.T) {
	var r Response
	for _, h := range []string{typicalResponse, "HTTP/1.0 204\r\n\r\n"} {
		for i := 0; i < len(h); i++ {
			if n, err := ParseResponse([]byte(h[:i]), &r, 0); err != ErrNeedMore {
				t.Fatalf("ParseResponse(%q) = %d, %v; want ErrNeedMore", h[:i], n, err)
			}
		}
	}
}

func TestResponseBodyKind(t *testing.T) {
	f := func(head bool, in string, want BodyKind) {
		t.Helper()
		var r Response
		if _, err := ParseResponse([]byte(in), &r, 0); err != nil {
			t.Fatalf("ParseResponse(%q): %v", in, err)
		}
		if got := ResponseBodyKind(head, &r); got != want {
			t.Fatalf("ResponseBodyKind(%v, %q) = %v, want %v", head, in, got, want)
		}
	}
	f(false, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", BodyContentLength)
	f(true, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", BodyNone)
	f(true, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", BodyNone)
	f(false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", BodyChunked)
	f(false, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", BodyNone)
	f(false, "HTTP/1.1 200 OK\r\n\r\n", BodyUntilClose)
	f(false, "HTTP/1.0 200 OK\r\n\r\n", BodyUntilClose)
	f(false, "HTTP/1.1 100 Continue\r\n\r\n", BodyNone)
	f(false, "HTTP/1.1 101 Switching Protocols\r\n\r\n", BodyNone)
	f(false, "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", BodyNone)
	f(false, "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", BodyNone)
	f(false, "HTTP/1.1 404 Not Found\r\n\r\n", BodyUntilClose)
	for k, s := range map[BodyKind]string{BodyNone: "none", BodyContentLength: "content-length",
		BodyChunked: "chunked", BodyUntilClose: "until-close", 9: "invalid"} {
		if k.String() != s {
			t.Errorf("%d.String() = %q", k, k.String())
		}
	}
}
