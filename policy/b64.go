package policy

import "encoding/binary"

// b64 decodes the strict unpadded base64url JWS requires (RFC 7515 §2):
// only the URL-safe alphabet (no padding, no whitespace: encoding/base64
// would silently skip '\r' and '\n'), no length of 1 mod 4, non-zero
// trailing bits rejected. It is hand-rolled because it runs three times
// per cache miss and a table decoder validates while it decodes, in one
// pass instead of encoding/base64's check-then-decode two.

const b64Invalid = 0xff

var b64Table = func() (t [256]byte) {
	for i := range t {
		t[i] = b64Invalid
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// b64Pos holds, for each input position within a group of four, the
// character's six bits already shifted into place in a 24-bit group, and
// b64Bad (above 24 bits) for a character outside the alphabet: a group
// decodes with four loads and three ORs, and one compare validates it.
const b64Bad = 1 << 24

var b64Pos = func() (t [4][256]uint32) {
	for i := 0; i < 256; i++ {
		for p := 0; p < 4; p++ {
			if v := b64Table[i]; v == b64Invalid {
				t[p][i] = b64Bad
			} else {
				t[p][i] = uint32(v) << (18 - 6*p)
			}
		}
	}
	return t
}()

// b64DecodedLen is the decoded size of n unpadded base64 characters.
func b64DecodedLen(n int) int { return n/4*3 + n%4*3/4 }

// b64Decode appends the decoding of s to dst, or returns false.
func b64Decode(dst, s []byte) ([]byte, bool) {
	if len(s)%4 == 1 {
		return nil, false // never produced by an encoder
	}
	start := len(dst)
	n := b64DecodedLen(len(s))
	if cap(dst)-start < n {
		nd := make([]byte, start, start+n)
		copy(nd, dst)
		dst = nd
	}
	dst = dst[:start+n]
	out := dst[start:]
	t := &b64Table
	p0, p1, p2, p3 := &b64Pos[0], &b64Pos[1], &b64Pos[2], &b64Pos[3]
	// Sixteen characters at a time into two 8-byte stores (6 bytes valid
	// each; the next store overwrites the other 2, and len(out) >= 14
	// keeps both inside).
	for len(s) >= 16 && len(out) >= 14 {
		v0 := p0[s[0]] | p1[s[1]] | p2[s[2]] | p3[s[3]]
		v1 := p0[s[4]] | p1[s[5]] | p2[s[6]] | p3[s[7]]
		v2 := p0[s[8]] | p1[s[9]] | p2[s[10]] | p3[s[11]]
		v3 := p0[s[12]] | p1[s[13]] | p2[s[14]] | p3[s[15]]
		if (v0|v1|v2|v3)&b64Bad != 0 {
			return nil, false
		}
		binary.BigEndian.PutUint64(out, uint64(v0)<<40|uint64(v1)<<16)
		binary.BigEndian.PutUint64(out[6:], uint64(v2)<<40|uint64(v3)<<16)
		s, out = s[16:], out[12:]
	}
	for len(s) >= 4 && len(out) >= 3 {
		a, b, c, d := t[s[0]], t[s[1]], t[s[2]], t[s[3]]
		if (a|b|c|d)&0xc0 != 0 { // valid values are below 64
			return nil, false
		}
		v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
		out[0], out[1], out[2] = byte(v>>16), byte(v>>8), byte(v)
		s, out = s[4:], out[3:]
	}
	switch len(s) {
	case 2:
		a, b := t[s[0]], t[s[1]]
		if (a|b)&0xc0 != 0 || b&0x0f != 0 || len(out) < 1 {
			return nil, false
		}
		out[0] = a<<2 | b>>4
	case 3:
		a, b, c := t[s[0]], t[s[1]], t[s[2]]
		if (a|b|c)&0xc0 != 0 || c&0x03 != 0 || len(out) < 2 {
			return nil, false
		}
		out[0], out[1] = a<<2|b>>4, b<<4|c>>2
	}
	return dst, true
}
