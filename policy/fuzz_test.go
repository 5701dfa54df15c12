package policy

import (
	"encoding/json"
	"sync"
	"testing"
)

var (
	fuzzOnce sync.Once
	fuzzJWT  *JWT
)

func fuzzVerifier(t testing.TB) *JWT {
	fuzzOnce.Do(func() { fuzzJWT, _ = fileVerifier(t, allKeysJWKS(keys(t)), nil) })
	return fuzzJWT
}

// FuzzParseToken drives the whole compact-JWS path (split, base64,
// header and claim JSON, key pick, signature, cache) with arbitrary
// bytes. It must never panic, must never admit a token that does not
// carry a valid signature of a test key, and the JSON reader must never
// accept what encoding/json calls invalid.
func FuzzParseToken(f *testing.F) {
	k := keys(f)
	c := stdClaims()
	f.Add([]byte(sign(f, "RS256", k.rsa, map[string]any{"kid": "rsa1"}, c)))
	f.Add([]byte(sign(f, "ES256", k.ec256, map[string]any{"kid": "ec256"}, c)))
	f.Add([]byte(sign(f, "EdDSA", k.ed, nil, c)))
	f.Add([]byte(sign(f, "HS256", k.hmac, nil, c)))
	f.Add([]byte(sign(f, "HS512", k.hmac, nil, with(c, "aud", []string{"x", "orders-api"}, "scope", []string{"a", "b"}))))
	f.Add([]byte(`eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.`))
	f.Add([]byte(`{"a":[1,2.5e3,true,null,"\u00e9\ud83d\ude00"]}`))
	j := fuzzVerifier(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		id, r := j.Verify(data)
		if (id != nil) != (r == ReasonOK) {
			t.Fatalf("identity %v with reason %v", id, r)
		}
		if r == ReasonOK && (id.Consumer == "" || id.Expiry == 0) {
			t.Fatalf("admitted without consumer/exp: %+v", id)
		}
		if eachMember(data, func(k, v []byte) bool { return true }) && !json.Valid(data) {
			t.Fatalf("JSON reader accepted invalid JSON %q", data)
		}
		QueryParam(data, "access_token")
		CookieValue(data, "session")
		BearerToken(data)
		DecodeQueryValue(nil, data)
	})
}

// FuzzParseJWKS: arbitrary documents never panic and a parsed set is
// usable (at least one key, every key of a known kind).
func FuzzParseJWKS(f *testing.F) {
	k := keys(f)
	f.Add(allKeysJWKS(k))
	f.Add(jwksJSON(jwkOf("a", &k.rsa1024.PublicKey, ""), map[string]any{"kty": "oct", "k": "AAAA"}))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","alg":"RS256"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := ParseJWKS(data)
		if err != nil {
			return
		}
		if ks.Len() == 0 {
			t.Fatal("empty set without error")
		}
		for _, key := range ks.keys {
			if key.kind == kindNone || key.kind == kindHMAC || key.fp == 0 {
				t.Fatalf("bad key %+v", key)
			}
		}
	})
}
