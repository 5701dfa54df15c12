package edge

import (
	"bytes"
	"testing"
)

func TestRawHost(t *testing.T) {
	for _, c := range []struct{ head, want string }{
		{"GET / HTTP/1.1\r\nHost: a.example\r\nX: 1\r\n", "a.example"},
		{"GET / HTTP/1.1\r\nX: 1\r\nhOsT:   b.example \t\r\n", "b.example"},
		{"GET / HTTP/1.1\r\nHost: partial", ""}, // still arriving
		{"GET / HTTP/1.1\r\nX-Host: no\r\n", ""},
		{"GET / HTTP/1.1\nHost: lf\n", "lf"},
		{"GET / HTTP/1.1\r\nHost: " + string(bytes.Repeat([]byte("h"), 300)) + "\r\n", string(bytes.Repeat([]byte("h"), 256))},
		{"", ""},
		{"GET / HTTP/1.1\r\nX: 1\r\n\r\nGET /next HTTP/1.1\r\nHost: next\r\n", ""}, // not the next request's
	} {
		if got := string(rawHost([]byte(c.head))); got != c.want {
			t.Errorf("rawHost(%.40q) = %q, want %q", c.head, got, c.want)
		}
	}
}
