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
	"sync"
)

// keyKind is the kind of public key an algorithm needs.
type keyKind uint8

const (
	kindNone keyKind = iota
	kindRSA
	kindP256
	kindP384
	kindEd25519
	kindHMAC // the configured shared secret; never a JWKS key
)

// sigScheme selects the verification routine.
type sigScheme uint8

const (
	schemePKCS1 sigScheme = iota + 1
	schemePSS
	schemeECDSA
	schemeEd25519
	schemeHMAC
)

// algorithm describes one JWS "alg" value (RFC 7518 §3, RFC 8037).
type algorithm struct {
	name   string
	kind   keyKind
	scheme sigScheme
	hash   crypto.Hash // unused for Ed25519
	sigLen int         // exact signature length where fixed (ECDSA R||S, Ed25519, HMAC); 0 = key size (RSA)
}

var algorithms = [...]algorithm{
	{"RS256", kindRSA, schemePKCS1, crypto.SHA256, 0},
	{"RS384", kindRSA, schemePKCS1, crypto.SHA384, 0},
	{"RS512", kindRSA, schemePKCS1, crypto.SHA512, 0},
	{"PS256", kindRSA, schemePSS, crypto.SHA256, 0},
	{"PS384", kindRSA, schemePSS, crypto.SHA384, 0},
	{"PS512", kindRSA, schemePSS, crypto.SHA512, 0},
	{"ES256", kindP256, schemeECDSA, crypto.SHA256, 64},
	{"ES384", kindP384, schemeECDSA, crypto.SHA384, 96},
	{"EdDSA", kindEd25519, schemeEd25519, 0, ed25519.SignatureSize},
	{"Ed25519", kindEd25519, schemeEd25519, 0, ed25519.SignatureSize}, // RFC 9864 fully-specified name
	{"HS256", kindHMAC, schemeHMAC, crypto.SHA256, 32},
	{"HS384", kindHMAC, schemeHMAC, crypto.SHA384, 48},
	{"HS512", kindHMAC, schemeHMAC, crypto.SHA512, 64},
}

// SupportedAlgorithms lists the "alg" values the verifier implements.
func SupportedAlgorithms() []string {
	out := make([]string, len(algorithms))
	for i := range algorithms {
		out[i] = algorithms[i].name
	}
	return out
}

func lookupAlg(name string) *algorithm {
	for i := range algorithms {
		if algorithms[i].name == name {
			return &algorithms[i]
		}
	}
	return nil
}

// isNone reports "none" in any letter case (RFC 7518 §3.6 unsecured JWS).
func isNone(b []byte) bool { return len(b) == 4 && strings.EqualFold(string(b), "none") }

// digest hashes the JWS signing input with h into buf (no allocation).
func digest(h crypto.Hash, in []byte, buf *[64]byte) []byte {
	switch h {
	case crypto.SHA256:
		s := sha256.Sum256(in)
		return append(buf[:0], s[:]...)
	case crypto.SHA384:
		s := sha512.Sum384(in)
		return append(buf[:0], s[:]...)
	case crypto.SHA512:
		s := sha512.Sum512(in)
		return append(buf[:0], s[:]...)
	}
	return nil
}

// pssOpts: RFC 7518 §3.5 fixes the salt length to the hash size.
var pssOpts = rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}

// verifyAsym checks sig over in with an asymmetric key of the kind a
// needs (the caller guarantees the kind matches).
func verifyAsym(a *algorithm, k *jwk, in, sig []byte) bool {
	var buf [64]byte
	switch a.scheme {
	case schemePKCS1:
		return rsa.VerifyPKCS1v15(k.rsa, a.hash, digest(a.hash, in, &buf), sig) == nil
	case schemePSS:
		return rsa.VerifyPSS(k.rsa, a.hash, digest(a.hash, in, &buf), sig, &pssOpts) == nil
	case schemeECDSA:
		// JWS carries R||S, each exactly the curve's byte size (RFC 7518
		// §3.4); anything else, DER included, is rejected.
		if len(sig) != a.sigLen {
			return false
		}
		var der [2 + 2*(2+1+48)]byte
		d := rawToDER(der[:0], sig)
		return ecdsa.VerifyASN1(k.ec, digest(a.hash, in, &buf), d)
	case schemeEd25519:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.ed, in, sig)
	}
	return false
}

// rawToDER converts a fixed-size R||S ECDSA signature to the ASN.1 DER
// form crypto/ecdsa verifies. Sizes here stay below 128 bytes, so every
// length fits the short form.
func rawToDER(dst, sig []byte) []byte {
	n := len(sig) / 2
	r, s := trimZeros(sig[:n]), trimZeros(sig[n:])
	ilen := func(x []byte) int {
		if len(x) > 0 && x[0]&0x80 != 0 {
			return len(x) + 1
		}
		return len(x)
	}
	lr, ls := ilen(r), ilen(s)
	dst = append(dst, 0x30, byte(2+lr+2+ls))
	dst = appendInt(dst, r, lr)
	dst = appendInt(dst, s, ls)
	return dst
}

func appendInt(dst, x []byte, l int) []byte {
	dst = append(dst, 0x02, byte(l))
	if l > len(x) {
		dst = append(dst, 0)
	}
	return append(dst, x...)
}

func trimZeros(x []byte) []byte {
	for len(x) > 0 && x[0] == 0 {
		x = x[1:]
	}
	return x
}

// hmacVerifier checks HS* signatures with one shared secret, reusing keyed
// HMAC states from a pool so a cache miss neither rebuilds the key pads
// (crypto/hmac keeps the padded states marshalled after the first Sum, so
// Reset and Sum restore them instead of hashing the pads again) nor
// allocates. A sync.Pool keeps this safe for any number of event loops.
type hmacVerifier struct {
	pools [3]sync.Pool // of *hmacState: SHA-256, SHA-384, SHA-512
}

// hmacState is one keyed HMAC with room for its output: Sum through the
// hash.Hash interface would move a stack buffer to the heap.
type hmacState struct {
	h   hash.Hash
	sum [64]byte
}

func newHMACVerifier(secret []byte) *hmacVerifier {
	v := &hmacVerifier{}
	key := append([]byte(nil), secret...)
	news := [3]func() hash.Hash{sha256.New, sha512.New384, sha512.New}
	for i := range v.pools {
		nf := news[i]
		v.pools[i].New = func() any { return &hmacState{h: hmac.New(nf, key)} }
	}
	return v
}

func (v *hmacVerifier) verify(a *algorithm, in, sig []byte) bool {
	if len(sig) != a.sigLen {
		return false
	}
	var p *sync.Pool
	switch a.hash {
	case crypto.SHA256:
		p = &v.pools[0]
	case crypto.SHA384:
		p = &v.pools[1]
	default:
		p = &v.pools[2]
	}
	st := p.Get().(*hmacState)
	st.h.Reset()
	st.h.Write(in)
	ok := hmac.Equal(st.h.Sum(st.sum[:0]), sig)
	p.Put(st)
	return ok
}
