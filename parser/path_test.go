package parser

import "testing"

func TestNormalizePath(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		prefix := []byte("keep:")
		got, err := NormalizePath(prefix, []byte(in))
		if err != nil {
			t.Fatalf("NormalizePath(%q): %v", in, err)
		}
		if string(got) != "keep:"+want {
			t.Fatalf("NormalizePath(%q) = %q, want %q", in, got[5:], want)
		}
		again, err := NormalizePath(nil, got[5:])
		if err != nil || string(again) != want {
			t.Fatalf("not idempotent: %q -> %q, %v", want, again, err)
		}
	}
	f("/", "/")
	f("/a/b", "/a/b")
	f("/a/b/", "/a/b/")
	f("//", "//")
	f("/a//b", "/a//b")
	f("/a/./b", "/a/b")
	f("/a/.", "/a/")
	f("/./", "/")
	f("/.", "/")
	f("/..", "/")
	f("/../", "/")
	f("/../a", "/a")
	f("/a/..", "/")
	f("/a/../", "/")
	f("/a/b/..", "/a/")
	f("/a/b/../c", "/a/c")
	f("/a/b/c/./../../g", "/a/g")
	f("/mid/content=5/../6", "/mid/6")
	f("/../../../etc/passwd", "/etc/passwd")
	f("//..", "/")
	f("//a/..", "//")
	f("/a/...", "/a/...")
	f("/a/..b/.c", "/a/..b/.c")
	f("/a/%2e%2e/b", "/b")
	f("/a/%2E%2E/b", "/b")
	f("/a/.%2e/b", "/b")
	f("/a/%2e/b", "/a/b")
	f("/public/%2e%2e/admin", "/admin")
	f("/%7Euser/%41%62c", "/~user/Abc")
	f("/a%2db%5fc%2E", "/a-b_c.")
	f("/a%20b", "/a%20b")
	f("/a%c3%a9", "/a%C3%A9")
	f("/a%3fb%23c", "/a%3Fb%23c")
	f("/a%25", "/a%25")
	f("/a%252e%252e/", "/a%252e%252e/")
	f("/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;=")
	f("/a|b{c}\"<>^`[]", "/a%7Cb%7Bc%7D%22%3C%3E%5E%60%5B%5D")
	f("/caf\xc3\xa9", "/caf%C3%A9")
	f("/a b", "/a%20b")
	f("/a?b#c", "/a%3Fb%23c")
}

func TestNormalizePathReject(t *testing.T) {
	f := func(in, reason string) {
		t.Helper()
		dst := []byte("x")
		got, err := NormalizePath(dst, []byte(in))
		if err == nil {
			t.Fatalf("NormalizePath(%q) = %q, want error %q", in, got, reason)
		}
		if e := toError(t, err); e.Status != 400 || e.Reason != reason {
			t.Fatalf("NormalizePath(%q): %d %q, want %q", in, e.Status, e.Reason, reason)
		}
		if string(got) != "x" {
			t.Fatalf("dst changed on error: %q", got)
		}
	}
	f("", "path does not start with /")
	f("a/b", "path does not start with /")
	f("*", "path does not start with /")
	f("%2F", "path does not start with /")
	f("/a%2Fb", "encoded / or \\ in path")
	f("/a%2fb", "encoded / or \\ in path")
	f("/a%5Cb", "encoded / or \\ in path")
	f("/a%5cb", "encoded / or \\ in path")
	f("/a%00b", "NUL in path")
	f("/a\x00b", "NUL in path")
	f("/a\\b", "backslash in path")
	f("/public\\..\\admin", "backslash in path")
	f("/a\x01", "control byte in path")
	f("/a\x7f", "control byte in path")
	f("/a\tb", "control byte in path")
	f("/a%zz", "invalid percent-encoding in path")
	f("/a%4", "invalid percent-encoding in path")
	f("/a%", "invalid percent-encoding in path")
	f("/a%g1", "invalid percent-encoding in path")
	f("/a%1g/b", "invalid percent-encoding in path")
}
