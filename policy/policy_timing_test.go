package policy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"strings"
	"testing"
	"time"
)

// BenchmarkVerifyCacheHit: a repeated token, the common case on the hot
// path. Goal: 0 allocs/op.
func BenchmarkVerifyCacheHit(b *testing.B) {
	k := keys(b)
	j, _ := fileVerifier(b, allKeysJWKS(k), nil)
	tok := []byte(sign(b, "RS256", k.rsa, map[string]any{"kid": "rsa1"}, stdClaims()))
	if _, r := j.Verify(tok); r != ReasonOK {
		b.Fatal(r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, r := j.Verify(tok); r != ReasonOK {
				b.Fatal(r)
			}
		}
	})
}

// BenchmarkAuthenticateCacheHit: header lookup + Bearer parse + cache hit.
func BenchmarkAuthenticateCacheHit(b *testing.B) {
	k := keys(b)
	j, _ := fileVerifier(b, allKeysJWKS(k), nil)
	tok := []byte(sign(b, "ES256", k.ec256, map[string]any{"kid": "ec256"}, stdClaims()))
	hv := &headerView{name: "Authorization", value: append([]byte("Bearer "), tok...)}
	req := &Request{Header: hv.get}
	methods := []Method{JWTMethod(j)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := Authenticate(methods, req); res.Reason != ReasonOK {
			b.Fatal(res.Reason)
		}
	}
}

func BenchmarkAPIKey(b *testing.B) {
	a, _ := NewAPIKeys(APIKeyConfig{Name: "p", From: TokenSource{FromHeader, "X-API-Key"}, Keys: []APIKey{{Consumer: "acme", SHA256Hex: sha("0123456789abcdef0123456789abcdef")}}})
	key := []byte("0123456789abcdef0123456789abcdef")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, r := a.Verify(key); r != ReasonOK {
			b.Fatal(r)
		}
	}
}

// BenchmarkVerifyMiss measures full verification (everything but the
// cache lookup: split, base64, JSON, key pick, signature, claims, cache
// insert) per algorithm, next to BenchmarkStdlibVerify, the bare standard
// library call on the same key, signing input and signature.
func BenchmarkVerifyMiss(b *testing.B) {
	k := keys(b)
	j, _ := fileVerifier(b, allKeysJWKS(k), nil)
	for _, c := range benchCases(k) {
		tok := []byte(sign(b, c.alg, c.key, c.hdr, stdClaims()))
		b.Run(c.alg, func(b *testing.B) {
			h := hashOf(tok)
			now := testNow.Unix()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, r, _ := j.verifySlow(tok, h, now); r != ReasonOK {
					b.Fatal(r)
				}
			}
		})
	}
}

func BenchmarkStdlibVerify(b *testing.B) {
	k := keys(b)
	for _, c := range benchCases(k) {
		verify := stdlibVerifier(b, k, c)
		b.Run(c.alg, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !verify() {
					b.Fatal("verify failed")
				}
			}
		})
	}
}

// BenchmarkVerifyMissRatio alternates one full verification and one bare
// stdlib verification of the same token per iteration, so load changes on
// a shared machine hit both alike, and reports their ratio.
func BenchmarkVerifyMissRatio(b *testing.B) {
	k := keys(b)
	j, _ := fileVerifier(b, allKeysJWKS(k), nil)
	for _, c := range benchCases(k) {
		tok := []byte(sign(b, c.alg, c.key, c.hdr, stdClaims()))
		verify := stdlibVerifier(b, k, c)
		b.Run(c.alg, func(b *testing.B) {
			h := hashOf(tok)
			now := testNow.Unix()
			var ours, std time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if _, r, _ := j.verifySlow(tok, h, now); r != ReasonOK {
					b.Fatal(r)
				}
				t1 := time.Now()
				if !verify() {
					b.Fatal("stdlib verify failed")
				}
				t2 := time.Now()
				ours += t1.Sub(t0)
				std += t2.Sub(t1)
			}
			b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N), "policy-ns/op")
			b.ReportMetric(float64(std.Nanoseconds())/float64(b.N), "stdlib-ns/op")
			b.ReportMetric(float64(ours)/float64(std), "ratio")
		})
	}
}

func stdlibVerifier(b *testing.B, k *testKeys, c benchCase) func() bool {
	tok := sign(b, c.alg, c.key, c.hdr, stdClaims())
	i := strings.LastIndexByte(tok, '.')
	in := []byte(tok[:i])
	sig, _ := b64Decode(nil, []byte(tok[i+1:]))
	a := lookupAlg(c.alg)
	switch a.scheme {
	case schemePKCS1:
		pub := &k.rsa.PublicKey
		return func() bool {
			var buf [64]byte
			return rsa.VerifyPKCS1v15(pub, a.hash, digest(a.hash, in, &buf), sig) == nil
		}
	case schemePSS:
		pub := &k.rsa.PublicKey
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
		return func() bool {
			var buf [64]byte
			return rsa.VerifyPSS(pub, a.hash, digest(a.hash, in, &buf), sig, opts) == nil
		}
	case schemeECDSA:
		pub := &c.key.(*ecdsa.PrivateKey).PublicKey
		der := rawToDER(nil, sig)
		return func() bool {
			var buf [64]byte
			return ecdsa.VerifyASN1(pub, digest(a.hash, in, &buf), der)
		}
	case schemeEd25519:
		pub := k.ed.Public().(ed25519.PublicKey)
		return func() bool { return ed25519.Verify(pub, in, sig) }
	default:
		nf := map[crypto.Hash]func() hash.Hash{crypto.SHA256: sha256.New, crypto.SHA384: sha512.New384, crypto.SHA512: sha512.New}[a.hash]
		return func() bool {
			m := hmac.New(nf, k.hmac)
			m.Write(in)
			return hmac.Equal(m.Sum(nil), sig)
		}
	}
}

type benchCase struct {
	alg string
	key any
	hdr map[string]any
}

func benchCases(k *testKeys) []benchCase {
	return []benchCase{
		{"RS256", k.rsa, map[string]any{"kid": "rsa1"}},
		{"PS256", k.rsa, map[string]any{"kid": "rsa1"}},
		{"ES256", k.ec256, map[string]any{"kid": "ec256"}},
		{"ES384", k.ec384, map[string]any{"kid": "ec384"}},
		{"EdDSA", k.ed, map[string]any{"kid": "ed1"}},
		{"HS256", k.hmac, nil},
		{"HS384", k.hmac, nil},
		{"HS512", k.hmac, nil},
	}
}
