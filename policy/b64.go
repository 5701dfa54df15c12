package policy

import "encoding/base64"

// b64 is the strict unpadded base64url decoding JWS requires (RFC 7515
// §2): no padding, no whitespace, non-zero trailing bits rejected.
var b64 = base64.RawURLEncoding.Strict()

// b64Valid reports whether every byte of s is in the base64url alphabet.
// encoding/base64 silently skips '\r' and '\n', so the alphabet is checked
// here first to keep one token = one byte string.
func b64Valid(s []byte) bool {
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	// A length of 1 mod 4 can never be produced by an encoder.
	return len(s)%4 != 1
}

// b64Decode appends the decoding of s to dst, or returns false.
func b64Decode(dst, s []byte) ([]byte, bool) {
	if !b64Valid(s) {
		return nil, false
	}
	n := b64.DecodedLen(len(s))
	start := len(dst)
	if cap(dst)-start < n {
		nd := make([]byte, start, start+n)
		copy(nd, dst)
		dst = nd
	}
	dst = dst[:start+n]
	m, err := b64.Decode(dst[start:], s)
	if err != nil {
		return nil, false
	}
	return dst[:start+m], true
}
