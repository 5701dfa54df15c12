package policy

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

func TestVerifyEachAlgorithm(t *testing.T) {
	k := keys(t)
	j, _ := fileVerifier(t, allKeysJWKS(k), nil)
	cases := []struct {
		alg, kid string
		key      any
	}{
		{"RS256", "rsa1", k.rsa}, {"RS384", "rsa1", k.rsa}, {"RS512", "rsa1", k.rsa},
		{"PS256", "rsa1", k.rsa}, {"PS384", "rsa1", k.rsa}, {"PS512", "rsa1", k.rsa},
		{"ES256", "ec256", k.ec256}, {"ES384", "ec384", k.ec384},
		{"EdDSA", "ed1", k.ed}, {"Ed25519", "ed1", k.ed},
		{"HS256", "", k.hmac}, {"HS384", "", k.hmac}, {"HS512", "", k.hmac},
	}
	for _, c := range cases {
		t.Run(c.alg, func(t *testing.T) {
			hdr := map[string]any{}
			if c.kid != "" {
				hdr["kid"] = c.kid
			}
			tok := sign(t, c.alg, c.key, hdr, stdClaims())
			id, r := j.Verify([]byte(tok))
			if r != ReasonOK {
				t.Fatalf("Verify = %v, want ok", r)
			}
			if id.Auth != "users" || id.Consumer != "alice" || id.Tenant != "acme" || id.Expiry != testNow.Unix()+3600 {
				t.Fatalf("identity = %+v", id)
			}
			if id.ScopesHeader != "orders:read orders:write" || len(id.Scopes) != 2 || id.Scopes[1] != "orders:write" {
				t.Fatalf("scopes = %q %q", id.Scopes, id.ScopesHeader)
			}
		})
	}
}

func TestVerifyHostile(t *testing.T) {
	k := keys(t)
	j, _ := fileVerifier(t, allKeysJWKS(k), nil)
	good := sign(t, "RS256", k.rsa, map[string]any{"kid": "rsa1"}, stdClaims())
	parts := strings.Split(good, ".")
	enc := func(s string) string { return b64s([]byte(s)) }
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	claims := stdClaims()
	rsTok := func(c map[string]any, hdr map[string]any) string {
		if hdr == nil {
			hdr = map[string]any{"kid": "rsa1"}
		}
		return sign(t, "RS256", k.rsa, hdr, c)
	}
	ecDER := func() string {
		// A DER (not R||S) ES256 signature over a valid input.
		h := enc(`{"alg":"ES256","kid":"ec256"}`)
		in := h + "." + parts[1]
		var buf [64]byte
		der, err := ecdsa.SignASN1(rand.Reader, k.ec256, digest(lookupAlg("ES256").hash, []byte(in), &buf))
		if err != nil {
			t.Fatal(err)
		}
		return in + "." + b64s(der)
	}()
	cases := []struct {
		name string
		tok  string
		want Reason
	}{
		{"good", good, ReasonOK},
		{"empty", "", ReasonMissing},
		{"alg none", enc(`{"alg":"none"}`) + "." + parts[1] + ".", ReasonAlgNotAllowed},
		{"alg NONE", enc(`{"alg":"NONE"}`) + "." + parts[1] + ".", ReasonAlgNotAllowed},
		{"alg nOnE with sig", enc(`{"alg":"nOnE","kid":"rsa1"}`) + "." + parts[1] + "." + parts[2], ReasonAlgNotAllowed},
		{"alg lower rs256", enc(`{"alg":"rs256","kid":"rsa1"}`) + "." + parts[1] + "." + parts[2], ReasonAlgNotAllowed},
		{"alg missing", enc(`{"kid":"rsa1"}`) + "." + parts[1] + "." + parts[2], ReasonMalformed},
		{"alg not string", enc(`{"alg":1}`) + "." + parts[1] + "." + parts[2], ReasonMalformed},
		{"alg duplicate", enc(`{"alg":"RS256","kid":"rsa1","alg":"HS256"}`) + "." + parts[1] + "." + parts[2], ReasonMalformed},
		{"alg escaped duplicate", enc(`{"alg":"RS256","kid":"rsa1","\u0061lg":"HS256"}`) + "." + parts[1] + "." + parts[2], ReasonMalformed},
		{"HS256 with RSA PEM as secret", sign(t, "HS256", pubPEM, nil, claims), ReasonBadSignature},
		{"HS256 with RSA DER as secret", sign(t, "HS256", pubDER, map[string]any{"kid": "rsa1"}, claims), ReasonBadSignature},
		{"tampered header", enc(`{"alg":"RS384","kid":"rsa1"}`) + "." + parts[1] + "." + parts[2], ReasonBadSignature},
		{"tampered payload", parts[0] + "." + enc(`{"sub":"mallory","exp":9999999999}`) + "." + parts[2], ReasonBadSignature},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flip(parts[2], 10), ReasonBadSignature},
		{"truncated signature text", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-5] + "B", ReasonMalformed}, // non-zero trailing bits ('B' = 1, whatever the signature)
		{"truncated signature", parts[0] + "." + parts[1] + "." + b64s(mustB64(t, parts[2])[:255]), ReasonBadSignature},
		{"extended signature", parts[0] + "." + parts[1] + "." + b64s(append(mustB64(t, parts[2]), 0)), ReasonBadSignature},
		{"empty signature", parts[0] + "." + parts[1] + ".", ReasonBadSignature},
		{"padding", parts[0] + "=." + parts[1] + "." + parts[2], ReasonMalformed},
		{"std alphabet", parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+/", ReasonMalformed},
		{"newline in base64", parts[0] + "." + parts[1][:5] + "\n" + parts[1][5:] + "." + parts[2], ReasonMalformed},
		{"bad length", parts[0] + "." + parts[1] + "A." + parts[2], ReasonMalformed},
		{"one part", parts[0], ReasonMalformed},
		{"two parts", parts[0] + "." + parts[1], ReasonMalformed},
		{"four parts", good + "." + parts[2], ReasonMalformed},
		{"five parts (JWE)", good + ".a.b", ReasonMalformed},
		{"leading dot", "." + parts[1] + "." + parts[2], ReasonMalformed},
		{"16 KiB junk", strings.Repeat("A", 16<<10), ReasonMalformed},
		{"16 KiB dotted junk", strings.Repeat("A", 8<<10) + "." + strings.Repeat("B", 8<<10) + ".C", ReasonMalformed},
		{"header not JSON", enc(`alg=RS256`) + "." + parts[1] + "." + parts[2], ReasonMalformed},
		{"header trailing data", enc(`{"alg":"RS256","kid":"rsa1"}x`) + "." + parts[1] + "." + parts[2], ReasonMalformed},
		{"crit", rsTok(claims, map[string]any{"kid": "rsa1", "crit": []string{"exp"}, "exp": 1}), ReasonMalformed},
		{"crit empty", rsTok(claims, map[string]any{"kid": "rsa1", "crit": []string{}}), ReasonMalformed},
		{"kid path", rsTok(claims, map[string]any{"kid": "../../etc/passwd"}), ReasonUnknownKey},
		{"kid space", rsTok(claims, map[string]any{"kid": "rsa 1"}), ReasonMalformed},
		{"kid quote", rsTok(claims, map[string]any{"kid": `rsa1"`}), ReasonMalformed},
		{"kid long", rsTok(claims, map[string]any{"kid": strings.Repeat("k", 129)}), ReasonMalformed},
		{"kid number", rsTok(claims, map[string]any{"kid": 7}), ReasonMalformed},
		{"kid unknown", rsTok(claims, map[string]any{"kid": "nope"}), ReasonUnknownKey},
		{"kid of other key type", rsTok(claims, map[string]any{"kid": "ec256"}), ReasonUnknownKey},
		{"jku ignored", rsTok(claims, map[string]any{"kid": "rsa1", "jku": "https://evil.example/jwks"}), ReasonOK},
		{"ES256 DER signature", ecDER, ReasonBadSignature},
		{"expired", rsTok(with(claims, "exp", testNow.Unix()-31), nil), ReasonExpired},
		{"expired within leeway", rsTok(with(claims, "exp", testNow.Unix()-29), nil), ReasonOK},
		{"exp missing", rsTok(with(claims, "exp", nil), nil), ReasonInvalidClaim},
		{"exp string", rsTok(with(claims, "exp", "tomorrow"), nil), ReasonInvalidClaim},
		{"exp fractional", rsTok(with(claims, "exp", float64(testNow.Unix())+100.5), nil), ReasonOK},
		{"nbf ahead", rsTok(with(claims, "nbf", testNow.Unix()+31), nil), ReasonNotYetValid},
		{"nbf within leeway", rsTok(with(claims, "nbf", testNow.Unix()+29), nil), ReasonOK},
		{"wrong iss", rsTok(with(claims, "iss", "https://evil.example.com/"), nil), ReasonWrongIssuer},
		{"iss missing", rsTok(with(claims, "iss", nil), nil), ReasonWrongIssuer},
		{"iss not string", rsTok(with(claims, "iss", 5), nil), ReasonWrongIssuer},
		{"wrong aud", rsTok(with(claims, "aud", "billing"), nil), ReasonWrongAudience},
		{"aud array ok", rsTok(with(claims, "aud", []string{"billing", "orders-api"}), nil), ReasonOK},
		{"aud array wrong", rsTok(with(claims, "aud", []string{"billing"}), nil), ReasonWrongAudience},
		{"aud missing", rsTok(with(claims, "aud", nil), nil), ReasonWrongAudience},
		{"aud array of numbers", rsTok(with(claims, "aud", []int{1}), nil), ReasonInvalidClaim},
		{"sub missing", rsTok(with(claims, "sub", nil), nil), ReasonInvalidClaim},
		{"sub CRLF", rsTok(with(claims, "sub", "a\r\nX-Portico-Consumer: root"), nil), ReasonInvalidClaim},
		{"tenant CRLF", rsTok(with(claims, "tenant", "a\nb"), nil), ReasonInvalidClaim},
		{"sub padded with spaces", rsTok(with(claims, "sub", " admin "), nil), ReasonInvalidClaim},
		{"sub trailing space", rsTok(with(claims, "sub", "admin "), nil), ReasonInvalidClaim},
		{"tenant leading space", rsTok(with(claims, "tenant", " acme"), nil), ReasonInvalidClaim},
		{"scope array with space", rsTok(with(claims, "scope", []string{"a b"}), nil), ReasonInvalidClaim},
		{"scope number", rsTok(with(claims, "scope", 3), nil), ReasonInvalidClaim},
		{"duplicate exp", parts[0] + "." + enc(`{"exp":1,"exp":9999999999}`) + "." + parts[2], ReasonBadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, r := j.Verify([]byte(c.tok))
			if r != c.want {
				t.Fatalf("Verify = %v, want %v", r, c.want)
			}
		})
	}
}

// Signed duplicates and garbage claims (the signature is right, so the
// claim parser is what must refuse them).
func TestVerifySignedBadClaims(t *testing.T) {
	k := keys(t)
	j, _ := fileVerifier(t, allKeysJWKS(k), nil)
	mint := func(payload string) string {
		in := b64s([]byte(`{"alg":"HS256"}`)) + "." + b64s([]byte(payload))
		return in + "." + b64s(signRaw(t, "HS256", k.hmac, []byte(in)))
	}
	exp := "9999999999"
	base := `"iss":"https://id.example.com/","aud":"orders-api","sub":"alice","tenant":"acme"`
	noTenant := `"iss":"https://id.example.com/","aud":"orders-api","sub":"alice"`
	cases := []struct {
		payload string
		want    Reason
	}{
		{`{` + base + `,"exp":` + exp + `}`, ReasonOK},
		{`{` + base + `,"exp":` + exp + `,"exp":1}`, ReasonMalformed},
		{`{` + base + `,"exp":` + exp + `,"sub":"bob"}`, ReasonMalformed},
		{`{` + base + `,"exp":` + exp + `,"aud":"x"}`, ReasonMalformed},
		{`{` + base + `,"exp":` + exp + `,"other":1,"other":2}`, ReasonOK},
		{`{` + base + `,"exp":` + exp + `}garbage`, ReasonMalformed},
		{`[` + base + `]`, ReasonMalformed},
		{`{` + base + `,"exp":01}`, ReasonMalformed},
		{`{` + base + `,"exp":1e400}`, ReasonInvalidClaim},
		{`{` + base + `,"exp":` + exp + `,"x":"\ud800"}`, ReasonOK}, // unused member: validated, not decoded
		{`{` + noTenant + `,"exp":` + exp + `,"tenant":"\ud800"}`, ReasonInvalidClaim},
		{`{` + noTenant + `,"exp":` + exp + `,"tenant":"caf\u00e9"}`, ReasonOK},
		{`{` + noTenant + `,"exp":` + exp + `}`, ReasonMissingTenant}, // tenant_claim is configured
		{`{` + noTenant + `,"exp":` + exp + `,"tenant":""}`, ReasonMissingTenant},
		{`{` + base + `,"exp":` + exp + `,"x":"` + "\xff" + `"}`, ReasonMalformed},
		{`{` + base + `,"exp":` + exp + `,"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, ReasonMalformed},
		{`{"iss":"https:\/\/id.example.com\/","aud":"orders-api","sub":"\u0061lice","tenant":"acme","exp":` + exp + `}`, ReasonOK},
		// A number right after a plain string is not read as a string.
		{`{"iss":"https://id.example.com/","aud":"orders-api","exp":` + exp + `,"sub":12345}`, ReasonInvalidClaim},
		{`{"aud":"orders-api","sub":"alice","exp":` + exp + `,"iss":1234567890}`, ReasonWrongIssuer},
		{`{"iss":"https://id.example.com/","sub":"alice","exp":` + exp + `,"aud":1234567890}`, ReasonInvalidClaim},
		{`{"iss":"https://id.example.com/","sub":"alice","tenant":"acme","aud": "orders-api","exp":` + exp + `}`, ReasonOK},
	}
	for _, c := range cases {
		t.Run(c.payload, func(t *testing.T) {
			id, r := j.Verify([]byte(mint(c.payload)))
			if r != c.want {
				t.Fatalf("Verify = %v, want %v", r, c.want)
			}
			if r == ReasonOK && id.Consumer != "alice" {
				t.Fatalf("consumer %q", id.Consumer)
			}
		})
	}
}

// A member whose name case-folds to a claim the verifier acts on, as
// encoding/json matches names (bytes.EqualFold: "SUB", "ſub" with U+017F),
// is a duplicate: golang-jwt in the application would read its value.
// Likewise for alg, kid and crit in the JOSE header.
func TestVerifyFoldedDuplicates(t *testing.T) {
	k := keys(t)
	j, _ := fileVerifier(t, allKeysJWKS(k), nil)
	mint := func(hdr, payload string) string {
		in := b64s([]byte(hdr)) + "." + b64s([]byte(payload))
		return in + "." + b64s(signRaw(t, "HS256", k.hmac, []byte(in)))
	}
	const hs = `{"alg":"HS256"}`
	base := `"iss":"https://id.example.com/","aud":"orders-api","tenant":"acme","exp":9999999999`
	cases := []struct {
		hdr, payload string
		want         Reason
	}{
		{hs, `{` + base + `,"sub":"alice"}`, ReasonOK},
		{hs, `{` + base + `,"sub":"alice","SUB":"admin"}`, ReasonMalformed},
		{hs, `{` + base + `,"SUB":"admin","sub":"alice"}`, ReasonMalformed},
		{hs, `{` + base + `,"sub":"alice","Sub":"admin"}`, ReasonMalformed},
		{hs, `{` + base + `,"sub":"alice","ſub":"admin"}`, ReasonMalformed},
		{hs, `{` + base + `,"sub":"alice","\u017fub":"admin"}`, ReasonMalformed},
		{hs, `{` + base + `,"sub":"alice","EXP":1}`, ReasonMalformed},
		{hs, `{` + base + `,"sub":"alice","Nbf":9999999999}`, ReasonMalformed},
		{hs, `{` + base + `,"sub":"alice","ISS":"https://evil/"}`, ReasonMalformed},
		{hs, `{` + base + `,"sub":"alice","AUD":"other"}`, ReasonMalformed},
		{hs, `{` + base + `,"sub":"alice","TENANT":"other"}`, ReasonMalformed},
		{hs, `{` + base + `,"sub":"alice","Scope":"admin"}`, ReasonMalformed},
		{hs, `{` + base + `,"sub":"alice","ſcope":"admin"}`, ReasonMalformed},
		// Names that are not the same under folding stay ordinary members.
		{hs, `{` + base + `,"sub":"alice","subs":"x","su":"x","süb":"x","jti":"x","IAT":1,"sub_":"x"}`, ReasonOK},
		{`{"alg":"HS256","ALG":"none"}`, `{` + base + `,"sub":"alice"}`, ReasonMalformed},
		{`{"alg":"HS256","Kid":"x"}`, `{` + base + `,"sub":"alice"}`, ReasonMalformed},
		{`{"alg":"HS256","CRIT":["x"]}`, `{` + base + `,"sub":"alice"}`, ReasonMalformed},
		{`{"alg":"HS256","\u212aid":"x"}`, `{` + base + `,"sub":"alice"}`, ReasonMalformed}, // Kelvin sign
		{`{"alg":"HS256","typ":"JWT","TYP":"x"}`, `{` + base + `,"sub":"alice"}`, ReasonOK},
	}
	for _, c := range cases {
		t.Run(c.hdr+c.payload, func(t *testing.T) {
			id, r := j.Verify([]byte(mint(c.hdr, c.payload)))
			if r != c.want {
				t.Fatalf("Verify = %v, want %v", r, c.want)
			}
			if r == ReasonOK && id.Consumer != "alice" {
				t.Fatalf("consumer %q", id.Consumer)
			}
		})
	}
	// Why: encoding/json reads the folded twin as the claim.
	var rc struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal([]byte(`{"sub":"alice","ſub":"admin"}`), &rc); err != nil || rc.Sub != "admin" {
		t.Fatalf("encoding/json read sub = %q, %v (the premise changed)", rc.Sub, err)
	}
}

// A null scope or tenant claim is an absent one, as encoding/json and
// golang-jwt read it (it was refused as invalid_claim): the token fares
// as one without the claim. A null consumer or exp is still refused (both
// are required).
func TestNullClaimsAbsent(t *testing.T) {
	k := keys(t)
	j, _ := fileVerifier(t, allKeysJWKS(k), nil)
	for _, c := range []struct {
		claim  string
		absent bool   // fares as a token without the claim
		want   Reason // else
	}{{"scope", true, 0}, {"tenant", true, 0}, {"sub", false, ReasonInvalidClaim}, {"exp", false, ReasonInvalidClaim}} {
		want := c.want
		if c.absent {
			claims := stdClaims()
			delete(claims, c.claim)
			_, want = j.Verify([]byte(sign(t, "HS256", k.hmac, nil, claims)))
		}
		if _, r := j.Verify([]byte(sign(t, "HS256", k.hmac, nil, with(stdClaims(), c.claim, json.RawMessage("null"))))); r != want {
			t.Errorf("%s: null: %v, want %v", c.claim, r, want)
		}
	}
}

// Identity values with Unicode whitespace or controls are refused: an
// application decoding X-Portico-Scopes and calling str.split() would read
// "read\u00a0admin" as two scopes, and strip() "admin\u2028" as admin.
// Ordinary non-ASCII letters pass.
func TestIdentityUnicodeWhitespaceRefused(t *testing.T) {
	k := keys(t)
	j, _ := fileVerifier(t, allKeysJWKS(k), nil)
	bad := []string{"read\u00a0admin", "admin\u0085", "a\u2028b", "a\u2029b", "\u3000admin", "a\u2003b", "a\u202fb", "a\u1680b", "a\u0080b", "a\u009fb", "a\u205fb"}
	for _, v := range bad {
		for _, claim := range []string{"sub", "tenant", "scope"} {
			tok := sign(t, "HS256", k.hmac, nil, with(stdClaims(), claim, v))
			if _, r := j.Verify([]byte(tok)); r != ReasonInvalidClaim {
				t.Errorf("%s %q: %v, want invalid_claim", claim, v, r)
			}
		}
		tok := sign(t, "HS256", k.hmac, nil, with(stdClaims(), "scope", []string{"read", v}))
		if _, r := j.Verify([]byte(tok)); r != ReasonInvalidClaim {
			t.Errorf("scope array [read %q]: %v, want invalid_claim", v, r)
		}
		if _, err := NewAPIKeys(APIKeyConfig{Name: "p", From: TokenSource{FromHeader, "X-Key"}, Keys: []APIKey{{Consumer: v, SHA256Hex: sha("k")}}}); err == nil {
			t.Errorf("api key consumer %q accepted", v)
		}
		if _, err := NewAPIKeys(APIKeyConfig{Name: "p", From: TokenSource{FromHeader, "X-Key"}, Keys: []APIKey{{Consumer: "c", Tenant: v, SHA256Hex: sha("k")}}}); err == nil {
			t.Errorf("api key tenant %q accepted", v)
		}
	}
	for _, v := range []string{"josé", "Zoë", "日本", "café:read", "ünïcödé", "Ġ", "Å"} {
		c := with(stdClaims(), "sub", v)
		c = with(c, "tenant", v)
		c = with(c, "scope", "read "+v)
		id, r := j.Verify([]byte(sign(t, "HS256", k.hmac, nil, c)))
		if r != ReasonOK || id.Consumer != v || id.Tenant != v || id.ScopesHeader != "read "+v {
			t.Errorf("%q: %v %+v", v, r, id)
		}
	}
	for _, s := range []string{"a\xffb", "a\xc2"} {
		if headerSafe([]byte(s)) {
			t.Errorf("headerSafe(%q) with invalid UTF-8", s)
		}
	}
}

func TestHMACNeverWithJWKSKey(t *testing.T) {
	k := keys(t)
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	// HS256 not allowed: the classic key-confusion token is refused before any key is used.
	j, _ := fileVerifier(t, allKeysJWKS(k), func(c *JWTConfig) {
		c.Algorithms = []string{"RS256"}
		c.HMACSecret = nil
	})
	for _, secret := range [][]byte{pubPEM, pubDER, k.rsa.PublicKey.N.Bytes()} {
		tok := sign(t, "HS256", secret, map[string]any{"kid": "rsa1"}, stdClaims())
		if _, r := j.Verify([]byte(tok)); r != ReasonAlgNotAllowed {
			t.Fatalf("HS256 with public key as secret = %v, want alg_not_allowed", r)
		}
	}
	// A JWKS "oct" key is never used.
	if _, err := ParseJWKS(jwksJSON(map[string]any{"kty": "oct", "k": b64s(pubPEM), "kid": "rsa1"})); err == nil {
		t.Fatal("JWKS with only an oct key parsed as usable")
	}
}

func TestConfigErrors(t *testing.T) {
	k := keys(t)
	file := writeFile(t, allKeysJWKS(k))
	cases := []struct {
		name string
		mod  func(*JWTConfig)
	}{
		{"no name", func(c *JWTConfig) { c.Name = "" }},
		{"no algorithms", func(c *JWTConfig) { c.Algorithms = nil }},
		{"none", func(c *JWTConfig) { c.Algorithms = []string{"RS256", "None"} }},
		{"unsupported", func(c *JWTConfig) { c.Algorithms = []string{"ES512"} }},
		{"HS without secret", func(c *JWTConfig) { c.Algorithms = []string{"HS256"}; c.HMACSecret = nil }},
		{"HS512 short secret", func(c *JWTConfig) { c.Algorithms = []string{"HS512"}; c.HMACSecret = make([]byte, 32) }},
		{"RS without JWKS", func(c *JWTConfig) { c.JWKSFile = "" }},
		{"both sources", func(c *JWTConfig) { c.JWKSURL = "https://id.example.com/jwks" }},
		{"bad file", func(c *JWTConfig) { c.JWKSFile = file + ".missing" }},
		{"bad url", func(c *JWTConfig) { c.JWKSFile = ""; c.JWKSURL = "ftp://x/jwks" }},
		{"negative leeway", func(c *JWTConfig) { c.Leeway = -time.Second }},
		{"short refresh", func(c *JWTConfig) { c.Refresh = time.Millisecond }},
		{"bad source", func(c *JWTConfig) { c.TokenFrom = []TokenSource{{Kind: 9, Name: "x"}} }},
		{"bad CA", func(c *JWTConfig) { c.JWKSFile = ""; c.JWKSURL = "https://x/jwks"; c.JWKSCAFile = file }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := baseConfig(&fakeClock{t: testNow})
			cfg.JWKSFile = file
			cfg.HMACSecret = k.hmac
			cfg.Algorithms = SupportedAlgorithms()
			c.mod(&cfg)
			if _, err := NewJWT(cfg); err == nil {
				t.Fatal("NewJWT accepted a bad config")
			}
		})
	}
	// HMAC-only verifier needs no JWKS and is ready at once.
	cfg := baseConfig(&fakeClock{t: testNow})
	cfg.Algorithms, cfg.HMACSecret = []string{"HS256"}, k.hmac
	j, err := NewJWT(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !j.Ready() {
		t.Fatal("HMAC-only verifier not ready")
	}
	if _, r := j.Verify([]byte(sign(t, "HS256", k.hmac, nil, stdClaims()))); r != ReasonOK {
		t.Fatalf("HMAC-only verify = %v", r)
	}
	if _, r := j.Verify([]byte(sign(t, "RS256", k.rsa, nil, stdClaims()))); r != ReasonAlgNotAllowed {
		t.Fatalf("RS256 on HMAC-only = %v", r)
	}
}

func TestMissingKid(t *testing.T) {
	k := keys(t)
	noKid := func(alg string, key any) string {
		return sign(t, alg, key, nil, stdClaims())
	}
	// One key of the type: used.
	one, _ := fileVerifier(t, jwksJSON(jwkOf("", &k.rsa.PublicKey, ""), jwkOf("e", &k.ec256.PublicKey, "")), nil)
	if _, r := one.Verify([]byte(noKid("RS256", k.rsa))); r != ReasonOK {
		t.Fatalf("single RSA key, no kid = %v", r)
	}
	if _, r := one.Verify([]byte(noKid("ES256", k.ec256))); r != ReasonOK {
		t.Fatalf("single EC key with a kid, token without = %v", r)
	}
	// Several keys of the type: refused, never tried one by one.
	two, _ := fileVerifier(t, jwksJSON(jwkOf("a", &k.rsa.PublicKey, ""), jwkOf("b", &k.rsa2.PublicKey, "")), nil)
	if _, r := two.Verify([]byte(noKid("RS256", k.rsa))); r != ReasonUnknownKey {
		t.Fatalf("two RSA keys, no kid = %v, want unknown_key", r)
	}
	if n := two.Stats().SigChecks; n != 0 {
		t.Fatalf("ambiguous kid-less token cost %d signature checks", n)
	}
	// A key's alg restricts it.
	restricted, _ := fileVerifier(t, jwksJSON(jwkOf("a", &k.rsa.PublicKey, "PS256")), nil)
	if _, r := restricted.Verify([]byte(sign(t, "RS256", k.rsa, map[string]any{"kid": "a"}, stdClaims()))); r != ReasonUnknownKey {
		t.Fatalf("RS256 on a PS256-only key = %v", r)
	}
	if _, r := restricted.Verify([]byte(sign(t, "PS256", k.rsa, map[string]any{"kid": "a"}, stdClaims()))); r != ReasonOK {
		t.Fatalf("PS256 on a PS256 key = %v", r)
	}
}

func TestCacheHitSkipsSignature(t *testing.T) {
	k := keys(t)
	j, clock := fileVerifier(t, allKeysJWKS(k), nil)
	tok := []byte(sign(t, "ES256", k.ec256, map[string]any{"kid": "ec256"}, with(stdClaims(), "exp", testNow.Unix()+60)))
	id1, r := j.Verify(tok)
	if r != ReasonOK {
		t.Fatal(r)
	}
	for i := 0; i < 100; i++ {
		id2, r := j.Verify(tok)
		if r != ReasonOK || id2 != id1 {
			t.Fatalf("hit %d: %v %p %p", i, r, id1, id2)
		}
	}
	if n := j.Stats().SigChecks; n != 1 {
		t.Fatalf("signature checks = %d, want 1", n)
	}
	// A different token with the same prefix is not a hit.
	other := append([]byte(nil), tok...)
	other[len(other)-2] ^= 1
	if _, r := j.Verify(other); r == ReasonOK {
		t.Fatal("modified token admitted")
	}
	// Expiry: still valid within leeway, refused after.
	clock.Add(60*time.Second + 29*time.Second)
	if _, r := j.Verify(tok); r != ReasonOK {
		t.Fatalf("within leeway = %v", r)
	}
	clock.Add(time.Second)
	if _, r := j.Verify(tok); r != ReasonExpired {
		t.Fatalf("after exp+leeway = %v, want expired", r)
	}
	if _, r := j.Verify(tok); r != ReasonExpired {
		t.Fatalf("again = %v, want expired", r)
	}
}

func TestCacheBounded(t *testing.T) {
	k := keys(t)
	j, _ := fileVerifier(t, allKeysJWKS(k), func(c *JWTConfig) {
		c.CacheEntries = cacheShards * 2
	})
	for i := 0; i < 2000; i++ {
		tok := sign(t, "HS256", k.hmac, nil, with(stdClaims(), "jti", i))
		if _, r := j.Verify([]byte(tok)); r != ReasonOK {
			t.Fatal(r)
		}
	}
	if n := j.Stats().CacheSize; n > cacheShards*2 {
		t.Fatalf("cache holds %d entries, bound %d", n, cacheShards*2)
	}
}

func TestCacheCollisionNotAdmitted(t *testing.T) {
	k := keys(t)
	j, _ := fileVerifier(t, allKeysJWKS(k), nil)
	good := []byte(sign(t, "HS256", k.hmac, nil, stdClaims()))
	if _, r := j.Verify(good); r != ReasonOK {
		t.Fatal(r)
	}
	// Plant the good entry under the hash of a forged token, as a hash
	// collision would: the full-token compare must turn it into a miss.
	forged := []byte(sign(t, "HS256", []byte("wrong-secret-wrong-secret-wrong-secret-wrong-secret-wrong-secret"), nil, with(stdClaims(), "sub", "mallory")))
	e := j.cache.get(hashOf(good), good)
	if e == nil {
		t.Fatal("good token not cached")
	}
	j.cache.put(hashOf(forged), e, testNow.Unix())
	if _, r := j.Verify(forged); r != ReasonBadSignature {
		t.Fatalf("forged token with colliding slot = %v, want bad_signature", r)
	}
}

func TestQueryTokenPercentDecoded(t *testing.T) {
	k := keys(t)
	j, _ := fileVerifier(t, allKeysJWKS(k), func(c *JWTConfig) {
		c.TokenFrom = []TokenSource{{FromHeader, "Authorization"}, {FromQuery, "access_token"}, {FromCookie, "session"}}
	})
	tok := sign(t, "HS256", k.hmac, nil, stdClaims())
	enc := strings.ReplaceAll(tok, ".", "%2E")
	for _, r := range []*Request{
		{RawQuery: []byte("a=1&access_token=" + enc + "&b=2")},
		{RawQuery: []byte("access_token=" + tok)},
		{Cookie: []byte("x=y; session=" + tok)},
		{Header: hdrs("Authorization", "bearer  "+tok)},
	} {
		id, reason, src := j.Authenticate(r)
		if reason != ReasonOK || id.Consumer != "alice" {
			t.Fatalf("%+v: %v", r, reason)
		}
		if (r.Header == nil) != src.Removable() {
			t.Fatalf("source %v removable=%v", src, src.Removable())
		}
	}
	if _, reason, _ := j.Authenticate(&Request{Header: hdrs("Authorization", "Basic abc")}); reason != ReasonMissing {
		t.Fatalf("Basic auth = %v, want missing", reason)
	}
	if _, reason, _ := j.Authenticate(&Request{RawQuery: []byte("access_token=%zz")}); reason != ReasonMalformed {
		t.Fatalf("bad escape = %v", reason)
	}
}

// The credential checked is the first under its exact name, whatever
// twins (names some application reads as the same one) stand beside it:
// every copy and twin is stripped from what goes upstream (source_test),
// so no application reads another; a browser sending two cookies of one
// name (path or domain variants) is not locked out.
func TestCredentialTwinsFirstExactChecked(t *testing.T) {
	k := keys(t)
	j, _ := fileVerifier(t, allKeysJWKS(k), func(c *JWTConfig) {
		c.TokenFrom = []TokenSource{{FromHeader, "Authorization"}, {FromQuery, "access_token"}, {FromCookie, "session"}, {FromCookie, "auth_token"}}
	})
	a, err := NewAPIKeys(APIKeyConfig{Name: "p", From: TokenSource{FromQuery, "api_key"}, Keys: []APIKey{{Consumer: "acme", SHA256Hex: sha("good")}}})
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, "HS256", k.hmac, nil, stdClaims())
	for _, c := range []struct {
		r    *Request
		want Reason
	}{
		{&Request{RawQuery: []byte("access_token=" + tok + "&access.token=FORGED")}, ReasonOK},
		{&Request{RawQuery: []byte("access_token=" + tok + "&ACCESS_TOKEN=FORGED")}, ReasonOK},
		{&Request{RawQuery: []byte("access_token=" + tok + "&access_token=FORGED")}, ReasonOK},
		{&Request{RawQuery: []byte("access.token=" + tok + "&access_token=FORGED")}, ReasonMalformed},
		{&Request{RawQuery: []byte("access_token=FORGED&access_token=" + tok)}, ReasonMalformed},
		{&Request{Cookie: []byte("session=" + tok + "; session=OLD")}, ReasonOK},
		{&Request{Cookie: []byte("auth_token=" + tok + "; auth.token=FORGED")}, ReasonOK},
		{&Request{Header: hdrs("Authorization", "Bearer "+tok), RawQuery: []byte("access.token=FORGED&access_token=F2")}, ReasonOK},
		{&Request{Header: hdrs("Authorization", "Bearer "+tok), Cookie: []byte("auth.token=FORGED")}, ReasonOK},
	} {
		if _, reason, _ := j.Authenticate(c.r); reason != c.want {
			t.Errorf("jwt %q %q: %v, want %v", c.r.RawQuery, c.r.Cookie, reason, c.want)
		}
	}
	for q, want := range map[string]Reason{
		"api_key=good":              ReasonOK,
		"api_key=good&api.key=F":    ReasonOK,
		"api_key=good&API_KEY=F":    ReasonOK,
		"api_key=F&api_key=good":    ReasonUnknownAPIKey,
		"api_key=good&api_key=good": ReasonOK,
	} {
		if _, reason, _ := a.Authenticate(&Request{RawQuery: []byte(q)}); reason != want {
			t.Errorf("api key %q: %v, want %v", q, reason, want)
		}
	}
}

func hdrs(kv ...string) HeaderFunc {
	return func(name string) []byte {
		for i := 0; i+1 < len(kv); i += 2 {
			if strings.EqualFold(kv[i], name) {
				return []byte(kv[i+1])
			}
		}
		return nil
	}
}

func TestReasons(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Reasons() {
		s := r.String()
		if seen[s] || s == "" || s == "unknown" {
			t.Fatalf("token %q duplicated or empty", s)
		}
		seen[s] = true
	}
	f := func(r Reason, status int, code, www string) {
		t.Helper()
		if r.Status() != status || r.Code() != code || r.WWWAuthenticate() != www {
			t.Fatalf("%v: %d %q %q", r, r.Status(), r.Code(), r.WWWAuthenticate())
		}
	}
	f(ReasonOK, 200, "", "")
	f(ReasonMissing, 401, "unauthorized", "Bearer")
	f(ReasonBadSignature, 401, "unauthorized", `Bearer error="invalid_token"`)
	f(ReasonUnknownAPIKey, 401, "unauthorized", `Bearer error="invalid_token"`)
	f(ReasonInsufficientScope, 403, "forbidden", `Bearer error="insufficient_scope"`)
	f(ReasonJWKSUnavailable, 503, "unavailable", "")
	if Reason(200).String() != "unknown" {
		t.Fatal("out of range reason")
	}
}

func TestHasScopes(t *testing.T) {
	id := &Identity{Scopes: []string{"a", "b"}}
	f := func(id *Identity, req []string, want bool) {
		t.Helper()
		if HasScopes(id, req) != want {
			t.Fatalf("HasScopes(%v, %v) != %v", id, req, want)
		}
	}
	f(id, nil, true)
	f(id, []string{"a"}, true)
	f(id, []string{"b", "a"}, true)
	f(id, []string{"a", "c"}, false)
	f(nil, []string{"a"}, false)
	f(nil, nil, true)
	f(&Identity{}, []string{"a"}, false)
}

func mustB64(t *testing.T, s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// EdDSA and Ed25519 (RFC 9864's fully-specified name) are one algorithm
// here: an allow-list naming either admits tokens naming either, and
// nothing else.
func TestEdDSAAndEd25519AreAliases(t *testing.T) {
	k := keys(t)
	for _, allowed := range []string{"EdDSA", "Ed25519"} {
		j, _ := fileVerifier(t, allKeysJWKS(k), func(c *JWTConfig) { c.Algorithms = []string{allowed} })
		for _, alg := range []string{"EdDSA", "Ed25519"} {
			tok := sign(t, alg, k.ed, map[string]any{"kid": "ed1"}, stdClaims())
			if _, r := j.Verify([]byte(tok)); r != ReasonOK {
				t.Errorf("allowed %s, token %s: %v", allowed, alg, r)
			}
		}
		rs := sign(t, "RS256", k.rsa, map[string]any{"kid": "rsa1"}, stdClaims())
		if _, r := j.Verify([]byte(rs)); r != ReasonAlgNotAllowed {
			t.Errorf("allowed %s, RS256 token: %v", allowed, r)
		}
	}
}

// TestLeewayFractionRoundsUp: JWT times are whole seconds, so a leeway
// with a fraction counts as the next whole second; it used to be cut
// down, 1.9 s acting as 1 s.
func TestLeewayFractionRoundsUp(t *testing.T) {
	k := keys(t)
	for _, c := range []struct {
		leeway time.Duration
		expAgo int64
		wantOK bool
	}{
		{1900 * time.Millisecond, 1, true},
		{1900 * time.Millisecond, 2, false}, // now == exp + 2 s: not before it
		{500 * time.Millisecond, 1, false},
		{500 * time.Millisecond, 0, true},
		{2 * time.Second, 1, true},
	} {
		j, _ := fileVerifier(t, allKeysJWKS(k), func(cfg *JWTConfig) { cfg.Leeway = c.leeway })
		tok := sign(t, "RS256", k.rsa, map[string]any{"kid": "rsa1"}, with(stdClaims(), "exp", testNow.Unix()-c.expAgo))
		_, r := j.Verify([]byte(tok))
		if (r == ReasonOK) != c.wantOK {
			t.Errorf("leeway %v, expired %d s ago: %v", c.leeway, c.expAgo, r)
		}
	}
}
