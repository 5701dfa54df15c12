package policy

import (
	"strings"
	"testing"
)

func TestParseTokenSource(t *testing.T) {
	good := map[string]TokenSource{
		"header:Authorization": {FromHeader, "Authorization"},
		"query:access_token":   {FromQuery, "access_token"},
		"cookie:session":       {FromCookie, "session"},
		"header:X-API-Key":     {FromHeader, "X-API-Key"},
	}
	for in, want := range good {
		got, err := ParseTokenSource(in)
		if err != nil || got != want || got.String() != in {
			t.Fatalf("ParseTokenSource(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "header", "header:", "body:x", "Header:Authorization", "header:X Y", "query:a&b", "cookie:a;b", "query:a=b", "header:é", "query:a%20"} {
		if _, err := ParseTokenSource(in); err == nil {
			t.Fatalf("ParseTokenSource(%q) accepted", in)
		}
	}
}

func TestBearerToken(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		got := BearerToken([]byte(in))
		if string(got) != want || (want == "" && got != nil) {
			t.Fatalf("BearerToken(%q) = %q, want %q", in, got, want)
		}
	}
	f("Bearer abc", "abc")
	f("bearer abc", "abc")
	f("BEARER   abc  ", "abc")
	f("  Bearer abc", "abc")
	f("Bearer", "")
	f("Bearer ", "")
	f("Bearerabc", "")
	f("Basic abc", "")
	f("Bearer\tabc", "")
	f("", "")
}

func TestQueryAndCookie(t *testing.T) {
	q := func(raw, name, want string, present bool) {
		t.Helper()
		v, ok := QueryParam([]byte(raw), name)
		if string(v) != want || ok != present {
			t.Fatalf("QueryParam(%q, %q) = %q %v", raw, name, v, ok)
		}
	}
	q("a=1&access_token=xyz&b=2", "access_token", "xyz", true)
	q("access_token=first&access_token=second", "access_token", "first", true)
	q("access_token", "access_token", "", true)
	q("xaccess_token=1", "access_token", "", false)
	q("", "a", "", false)
	q("&&a=1&&", "a", "1", true)
	q("access%5Ftoken=enc&access_token=plain", "access_token", "enc", true)
	q("access%5Gtoken=bad", "access_token", "", false)
	q("a+b=1", "a b", "1", true)

	c := func(raw, name, want string, present bool) {
		t.Helper()
		v, ok := CookieValue([]byte(raw), name)
		if string(v) != want || ok != present {
			t.Fatalf("CookieValue(%q, %q) = %q %v", raw, name, v, ok)
		}
	}
	c("session=abc", "session", "abc", true)
	c("a=1; session=abc; b=2", "session", "abc", true)
	c("a=1;session=\"abc\"", "session", "abc", true)
	c("xsession=abc", "session", "", false)
	c("session", "session", "", false)
	c("", "session", "", false)

	sq := func(raw, name, want string, n int) {
		t.Helper()
		got, removed := StripQueryParams(nil, []byte(raw), strings.Split(name, ","))
		if string(got) != want || removed != n {
			t.Fatalf("StripQueryParams(%q, %q) = %q %d", raw, name, got, removed)
		}
	}
	sq("a=1&access_token=x&b=2", "access_token", "a=1&b=2", 1)
	sq("access_token=x", "access_token", "", 1)
	sq("access_token=x&access_token=y&z", "access_token", "z", 2)
	sq("a=1&b=2", "access_token", "a=1&b=2", 0)
	sq("access_token", "access_token", "", 1)
	// Names match as the application decodes them.
	sq("access%5Ftoken=x&a=1&access_%74oken=y&access%5ftoken=z", "access_token", "a=1", 3)
	sq("access%5Ftoke=x&access%5=y&access_token%00=z", "access_token", "access%5Ftoke=x&access%5=y&access_token%00=z", 0)
	sq("access_token=x&api_key=y&b=2", "access_token,api_key", "b=2", 2)
	sq("a=1&&access_token=x&b=2&", "access_token", "a=1&&b=2&", 1) // other bytes kept, empty parameters too

	sc := func(raw, name, want string, n int) {
		t.Helper()
		got, removed := StripCookies(nil, []byte(raw), strings.Split(name, ","))
		if string(got) != want || removed != n {
			t.Fatalf("StripCookies(%q, %q) = %q %d", raw, name, got, removed)
		}
	}
	sc("a=1; session=x; b=2", "session", "a=1; b=2", 1)
	sc("session=x", "session", "", 1)
	sc("a=1;session=x;session=y", "session", "a=1", 2)
	sc("a=1", "session", "a=1", 0)
	sc("a=1; session=x; sid=y; b=2", "session,sid", "a=1; b=2", 2)

	d := func(in, want string, ok bool) {
		t.Helper()
		got, good := DecodeQueryValue(nil, []byte(in))
		if good != ok || (ok && string(got) != want) {
			t.Fatalf("DecodeQueryValue(%q) = %q %v", in, got, good)
		}
	}
	d("abc", "abc", true)
	d("a%2Eb+c", "a.b c", true)
	d("%4", "", false)
	d("%zz", "", false)
	d("%", "", false)
}

// where names a JWKS URL in logs and errors without its query or
// credentials.
func TestJWKSSourceWhereHidesSecrets(t *testing.T) {
	for in, want := range map[string]string{
		"https://id.example.com/jwks?token=s3cret": "https://id.example.com/jwks",
		"https://u:p@id.example.com/keys#frag":     "https://id.example.com/keys",
		"http://127.0.0.1:9000/jwks.json":          "http://127.0.0.1:9000/jwks.json",
	} {
		if got := (&jwksSource{url: in}).where(); got != want {
			t.Errorf("where(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (&jwksSource{file: "/etc/portico/jwks.json"}).where(); got != "/etc/portico/jwks.json" {
		t.Errorf("file source: %q", got)
	}
}
