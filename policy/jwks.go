package policy

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// Limits on what a JWKS may hold.
const (
	MinRSABits      = 2048 // smaller RSA keys are skipped
	MaxRSABits      = 8192 // larger ones too: they only make verification a DoS lever
	MaxJWKSKeys     = 256  // keys past this are skipped
	MaxJWKSBytes    = 1 << 20
	maxKIDLen       = 128
	kidAllowedExtra = "._-~+/="
)

// ValidKID reports whether kid is a plain identifier: 1..128 bytes of
// [A-Za-z0-9._~+/=-]. The set covers hex, UUIDs, base64url thumbprints and
// the padded standard-base64 kids some IdPs (AWS Cognito) publish, and
// excludes quotes, backslashes, spaces, controls and non-ASCII, so a kid
// can never smuggle anything into a log line, a metric or a header.
func ValidKID(kid []byte) bool {
	if len(kid) == 0 || len(kid) > maxKIDLen {
		return false
	}
	for _, c := range kid {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte(kidAllowedExtra, c) >= 0) {
			return false
		}
	}
	return true
}

// jwk is one usable public key, parsed once.
type jwk struct {
	kid  string
	alg  string // "" = any algorithm of the key's kind
	kind keyKind
	rsa  *rsa.PublicKey
	ec   *ecdsa.PublicKey
	ed   ed25519.PublicKey
	fp   uint64 // fingerprint of kind, material, kid and alg
}

// fits reports whether k may verify a token signed with a.
func (k *jwk) fits(a *algorithm) bool {
	if k.kind != a.kind {
		return false
	}
	if k.alg == "" || k.alg == a.name {
		return true
	}
	return a.kind == kindEd25519 // "EdDSA" and "Ed25519" name the same scheme
}

// KeySet is an immutable set of ready-to-use public keys parsed from a
// JWKS document. It is shared between goroutines once built.
type KeySet struct {
	keys    []*jwk
	byKID   map[string][]*jwk
	byKind  [kindHMAC][]*jwk
	fps     map[uint64]struct{}
	setFP   uint64 // order-independent fingerprint of the whole set
	skipped []string
	gen     uint64 // set by the owner before publishing
}

// Len is the number of usable keys.
func (ks *KeySet) Len() int { return len(ks.keys) }

// KIDs lists the kids of the usable keys (sorted; kid-less keys omitted).
func (ks *KeySet) KIDs() []string {
	out := make([]string, 0, len(ks.byKID))
	for kid := range ks.byKID {
		out = append(out, kid)
	}
	sort.Strings(out)
	return out
}

// Skipped describes every key that was ignored and why, for logs.
func (ks *KeySet) Skipped() []string { return ks.skipped }

type rawJWK struct {
	Kty    string   `json:"kty"`
	Kid    *string  `json:"kid"`
	Use    string   `json:"use"`
	Alg    string   `json:"alg"`
	KeyOps []string `json:"key_ops"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// ParseJWKS parses a JWK Set (RFC 7517 §5) into ready-to-use keys. Keys it
// cannot or must not use are skipped, each with a note in Skipped: kty
// "oct" (a JWKS key is never an HMAC secret), use other than "sig",
// key_ops without "verify", an alg that is unsupported or does not fit the
// key type, RSA under MinRSABits or over MaxRSABits, curves other than
// P-256, P-384 and Ed25519, points not on the curve, kids that fail
// ValidKID, and duplicate kids of the same key type. A document with no
// usable key is an error, so a refresh that yields one keeps the last good
// set. Values may carry '=' padding (tolerated in JWKS, never in tokens).
func ParseJWKS(data []byte) (*KeySet, error) {
	if len(data) > MaxJWKSBytes {
		return nil, fmt.Errorf("cannot parse JWKS: %d bytes, over the %d-byte limit", len(data), MaxJWKSBytes)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("cannot parse JWKS: %w", err)
	}
	if doc.Keys == nil {
		return nil, fmt.Errorf("cannot parse JWKS: no \"keys\" array")
	}
	ks := &KeySet{byKID: map[string][]*jwk{}, fps: map[uint64]struct{}{}}
	for i, raw := range doc.Keys {
		if i >= MaxJWKSKeys {
			ks.skipped = append(ks.skipped, fmt.Sprintf("keys[%d..]: over the %d-key limit", i, MaxJWKSKeys))
			break
		}
		var r rawJWK
		if err := json.Unmarshal(raw, &r); err != nil {
			ks.skipped = append(ks.skipped, fmt.Sprintf("keys[%d]: %v", i, err))
			continue
		}
		k, err := parseJWK(&r)
		if err != nil {
			ks.skipped = append(ks.skipped, fmt.Sprintf("keys[%d] (kid %q): %v", i, kidOf(&r), err))
			continue
		}
		if k.kid != "" {
			dup := false
			for _, o := range ks.byKID[k.kid] {
				dup = dup || o.kind == k.kind
			}
			if dup {
				ks.skipped = append(ks.skipped, fmt.Sprintf("keys[%d] (kid %q): duplicate kid for this key type", i, k.kid))
				continue
			}
			ks.byKID[k.kid] = append(ks.byKID[k.kid], k)
		}
		ks.keys = append(ks.keys, k)
		ks.byKind[k.kind] = append(ks.byKind[k.kind], k)
		ks.fps[k.fp] = struct{}{}
		ks.setFP += k.fp * 0x9E3779B97F4A7C15 // commutative, so order does not matter
	}
	if len(ks.keys) == 0 {
		return nil, fmt.Errorf("cannot parse JWKS: no usable key (%d skipped: %s)", len(ks.skipped), strings.Join(ks.skipped, "; "))
	}
	return ks, nil
}

func kidOf(r *rawJWK) string {
	if r.Kid == nil {
		return ""
	}
	if len(*r.Kid) > 40 {
		return (*r.Kid)[:40] + "..."
	}
	return *r.Kid
}

func parseJWK(r *rawJWK) (*jwk, error) {
	k := &jwk{}
	var matA, matB []byte // key material, for the fingerprint
	if r.Kid != nil {
		if !ValidKID([]byte(*r.Kid)) {
			return nil, fmt.Errorf("kid is not a plain identifier")
		}
		k.kid = *r.Kid
	}
	if r.Use != "" && r.Use != "sig" {
		return nil, fmt.Errorf("use %q is not \"sig\"", r.Use)
	}
	if r.KeyOps != nil {
		ok := false
		for _, op := range r.KeyOps {
			ok = ok || op == "verify"
		}
		if !ok {
			return nil, fmt.Errorf("key_ops lacks \"verify\"")
		}
	}
	switch r.Kty {
	case "RSA":
		n, err := jwkBytes(r.N)
		if err != nil {
			return nil, fmt.Errorf("bad n: %w", err)
		}
		e, err := jwkBytes(r.E)
		if err != nil {
			return nil, fmt.Errorf("bad e: %w", err)
		}
		nn := new(big.Int).SetBytes(n)
		if bits := nn.BitLen(); bits < MinRSABits || bits > MaxRSABits {
			return nil, fmt.Errorf("RSA modulus of %d bits is outside %d..%d", bits, MinRSABits, MaxRSABits)
		}
		e = trimZeros(e)
		if len(e) == 0 || len(e) > 4 {
			return nil, fmt.Errorf("RSA exponent out of range")
		}
		var ev int64
		for _, b := range e {
			ev = ev<<8 | int64(b)
		}
		if ev < 3 || ev%2 == 0 || ev > 1<<31-1 {
			return nil, fmt.Errorf("RSA exponent %d not usable", ev)
		}
		k.kind = kindRSA
		k.rsa = &rsa.PublicKey{N: nn, E: int(ev)}
		matA, matB = n, e
	case "EC":
		var curve elliptic.Curve
		size := 0
		switch r.Crv {
		case "P-256":
			curve, size, k.kind = elliptic.P256(), 32, kindP256
		case "P-384":
			curve, size, k.kind = elliptic.P384(), 48, kindP384
		default:
			return nil, fmt.Errorf("EC curve %q not supported", r.Crv)
		}
		x, err := jwkBytes(r.X)
		if err != nil {
			return nil, fmt.Errorf("bad x: %w", err)
		}
		y, err := jwkBytes(r.Y)
		if err != nil {
			return nil, fmt.Errorf("bad y: %w", err)
		}
		if len(x) != size || len(y) != size {
			return nil, fmt.Errorf("EC coordinates must be %d bytes each", size)
		}
		pt := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, pt)
		if err != nil {
			return nil, fmt.Errorf("bad EC point: %w", err)
		}
		k.ec = pub
		matA = pt
	case "OKP":
		if r.Crv != "Ed25519" {
			return nil, fmt.Errorf("OKP curve %q not supported", r.Crv)
		}
		x, err := jwkBytes(r.X)
		if err != nil {
			return nil, fmt.Errorf("bad x: %w", err)
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("Ed25519 key must be %d bytes", ed25519.PublicKeySize)
		}
		if err := checkEd25519Point(x); err != nil {
			return nil, err
		}
		k.kind = kindEd25519
		k.ed = ed25519.PublicKey(x)
		matA = x
	case "oct":
		return nil, fmt.Errorf("symmetric (oct) keys are never taken from a JWKS")
	default:
		return nil, fmt.Errorf("kty %q not supported", r.Kty)
	}
	if r.Alg != "" {
		a := lookupAlg(r.Alg)
		if a == nil || a.kind == kindHMAC {
			return nil, fmt.Errorf("alg %q not supported for a JWKS key", r.Alg)
		}
		if a.kind != k.kind {
			return nil, fmt.Errorf("alg %q does not fit the key type", r.Alg)
		}
		k.alg = a.name
	}
	k.fp = fingerprint(k, matA, matB)
	return k, nil
}

func fingerprint(k *jwk, a, b []byte) uint64 {
	d := xxhash.New()
	d.Write([]byte{byte(k.kind), byte(len(k.kid))})
	d.WriteString(k.kid)
	d.WriteString(k.alg)
	d.Write([]byte{0})
	d.Write(a)
	d.Write([]byte{0})
	d.Write(b)
	fp := d.Sum64()
	if fp == 0 {
		fp = 1 // 0 marks the HMAC secret in cache entries
	}
	return fp
}

// jwkBytes decodes a base64url JWK member, tolerating '=' padding.
func jwkBytes(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if s == "" {
		return nil, fmt.Errorf("empty")
	}
	out, ok := b64Decode(nil, []byte(s))
	if !ok {
		return nil, fmt.Errorf("not base64url")
	}
	return out, nil
}

// pick chooses the key for a token signed with a. With a kid, the key of
// that kid that fits a. Without one, the only key of the set that fits a;
// when several fit, the token is rejected rather than tried against each
// (N verifications per forged token would be a cheap DoS lever, and an
// IdP with several keys names them with kids). refetch tells the caller
// whether a JWKS refetch might help (the kid or key type is unknown).
func (ks *KeySet) pick(a *algorithm, kid []byte) (k *jwk, refetch bool) {
	if len(kid) > 0 {
		cands, ok := ks.byKID[string(kid)]
		if !ok {
			return nil, true
		}
		for _, c := range cands {
			if c.fits(a) {
				return c, false
			}
		}
		return nil, false
	}
	n := 0
	for _, c := range ks.byKind[a.kind] {
		if c.fits(a) {
			k = c
			n++
		}
	}
	switch n {
	case 1:
		return k, false
	case 0:
		return nil, true
	}
	return nil, false
}

// ed25519P is the field prime of Curve25519 and Ed25519, 2^255 - 19.
var ed25519P = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))

// checkEd25519Point refuses a public key that no key generation yields:
// a non-canonical encoding (y >= p) or a point of small order (the
// identity, and the points of order 2, 4 and 8). Against such a key
// signatures can be forged without any private key: with the identity,
// R = identity and S = 0 verify for every message (crypto/ed25519
// checks the equation, not the key). An IdP never publishes one; a JWKS
// that does is broken or tampered with. The order is read through the
// birational map to Curve25519 (u = (1+y)/(1-y)), where crypto/ecdh
// refuses a low-order point by its all-zero shared secret.
func checkEd25519Point(enc []byte) error {
	le := make([]byte, 32)
	copy(le, enc)
	le[31] &= 0x7f // the sign of x
	be := make([]byte, 32)
	for i := range le {
		be[31-i] = le[i]
	}
	y := new(big.Int).SetBytes(be)
	if y.Cmp(ed25519P) >= 0 {
		return fmt.Errorf("Ed25519 key is not a canonical point encoding")
	}
	den := new(big.Int).Sub(big.NewInt(1), y)
	den.Mod(den, ed25519P)
	if den.Sign() == 0 {
		return fmt.Errorf("Ed25519 key is the identity point")
	}
	u := new(big.Int).Add(big.NewInt(1), y)
	u.Mul(u, new(big.Int).ModInverse(den, ed25519P))
	u.Mod(u, ed25519P)
	ub := u.FillBytes(make([]byte, 32))
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		ub[i], ub[j] = ub[j], ub[i]
	}
	pub, err := ecdh.X25519().NewPublicKey(ub)
	if err != nil {
		return fmt.Errorf("Ed25519 key is not a valid point: %w", err)
	}
	if _, err := smallOrderProbe.ECDH(pub); err != nil {
		return fmt.Errorf("Ed25519 key is a point of small order")
	}
	return nil
}

// smallOrderProbe is a fixed X25519 private key: its shared secret with a
// low-order point is all zero, which crypto/ecdh reports as an error.
var smallOrderProbe = func() *ecdh.PrivateKey {
	k, err := ecdh.X25519().NewPrivateKey(make([]byte, 32))
	if err != nil {
		panic(err) // 32 bytes are always a valid X25519 private key
	}
	return k
}()
