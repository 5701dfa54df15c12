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
	sq("access%5Ftoke=x&access%5=y&access_tokens=z", "access_token", "access%5Ftoke=x&access%5=y&access_tokens=z", 0)
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

// TestCredentialTwins: every name some application reads as a credential
// name is stripped (PHP renames '.', ' ' and '[' to '_' and stops at a
// NUL, ASP.NET Core ignores case, Rack 2 splits the query on ';' too),
// and a credential present twice with different values is refused.
func TestCredentialTwins(t *testing.T) {
	folds := []struct {
		raw, name string
		want      bool
	}{
		{"access_token", "access_token", true},
		{"access.token", "access_token", true},
		{"access+token", "access_token", true},
		{"access%20token", "access_token", true},
		{"access[token", "access_token", true},
		{"access%2Etoken", "access_token", true},
		{"access%2etoken", "access_token", true},
		{"ACCESS_TOKEN", "access_token", true},
		{"Access.Token", "access_token", true},
		{"+access_token", "access_token", true},       // PHP drops leading spaces
		{"access_token+", "access_token", true},       // trimming readers
		{"access_token%00junk", "access_token", true}, // PHP stops at NUL
		{"access_token[]", "access_token", true},      // PHP/Rack array
		{"access_token[x]", "access_token", true},
		{"[access_token]", "access_token", true}, // Rack 2, qs
		{"%5Baccess_token%5D", "access_token", true},
		{"access_token]", "access_token", true},
		{"access_token%5D", "access_token", true},
		{"]access_token", "access_token", true},
		{"[[access_token", "access_token", true},
		{"[]access_token]]", "access_token", true},
		{"access_token][", "access_token", true},
		{"x[access_token]", "access_token", false}, // a hash x
		{"[access]_token", "access_token", false},
		{"%C5%BFession", "session", true}, // U+017F ſ upper-cases to S
		{"ſession", "session", true},
		{"toKen", "token", true},
		{"%E2%84%AAey", "key", true}, // U+212A Kelvin sign
		{"ıd", "id", true},           // U+0131 upper-cases to I
		{"İd", "id", true},           // U+0130 lower-cases to i
		{"auth.token", "auth_token", true},
		{"api.key", "api_key", true},
		{"user_id", "user.id", true}, // the configured name folds too
		{"access_tokens", "access_token", false},
		{"xaccess_token", "access_token", false},
		{"access_toke", "access_token", false},
		{"access[token]", "access_token", false}, // PHP: array "access"
		{"access_token_", "access_token", false},
		{"access_token x", "access_token", false},
		{"access%5Gtoken", "access_token", false},
		{"access_token%zz", "access_token", false},
		{"access%00token", "access_token", false},
		{"%C5", "s", false},
		{"é", "e", false},
		{"", "access_token", false},
		{"   ", "access_token", false},
	}
	for _, c := range folds {
		if got := nameFolds([]byte(c.raw), c.name); got != c.want {
			t.Errorf("nameFolds(%q, %q) = %v, want %v", c.raw, c.name, got, c.want)
		}
	}

	for _, c := range []struct{ raw, names, want string }{
		{"access_token=V&access.token=F", "access_token", ""},
		{"a=1&access+token=F&access%20token=F&access[token=F&access%2Etoken=F&b=2", "access_token", "a=1&b=2"},
		{"x=1;access_token=F&y=2", "access_token", "y=2"}, // the whole parameter goes
		{"x=1&y=2;ACCESS_TOKEN=F", "access_token", "x=1"},
		{"api_key=good&api.key=F&Api_Key=F", "api_key", ""},
		{"q=a;b&access_token%00=F", "access_token", "q=a;b"},
		{"access_token[]=F&access_tokens=1", "access_token", "access_tokens=1"},
		{"x=1;y=2", "access_token", "x=1;y=2"},
	} {
		got, _ := StripQueryParams(nil, []byte(c.raw), strings.Split(c.names, ","))
		if string(got) != c.want {
			t.Errorf("StripQueryParams(%q, %q) = %q, want %q", c.raw, c.names, got, c.want)
		}
	}
	for _, c := range []struct{ raw, names, want string }{
		{"session=V; auth.token=F; b=2", "session,auth_token", "b=2"},
		{"AUTH_TOKEN=F; a=1; auth%2Etoken=F; auth token=F; auth[token=F", "auth_token", "a=1"},
		{"a=1, session=F; b=2", "session", "b=2"}, // RFC 2965 readers split on ','
		{"a=1; b=x,y", "session", "a=1; b=x,y"},
	} {
		got, _ := StripCookies(nil, []byte(c.raw), strings.Split(c.names, ","))
		if string(got) != c.want {
			t.Errorf("StripCookies(%q, %q) = %q, want %q", c.raw, c.names, got, c.want)
		}
	}
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
