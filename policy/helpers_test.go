package policy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"hash"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Test keys are generated once per test binary (RSA generation is slow).
type testKeys struct {
	rsa, rsa2 *rsa.PrivateKey
	rsa1024   *rsa.PrivateKey
	ec256     *ecdsa.PrivateKey
	ec384     *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
	hmac      []byte
}

var (
	keysOnce sync.Once
	tk       testKeys
)

func keys(t testing.TB) *testKeys {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		must := func(e error) {
			if e != nil && err == nil {
				err = e
			}
		}
		tk.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
		var e error
		tk.rsa2, e = rsa.GenerateKey(rand.Reader, 2048)
		must(e)
		// rsa.GenerateKey refuses < 1024 bits; 1024 is enough to test the 2048 floor.
		tk.rsa1024, e = rsa.GenerateKey(rand.Reader, 1024)
		must(e)
		tk.ec256, e = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(e)
		tk.ec384, e = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		must(e)
		_, tk.ed, e = ed25519.GenerateKey(rand.Reader)
		must(e)
		tk.hmac = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
		if err != nil {
			panic(err)
		}
	})
	return &tk
}

func b64s(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func bigB64(b []byte) string { return b64s(b) }

// jwkOf renders a public key as a JWK map.
func jwkOf(kid string, pub any, alg string) map[string]any {
	m := map[string]any{}
	if kid != "" {
		m["kid"] = kid
	}
	if alg != "" {
		m["alg"] = alg
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		m["kty"] = "RSA"
		m["n"] = bigB64(k.N.Bytes())
		e := []byte{byte(k.E >> 16), byte(k.E >> 8), byte(k.E)}
		m["e"] = b64s(trimZeros(e))
	case *ecdsa.PublicKey:
		m["kty"] = "EC"
		size := (k.Curve.Params().BitSize + 7) / 8
		raw, _ := k.Bytes()
		m["crv"] = k.Curve.Params().Name
		m["x"] = b64s(raw[1 : 1+size])
		m["y"] = b64s(raw[1+size:])
	case ed25519.PublicKey:
		m["kty"] = "OKP"
		m["crv"] = "Ed25519"
		m["x"] = b64s(k)
	}
	return m
}

func jwksJSON(keys ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

// sign mints a compact JWS with the given header and claims.
func sign(t testing.TB, alg string, key any, hdr, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": alg, "typ": "JWT"}
	for k, v := range hdr {
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(claims)
	in := b64s(hb) + "." + b64s(cb)
	return in + "." + b64s(signRaw(t, alg, key, []byte(in)))
}

func signRaw(t testing.TB, alg string, key any, in []byte) []byte {
	t.Helper()
	a := lookupAlg(alg)
	if a == nil {
		t.Fatalf("unknown alg %s", alg)
	}
	var buf [64]byte
	var sig []byte
	var err error
	switch a.scheme {
	case schemePKCS1:
		sig, err = rsa.SignPKCS1v15(nil, key.(*rsa.PrivateKey), a.hash, digest(a.hash, in, &buf))
	case schemePSS:
		sig, err = rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), a.hash, digest(a.hash, in, &buf), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case schemeECDSA:
		k := key.(*ecdsa.PrivateKey)
		r, s, e := ecdsa.Sign(rand.Reader, k, digest(a.hash, in, &buf))
		err = e
		n := a.sigLen / 2
		sig = make([]byte, 2*n)
		r.FillBytes(sig[:n])
		s.FillBytes(sig[n:])
	case schemeEd25519:
		sig = ed25519.Sign(key.(ed25519.PrivateKey), in)
	case schemeHMAC:
		var nf func() hash.Hash
		switch a.hash {
		case crypto.SHA256:
			nf = sha256.New
		case crypto.SHA384:
			nf = sha512.New384
		default:
			nf = sha512.New
		}
		m := hmac.New(nf, key.([]byte))
		m.Write(in)
		sig = m.Sum(nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// fakeClock is a settable clock for expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var testNow = time.Unix(1_800_000_000, 0)

func stdClaims() map[string]any {
	return map[string]any{
		"iss":    "https://id.example.com/",
		"aud":    "orders-api",
		"sub":    "alice",
		"tenant": "acme",
		"scope":  "orders:read orders:write",
		"exp":    testNow.Unix() + 3600,
		"nbf":    testNow.Unix() - 60,
		"iat":    testNow.Unix() - 60,
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// allKeysJWKS holds one key of every type, each with a kid.
func allKeysJWKS(k *testKeys) []byte {
	return jwksJSON(
		jwkOf("rsa1", &k.rsa.PublicKey, ""),
		jwkOf("ec256", &k.ec256.PublicKey, ""),
		jwkOf("ec384", &k.ec384.PublicKey, ""),
		jwkOf("ed1", k.ed.Public(), ""),
	)
}

func writeFile(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func baseConfig(clock *fakeClock) JWTConfig {
	return JWTConfig{
		Name:               "users",
		Issuer:             "https://id.example.com/",
		Audiences:          []string{"orders-api"},
		Algorithms:         []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "Ed25519"},
		Leeway:             30 * time.Second,
		TenantClaim:        "tenant",
		Now:                clock.Now,
		MinRefetchInterval: 5 * time.Second,
	}
}

// fileVerifier builds a verifier over a JWKS file holding jwks.
func fileVerifier(t testing.TB, jwks []byte, mod func(*JWTConfig)) (*JWT, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: testNow}
	cfg := baseConfig(clock)
	cfg.JWKSFile = writeFile(t, jwks)
	cfg.HMACSecret = keys(t).hmac
	cfg.Algorithms = SupportedAlgorithms()
	if mod != nil {
		mod(&cfg)
	}
	j, err := NewJWT(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return j, clock
}

func hashOf(b []byte) uint64 { return xxhash.Sum64(b) }

// headerView is a HeaderFunc source that does not allocate.
type headerView struct {
	name  string
	value []byte
}

func (h *headerView) get(name string) []byte {
	if len(name) == len(h.name) && name == h.name {
		return h.value
	}
	return nil
}
