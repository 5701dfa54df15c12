package policy

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestHeaderMemo: a remembered header segment changes nothing but the
// cost: every later check still applies, per verifier.
func TestHeaderMemo(t *testing.T) {
	k := keys(t)
	j, _ := fileVerifier(t, allKeysJWKS(k), nil)
	good := sign(t, "HS256", k.hmac, nil, stdClaims())
	if _, r := j.Verify([]byte(good)); r != ReasonOK {
		t.Fatal(r)
	}
	hdr := good[:strings.IndexByte(good, '.')]
	if _, _, memo := j.headerMemo([]byte(hdr)); !memo {
		t.Fatal("header of a verified token not remembered")
	}
	other := sign(t, "HS256", []byte(strings.Repeat("x", 64)), nil, with(stdClaims(), "sub", "mallory"))
	expired := sign(t, "HS256", k.hmac, nil, with(stdClaims(), "exp", testNow.Unix()-3600))
	noSub := sign(t, "HS256", k.hmac, nil, with(stdClaims(), "sub", nil))
	for _, c := range []struct {
		name, tok string
		want      Reason
	}{
		{"other secret", other, ReasonBadSignature},
		{"expired", expired, ReasonExpired},
		{"no consumer", noSub, ReasonInvalidClaim},
		{"bad payload base64", hdr + ".e*J9." + good[strings.LastIndexByte(good, '.')+1:], ReasonMalformed},
	} {
		if !strings.HasPrefix(c.tok, hdr+".") {
			t.Fatalf("%s: header differs", c.name)
		}
		if _, r := j.Verify([]byte(c.tok)); r != c.want {
			t.Errorf("%s: %v, want %v", c.name, r, c.want)
		}
	}

	// Another verifier that does not allow HS256 never sees j's memo.
	rs, _ := fileVerifier(t, allKeysJWKS(k), func(c *JWTConfig) { c.Algorithms = []string{"RS256"} })
	if _, r := rs.Verify([]byte(good)); r != ReasonAlgNotAllowed {
		t.Errorf("RS256-only verifier: %v, want alg_not_allowed", r)
	}
	// Junk never enters the memo.
	if _, r := rs.Verify([]byte(other)); r != ReasonAlgNotAllowed {
		t.Fatal(r)
	}
	for i := range rs.hdrs {
		if rs.hdrs[i].Load() != nil {
			t.Fatal("refused token's header remembered")
		}
	}
}

// TestHeaderMemoSlots: more distinct headers than slots, verified from
// several goroutines, all keep verifying (with the right kid-bound key).
func TestHeaderMemoSlots(t *testing.T) {
	k := keys(t)
	j, _ := fileVerifier(t, allKeysJWKS(k), nil)
	var toks []string
	for i := 0; i < 2*hdrMemoSlots; i++ {
		typ := "JWT" + strings.Repeat("x", i)
		toks = append(toks, sign(t, "HS256", k.hmac, map[string]any{"typ": typ}, stdClaims()))
		toks = append(toks, sign(t, "ES256", k.ec256, map[string]any{"typ": typ, "kid": "ec256"}, stdClaims()))
	}
	// A remembered kid must still pick its own key: ec384's kid with an
	// ES256 signature is refused.
	wrongKid := sign(t, "ES256", k.ec256, map[string]any{"kid": "ec384"}, stdClaims())
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 3; round++ {
				for _, tok := range toks {
					h := hashOf([]byte(tok))
					if _, r, _ := j.verifySlow([]byte(tok), h, testNow.Unix()); r != ReasonOK {
						t.Errorf("%v", r)
						return
					}
				}
				if _, r := j.Verify([]byte(wrongKid)); r == ReasonOK {
					t.Error("ES256 token accepted under an ES384 kid")
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestScopeMemo: tokens carrying the same scope set, as a string or an
// array, share one list; other sets get their own; the memo holds only
// sets of verified tokens, and more sets than slots all stay right.
func TestScopeMemo(t *testing.T) {
	k := keys(t)
	j, _ := fileVerifier(t, allKeysJWKS(k), nil)
	verify := func(claims map[string]any) *Identity {
		t.Helper()
		id, r := j.Verify([]byte(sign(t, "HS256", k.hmac, nil, claims)))
		if r != ReasonOK {
			t.Fatal(r)
		}
		return id
	}
	a := verify(with(stdClaims(), "jti", "1"))
	b := verify(with(stdClaims(), "jti", "2", "sub", "bob"))
	c := verify(with(stdClaims(), "jti", "3", "scope", []string{"orders:read", "orders:write"}))
	d := verify(with(stdClaims(), "jti", "4", "scope", " orders:read  orders:write "))
	if a == b || b.Consumer != "bob" || a.Consumer != "alice" {
		t.Fatalf("identities %+v %+v", a, b)
	}
	for _, id := range []*Identity{b, c, d} {
		if &id.Scopes[0] != &a.Scopes[0] || id.ScopesHeader != "orders:read orders:write" {
			t.Fatalf("scope set not shared: %+v", id)
		}
	}
	// A refused token's scopes are never remembered.
	bad := sign(t, "HS256", []byte(strings.Repeat("x", 64)), nil, with(stdClaims(), "scope", "evil"))
	if _, r := j.Verify([]byte(bad)); r != ReasonBadSignature {
		t.Fatal(r)
	}
	for i := range j.scopeSets {
		if m := j.scopeSets[i].Load(); m != nil && m.header == "evil" {
			t.Fatal("refused token's scopes remembered")
		}
	}
	// Twice as many sets as slots, in turns, from several goroutines.
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 3*scopeMemoSlots; i++ {
				want := []string{"s" + strings.Repeat("x", i%(2*scopeMemoSlots)), "common"}
				tok := sign(t, "HS256", k.hmac, nil, with(stdClaims(), "jti", fmt.Sprint(g, "-", i), "scope", strings.Join(want, " ")))
				id, r := j.Verify([]byte(tok))
				if r != ReasonOK || strings.Join(id.Scopes, "|") != strings.Join(want, "|") || id.ScopesHeader != strings.Join(want, " ") {
					t.Errorf("%v %+v, want %q", r, id, want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}
