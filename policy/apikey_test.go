package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func sha(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func TestAPIKeys(t *testing.T) {
	a, err := NewAPIKeys(APIKeyConfig{
		Name: "partners",
		From: TokenSource{FromHeader, "X-API-Key"},
		Keys: []APIKey{
			{Consumer: "acme", Tenant: "acme", SHA256Hex: sha("acme-secret")},
			{Consumer: "globex", SHA256Hex: strings.ToUpper(sha("globex secret+/"))},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	q, err := NewAPIKeys(APIKeyConfig{Name: "q", From: TokenSource{FromQuery, "api_key"}, Keys: []APIKey{{Consumer: "globex", SHA256Hex: sha("globex secret+/")}}})
	if err != nil {
		t.Fatal(err)
	}
	f := func(m *APIKeys, r *Request, want Reason, consumer string) {
		t.Helper()
		id, reason, _ := m.Authenticate(r)
		if reason != want {
			t.Fatalf("%s %+v: reason %v, want %v", m.Name(), r, reason, want)
		}
		if want == ReasonOK && (id.Consumer != consumer || id.Auth != m.Name()) {
			t.Fatalf("identity %+v", id)
		}
	}
	f(a, &Request{Header: hdrs("x-api-key", "acme-secret")}, ReasonOK, "acme")
	f(a, &Request{Header: hdrs("X-API-Key", " globex secret+/ ")}, ReasonOK, "globex")
	f(a, &Request{Header: hdrs("X-API-Key", "acme-secreT")}, ReasonUnknownAPIKey, "")
	f(a, &Request{Header: hdrs("X-API-Key", "")}, ReasonMissing, "")
	f(a, &Request{Header: hdrs("Other", "acme-secret")}, ReasonMissing, "")
	f(a, &Request{}, ReasonMissing, "")
	f(a, &Request{Header: hdrs("X-API-Key", strings.Repeat("k", MaxAPIKeyBytes+1))}, ReasonMalformed, "")
	f(a, &Request{RawQuery: []byte("X-API-Key=acme-secret")}, ReasonMissing, "")
	f(q, &Request{RawQuery: []byte("a=1&api_key=globex+secret%2B%2f")}, ReasonOK, "globex")
	f(q, &Request{RawQuery: []byte("api_key=globex%20secret%2B/&b")}, ReasonOK, "globex")
	f(q, &Request{RawQuery: []byte("api_key=globex%zzsecret")}, ReasonMalformed, "")
	f(q, &Request{RawQuery: []byte("api_key=nope")}, ReasonUnknownAPIKey, "")
	f(q, &Request{RawQuery: []byte("api_key=")}, ReasonMissing, "")
	f(q, &Request{Header: hdrs("api_key", "globex secret+/")}, ReasonMissing, "")

	id, r := a.Verify([]byte("acme-secret"))
	if r != ReasonOK || id.Tenant != "acme" || id.Expiry != 0 || id.Scopes != nil {
		t.Fatalf("%v %+v", r, id)
	}
}

func TestAPIKeyConfigErrors(t *testing.T) {
	h := TokenSource{FromHeader, "X-API-Key"}
	for _, cfg := range []APIKeyConfig{
		{From: h, Keys: []APIKey{{Consumer: "a", SHA256Hex: sha("x")}}},
		{Name: "n", From: TokenSource{FromCookie, "k"}, Keys: []APIKey{{Consumer: "a", SHA256Hex: sha("x")}}},
		{Name: "n", From: h},
		{Name: "n", From: h, Keys: []APIKey{{Consumer: "a", SHA256Hex: "abc"}}},
		{Name: "n", From: h, Keys: []APIKey{{Consumer: "a", SHA256Hex: sha("x")[:62] + "zz"}}},
		{Name: "n", From: h, Keys: []APIKey{{SHA256Hex: sha("x")}}},
		{Name: "n", From: h, Keys: []APIKey{{Consumer: "a\r\nb", SHA256Hex: sha("x")}}},
		{Name: "n", From: h, Keys: []APIKey{{Consumer: " a", SHA256Hex: sha("x")}}},
		{Name: "n", From: h, Keys: []APIKey{{Consumer: "a", Tenant: "t ", SHA256Hex: sha("x")}}},
		{Name: "n", From: h, Keys: []APIKey{{Consumer: "a", SHA256Hex: sha("x")}, {Consumer: "b", SHA256Hex: sha("x")}}},
	} {
		if _, err := NewAPIKeys(cfg); err == nil {
			t.Fatalf("accepted %+v", cfg)
		}
	}
}

func TestAuthenticateMethods(t *testing.T) {
	k := keys(t)
	j, _ := fileVerifier(t, allKeysJWKS(k), func(c *JWTConfig) {
		c.TokenFrom = []TokenSource{{FromHeader, "Authorization"}, {FromQuery, "access_token"}}
	})
	a, err := NewAPIKeys(APIKeyConfig{Name: "partners", From: TokenSource{FromHeader, "X-API-Key"}, Keys: []APIKey{{Consumer: "acme", SHA256Hex: sha("s3cret")}}})
	if err != nil {
		t.Fatal(err)
	}
	methods := []Method{JWTMethod(j), APIKeyMethod(a)}
	tok := sign(t, "HS256", k.hmac, nil, stdClaims())
	bad := sign(t, "HS256", k.hmac, nil, with(stdClaims(), "exp", 1))
	f := func(r *Request, want Reason, method int, consumer string) Result {
		t.Helper()
		res := Authenticate(methods, r)
		if res.Reason != want || res.Method != method {
			t.Fatalf("%+v: got %v/%d, want %v/%d", r, res.Reason, res.Method, want, method)
		}
		if want == ReasonOK && res.ID.Consumer != consumer {
			t.Fatalf("consumer %q", res.ID.Consumer)
		}
		return res
	}
	f(&Request{}, ReasonMissing, -1, "")
	f(&Request{Header: hdrs("Authorization", "Bearer "+tok)}, ReasonOK, 0, "alice")
	f(&Request{Header: hdrs("X-API-Key", "s3cret")}, ReasonOK, 1, "acme")
	f(&Request{Header: hdrs("Authorization", "Bearer "+bad, "X-API-Key", "s3cret")}, ReasonOK, 1, "acme")
	f(&Request{Header: hdrs("Authorization", "Bearer "+bad)}, ReasonExpired, 0, "")
	f(&Request{Header: hdrs("X-API-Key", "wrong")}, ReasonUnknownAPIKey, 1, "")
	res := f(&Request{RawQuery: []byte("x=1&access_token=" + tok)}, ReasonOK, 0, "alice")
	if !res.Source.Removable() || res.Source.String() != "query:access_token" {
		t.Fatalf("source %v", res.Source)
	}
	if methods[0].Name() != "users" || methods[1].Name() != "partners" || (Method{}).Name() != "" {
		t.Fatal("names")
	}
	// A method whose JWKS is unavailable wins over a plain rejection: 503, not 401.
	srv := newJWKSServer(t, nil)
	srv.set(nil, true)
	down := urlVerifier(t, srv.URL, nil)
	methods = []Method{APIKeyMethod(a), JWTMethod(down)}
	rs := sign(t, "RS256", k.rsa, nil, stdClaims())
	f(&Request{Header: hdrs("X-API-Key", "wrong", "Authorization", "Bearer "+rs)}, ReasonJWKSUnavailable, 1, "")
}
