package policy

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
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
		// Stripping leaves nothing that names the credential.
		names := []string{"access_token", "session"}
		q, _ := StripQueryParams(nil, data, names)
		if _, n := StripQueryParams(nil, q, names); n != 0 {
			t.Fatalf("StripQueryParams(%q) left a credential name in %q", data, q)
		}
		c, _ := StripCookies(nil, data, names)
		if _, n := StripCookies(nil, c, names); n != 0 {
			t.Fatalf("StripCookies(%q) left a credential name in %q", data, c)
		}
		headerSafe(data)
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

// FuzzJSONObject checks the object reader (fast and general paths alike)
// against encoding/json: it accepts exactly the valid UTF-8 objects
// (below its depth bound), and yields each member's key and raw value as
// encoding/json reads them.
func FuzzJSONObject(f *testing.F) {
	for _, s := range jsonObjectSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) { checkJSONObject(t, doc) })
}

var jsonObjectSeeds = []string{
	`{}`, ` { } `, `{"a":1}`, `{"a":1,"b":"x"}`, `{"exp":1767225600,"sub":"alice","scope":"a b"}`,
	`{"a":0}`, `{"a":-1}`, `{"a":01}`, `{"a":1.5}`, `{"a":1e3}`, `{"a":1,}`, `{"a":1 }`, `{"a":1}x`,
	`{"a" :1}`, `{"a": 1}`, `{"a":1 ,"b":2}`, `{"a":"\u00e9"}`, `{"\u0061":1}`, `{"a":"é"}`, `{"a":"x\ty"}`,
	`{"a":[1,"b",{"c":null}],"d":true}`, `{"a":"`, `{"a":1`, `{"a":"x"`, `{"a":"x",`, `{"a"}`, `{"a":}`,
	`{"a":1,"a":2}`, "{\"a\":\"\x7f\"}", "{\"a\":\"\xff\"}", `{"aaaaaaaaaaaaaaaa":"bbbbbbbbbbbbbbbbbbb"}`,
	`{"a":12345678901234567890}`, `{"a":1}}`, `{"a":"1"}`, `[1]`, `"a"`, ``,
	`{"\udd61":1}`, `{"\ud83d\ude00":1}`, `{"\ud83d":1}`, `{"a":"\udd61"}`,
}

func TestJSONObject(t *testing.T) {
	for _, s := range jsonObjectSeeds {
		checkJSONObject(t, []byte(s))
	}
}

func checkJSONObject(t *testing.T, doc []byte) {
	t.Helper()
	var keys, vals [][]byte
	got := eachMember(doc, func(k, v []byte) bool {
		keys, vals = append(keys, k), append(vals, v)
		return true
	})
	trimmed := bytes.TrimLeft(doc, " \t\r\n")
	isObj := len(trimmed) > 0 && trimmed[0] == '{'
	want := isObj && json.Valid(doc) && utf8.Valid(doc)
	if want && !got && bytes.Count(doc, []byte("["))+bytes.Count(doc, []byte("{")) > maxJSONDepth-2 {
		return // beyond the depth bound: refused on purpose
	}
	if want && !got && loneSurrogateEscape(doc) {
		return // an unpaired \uD800-\uDFFF in a key: refused on purpose (unescape), encoding/json puts U+FFFD
	}
	if got != want {
		t.Fatalf("%q: reader says %v, encoding/json %v", doc, got, want)
	}
	if !got {
		return
	}
	d := json.NewDecoder(bytes.NewReader(doc))
	if _, err := d.Token(); err != nil { // {
		t.Fatal(err)
	}
	n := 0
	for i := 0; d.More(); i++ {
		n++
		k, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		if i >= len(keys) || string(keys[i]) != k.(string) || !bytes.Equal(vals[i], raw) {
			t.Fatalf("%q: member %d: reader %q=%q, encoding/json %q=%q", doc, i, keys[min(i, len(keys)-1)], vals[min(i, len(vals)-1)], k, raw)
		}
	}
	if n != len(keys) {
		t.Fatalf("%q: reader yields %d members, encoding/json %d", doc, len(keys), n)
	}
}

// loneSurrogateEscape reports a \u escape of a UTF-16 surrogate that is
// not one half of a high-low pair.
func loneSurrogateEscape(doc []byte) bool {
	surrogate := func(i int) (high, ok bool) {
		if i+6 > len(doc) || doc[i] != '\\' || doc[i+1] != 'u' {
			return false, false
		}
		var v rune
		for _, c := range doc[i+2 : i+6] {
			switch {
			case c >= '0' && c <= '9':
				v = v<<4 | rune(c-'0')
			case c|0x20 >= 'a' && c|0x20 <= 'f':
				v = v<<4 | rune(c|0x20-'a'+10)
			default:
				return false, false
			}
		}
		return v < 0xdc00, v >= 0xd800 && v <= 0xdfff
	}
	for i := 0; i < len(doc); i++ {
		if doc[i] == '\\' && i+1 < len(doc) && doc[i+1] != 'u' {
			i++ // an escaped byte such as \\ is not the start of an escape
			continue
		}
		high, ok := surrogate(i)
		if !ok {
			continue
		}
		if !high {
			return true // a low half without a high one before it
		}
		if high2, ok2 := surrogate(i + 6); !ok2 || high2 {
			return true
		}
		i += 11
	}
	return false
}

// FuzzSignedClaims signs arbitrary claim-set bytes with the HMAC secret,
// so that everything past the signature check runs on them (claim roles,
// the checks, the cache entry and the shared scope sets), and compares an
// admitted identity with encoding/json's reading of the same claims. Two
// verifications of each payload, one as a string scope and one as an
// array when it is one, share the scope memo across inputs.
func FuzzSignedClaims(f *testing.F) {
	for _, c := range []map[string]any{
		stdClaims(),
		with(stdClaims(), "scope", []string{"a", "", "b"}),
		with(stdClaims(), "scope", "  x  y "),
		with(stdClaims(), "scope", "a\u00e9 b"),
		with(stdClaims(), "scope", nil, "tenant", nil),
		with(stdClaims(), "aud", []string{"x", "orders-api"}, "sub", "bob"),
	} {
		b, _ := json.Marshal(c)
		f.Add(b)
	}
	f.Add([]byte(`{"exp":1800003600,"sub":"a","iss":"https://id.example.com/","aud":"orders-api","scope":"a\u0020b","tenant":"t"}`))
	secret := keys(f).hmac
	j := fuzzVerifier(f)
	f.Fuzz(func(t *testing.T, pay []byte) {
		in := b64s([]byte(`{"alg":"HS256"}`)) + "." + b64s(pay)
		tok := []byte(in + "." + b64s(signRaw(t, "HS256", secret, []byte(in))))
		id, r, _ := j.verifySlow(tok, hashOf(tok), testNow.Unix())
		if r != ReasonOK {
			return
		}
		// Numbers as json.Number: the grammar is what must agree; a
		// member the verifier never reads may hold a number too large
		// for a float64 (1e700), which JSON allows (RFC 8259 §6).
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(pay))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil || len(bytes.TrimSpace(pay[dec.InputOffset():])) > 0 {
			t.Fatalf("admitted claims encoding/json refuses: %v (or bytes after the object)", err)
		}
		if s, _ := m["sub"].(string); id.Consumer != s || s == "" {
			t.Fatalf("consumer %q, claims say %q", id.Consumer, m["sub"])
		}
		if s, _ := m["tenant"].(string); id.Tenant != s {
			t.Fatalf("tenant %q, claims say %q", id.Tenant, m["tenant"])
		}
		var want []string
		switch v := m["scope"].(type) {
		case string:
			for _, s := range strings.Split(v, " ") { // only spaces separate
				if s != "" {
					want = append(want, s)
				}
			}
		case []any:
			for _, x := range v {
				if s := x.(string); s != "" {
					want = append(want, s)
				}
			}
		}
		if strings.Join(id.Scopes, "\x00") != strings.Join(want, "\x00") || id.ScopesHeader != strings.Join(want, " ") {
			t.Fatalf("scopes %q (%q), claims say %q", id.Scopes, id.ScopesHeader, m["scope"])
		}
	})
}
