package parser

import (
	"strings"
	"testing"
)

func TestEqualFold(t *testing.T) {
	f := func(a, b string, want bool) {
		t.Helper()
		if EqualFoldString([]byte(a), b) != want || EqualFold([]byte(a), []byte(b)) != want {
			t.Fatalf("EqualFold(%q, %q) != %v", a, b, want)
		}
	}
	f("", "", true)
	f("Content-Length", "content-length", true)
	f("CONTENT-LENGTH", "Content-Length", true)
	f("Content-Lengtx", "Content-Length", false)
	f("a", "ab", false)
	f("[", "{", false) // differ by 0x20 but are not letters
	f("@", "`", false)
	f("\xc9", "\xe9", false) // no Latin-1 folding
	f("Ⅻ", "ⅻ", false)       // no Unicode folding
}

func TestIsHopByHop(t *testing.T) {
	for _, n := range []string{"Connection", "keep-alive", "PROXY-CONNECTION", "te", "Trailer",
		"transfer-encoding", "upgrade"} {
		if !IsHopByHop([]byte(n)) {
			t.Errorf("IsHopByHop(%q) = false", n)
		}
	}
	for _, n := range []string{"", "Host", "Trailers", "Content-Length", "X-Forwarded-For", "TEE", "Connectio"} {
		if IsHopByHop([]byte(n)) {
			t.Errorf("IsHopByHop(%q) = true", n)
		}
	}
}

func TestConnectionNamesOthers(t *testing.T) {
	for _, tc := range []struct {
		fields []string // name, value pairs
		want   bool
	}{
		{nil, false},
		{[]string{"Host", "a"}, false},
		{[]string{"Connection", "keep-alive"}, false},
		{[]string{"connection", "Close"}, true}, // a field named Close is dropped, as before
		{[]string{"Connection", " keep-alive ,, Upgrade, TE , transfer-encoding"}, false},
		{[]string{"Connection", ""}, false},
		{[]string{"Connection", "keep-alive, X-Secret"}, true},
		{[]string{"Connection", "close", "CONNECTION", "x-other"}, true},
		{[]string{"Connectio", "x-other"}, false},
		{[]string{"Connection", "closed"}, true},
	} {
		var fields []Field
		for i := 0; i < len(tc.fields); i += 2 {
			fields = append(fields, Field{[]byte(tc.fields[i]), []byte(tc.fields[i+1])})
		}
		if got := ConnectionNamesOthers(fields); got != tc.want {
			t.Errorf("ConnectionNamesOthers(%q) = %v, want %v", tc.fields, got, tc.want)
		}
	}
}

func TestConnectionLists(t *testing.T) {
	fields := []Field{
		{[]byte("Host"), []byte("a")},
		{[]byte("connection"), []byte("keep-alive, X-Secret ,,  x-other")},
		{[]byte("CONNECTION"), []byte("Upgrade")},
		{[]byte("X-Secret"), []byte("1")},
	}
	f := func(name string, want bool) {
		t.Helper()
		if ConnectionLists(fields, []byte(name)) != want {
			t.Fatalf("ConnectionLists(%q) != %v", name, want)
		}
	}
	f("x-secret", true)
	f("X-OTHER", true)
	f("upgrade", true)
	f("Host", false)
	f("X-Secre", false)
	f("", false) // empty list elements never match a name
	if !IsHopByHopIn(fields, []byte("X-Secret")) || !IsHopByHopIn(fields, []byte("TE")) ||
		IsHopByHopIn(fields, []byte("Host")) {
		t.Fatal("IsHopByHopIn")
	}
	if !TokenListContains([]byte("gzip, Chunked"), "chunked") || TokenListContains([]byte("gzip"), "chunked") {
		t.Fatal("TokenListContains")
	}
	if v, ok := Lookup(fields, "x-secret"); !ok || string(v) != "1" {
		t.Fatal("Lookup")
	}
	if _, ok := Lookup(fields, "nope"); ok {
		t.Fatal("Lookup found a missing field")
	}
}

func TestValidators(t *testing.T) {
	f := func(id string, want bool) {
		t.Helper()
		if ValidRequestID([]byte(id)) != want {
			t.Fatalf("ValidRequestID(%q) != %v", id, want)
		}
	}
	f("0f8fad5b-d9cb-469f-a165-70867728950e", true)
	f("abc.DEF_123~!#$%&'*+^`|", true)
	f(strings.Repeat("a", 128), true)
	f(strings.Repeat("a", 129), false)
	f("", false)
	f("a b", false)
	f("a/b", false)
	f("a=b", false)
	f("a\x00", false)
	f("caf\xc3\xa9", false)
	f("\"quoted\"", false)

	for v, want := range map[string]bool{"": true, "a b\tc": true, "\xff": true, " a": false,
		"a ": false, "a\x00": false, "a\r\nX: y": false, "a\x7f": false} {
		if ValidFieldValue([]byte(v)) != want {
			t.Errorf("ValidFieldValue(%q) != %v", v, want)
		}
	}
}

func TestHeadEnd(t *testing.T) {
	f := func(in string, from, want int) {
		t.Helper()
		if got := HeadEnd([]byte(in), from); got != want {
			t.Fatalf("HeadEnd(%q, %d) = %d, want %d", in, from, got, want)
		}
	}
	f("", 0, -1)
	f("GET / HTTP/1.1\r\nHost: a\r\n", 0, -1)
	f("GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY", 0, 27)
	f("GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY", 26, 27) // split inside the terminator
	f("GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY", 27, 27)
	f("GET / HTTP/1.1\nHost: a\n\nBODY", 0, 24)
	f("a\r\n\r", 0, -1)
	// Every split point of a head finds the same end.
	h := browserHead + "body"
	for from := 0; from <= len(browserHead); from++ {
		if got := HeadEnd([]byte(h), from); got != len(browserHead) {
			t.Fatalf("from %d: %d", from, got)
		}
	}
}

func TestAppendHelpers(t *testing.T) {
	b := AppendStatusLine(nil, 200, "")
	b = AppendStatusLine(b, 431, "")
	b = AppendStatusLine(b, 299, "")
	b = AppendStatusLine(b, 503, "Busy")
	b = AppendStatusLine(b, 7, "")
	b = AppendField(b, []byte("X-Request-Id"), []byte("abc"))
	want := "HTTP/1.1 200 OK\r\nHTTP/1.1 431 Request Header Fields Too Large\r\nHTTP/1.1 299 Status\r\n" +
		"HTTP/1.1 503 Busy\r\nHTTP/1.1 500 Internal Server Error\r\nX-Request-Id: abc\r\n"
	if string(b) != want {
		t.Fatalf("got %q", b)
	}
	var r Response
	if _, err := ParseResponse(AppendStatusLine(nil, 404, ""), &r, 0); err != ErrNeedMore {
		t.Fatal(err)
	}
	for _, s := range []int{100, 101, 200, 201, 202, 204, 206, 301, 302, 304, 307, 308, 400, 401, 403,
		404, 405, 408, 411, 413, 414, 417, 429, 431, 500, 501, 502, 503, 504, 505} {
		line := append(AppendStatusLine(nil, s, ""), "\r\n"...)
		if _, err := ParseResponse(line, &r, 0); err != nil || r.Status != s || string(r.Reason) == "Status" {
			t.Errorf("status %d: %q %v", s, line, err)
		}
	}
}
