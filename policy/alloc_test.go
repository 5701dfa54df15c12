//go:build !race

package policy

import (
	"testing"
)

// Allocation checks (skipped under -race, which instruments allocations).
func TestZeroAllocHotPaths(t *testing.T) {
	k := keys(t)
	j, _ := fileVerifier(t, allKeysJWKS(k), func(c *JWTConfig) {
		c.TokenFrom = []TokenSource{{FromHeader, "Authorization"}, {FromQuery, "access_token"}, {FromCookie, "session"}}
	})
	a, err := NewAPIKeys(APIKeyConfig{Name: "p", From: TokenSource{FromQuery, "api_key"}, Keys: []APIKey{{Consumer: "acme", SHA256Hex: sha("s 3")}}})
	if err != nil {
		t.Fatal(err)
	}
	tok := []byte(sign(t, "ES256", k.ec256, map[string]any{"kid": "ec256"}, stdClaims()))
	auth := append([]byte("Bearer "), tok...)
	hv := &headerView{name: "Authorization", value: auth}
	req := &Request{Header: hv.get, RawQuery: []byte("x=1&api_key=s+3"), Cookie: []byte("a=b; session=" + string(tok))}
	if _, r := j.Verify(tok); r != ReasonOK {
		t.Fatal(r)
	}
	methods := []Method{JWTMethod(j), APIKeyMethod(a)}
	buf := make([]byte, 0, 256)
	stripQ, stripC := []string{"access_token", "api_key"}, []string{"session"}
	cases := map[string]func(){
		"Verify hit":        func() { j.Verify(tok) },
		"Authenticate hit":  func() { Authenticate(methods, req) },
		"cookie hit":        func() { j.Authenticate(&Request{Cookie: req.Cookie}) },
		"api key in query":  func() { a.Authenticate(req) },
		"HasScopes":         func() { HasScopes(&Identity{Scopes: []string{"a", "b"}}, []string{"b"}) },
		"StripQueryParams":  func() { StripQueryParams(buf[:0], req.RawQuery, stripQ) },
		"StripCookies":      func() { StripCookies(buf[:0], req.Cookie, stripC) },
		"Reason formatting": func() { _, _ = ReasonExpired.String(), ReasonExpired.WWWAuthenticate() },
	}
	for name, fn := range cases {
		if n := testing.AllocsPerRun(200, fn); n != 0 {
			t.Errorf("%s: %v allocs/op, want 0", name, n)
		}
	}
}

// TestMissAllocs pins the cache-miss allocations: one block holding the
// entry and its strings (allocEntry). More means the decode buffer
// escaped to the heap again, or the block no longer fits the strings.
func TestMissAllocs(t *testing.T) {
	k := keys(t)
	j, _ := fileVerifier(t, allKeysJWKS(k), nil)
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		tok := []byte(sign(t, alg, k.hmac, nil, stdClaims()))
		h := hashOf(tok)
		now := testNow.Unix()
		n := testing.AllocsPerRun(100, func() {
			if _, r, _ := j.verifySlow(tok, h, now); r != ReasonOK {
				t.Fatal(r)
			}
		})
		if n > 1 {
			t.Errorf("%s miss: %v allocs/op, want <= 1", alg, n)
		}
	}
}
