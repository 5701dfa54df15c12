package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// demoIssuer is the demo's identity provider: an ES256 key generated at
// start, its JWKS served on loopback, and tokens minted for the curl lines.
type demoIssuer struct {
	key *ecdsa.PrivateKey
	kid string
	iss string
}

func newDemoIssuer() (*demoIssuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("cannot generate demo signing key: %w", err)
	}
	return &demoIssuer{key: key, kid: "demo-1"}, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (d *demoIssuer) jwks() []byte {
	pub, _ := d.key.PublicKey.Bytes() // uncompressed point: 0x04 || X || Y
	doc := map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": d.kid,
		"x": b64(pub[1:33]), "y": b64(pub[33:65]),
	}}}
	b, _ := json.Marshal(doc)
	return b
}

func (d *demoIssuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(d.jwks())
}

// mint signs a token for sub with the given scopes, valid for 24 h.
func (d *demoIssuer) mint(sub, scope string) (string, error) {
	header, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": d.kid})
	now := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{
		"iss": d.iss, "aud": "orders-api", "sub": sub, "scope": scope, "tenant": "demo",
		"iat": now, "nbf": now, "exp": now + 24*3600,
	})
	signing := b64(header) + "." + b64(claims)
	sum := sha256.Sum256([]byte(signing))
	rr, ss, err := ecdsa.Sign(rand.Reader, d.key, sum[:])
	if err != nil {
		return "", fmt.Errorf("cannot sign demo token: %w", err)
	}
	sig := make([]byte, 64)
	rr.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return signing + "." + b64(sig), nil
}

// newDemoAPIKey returns a random API key and the sha256 hex the route file
// stores instead of the key.
func newDemoAPIKey() (key, sum string, err error) {
	raw := make([]byte, 18)
	if _, err := rand.Read(raw); err != nil {
		return "", "", fmt.Errorf("cannot generate demo API key: %w", err)
	}
	key = "demo_" + b64(raw)
	h := sha256.Sum256([]byte(key))
	return key, hex.EncodeToString(h[:]), nil
}
