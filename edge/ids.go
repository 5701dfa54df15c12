package edge

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
)

// requestIDLen is the length of the ids Portico mints: 16 random bytes in hex,
// the same shape as a W3C trace id so the two can be the same value.
const requestIDLen = 32

// appendNewID appends 2*n lowercase hex characters of fresh randomness.
// math/rand/v2's runtime-backed source is per-thread, lock-free and does not
// allocate; ids need uniqueness, not secrecy.
func appendNewID(dst []byte, n int) []byte {
	start := len(dst)
	dst = slices.Grow(dst, 2*n)[:start+2*n]
	out := dst[start:]
	for i := 0; i < n; i += 8 { // n is 8 or 16
		v := rand.Uint64()
		binary.LittleEndian.PutUint64(out[2*i:], hex4(uint32(v)))
		binary.LittleEndian.PutUint64(out[2*i+8:], hex4(uint32(v>>32)))
	}
	return dst
}

// hex4 returns the 8 lowercase hex characters of v's 4 bytes, lowest byte
// first, as the bytes of a little-endian uint64: the nibbles are spread one
// per byte and turned into digits in parallel, a few operations instead of
// a table lookup per character (ids are minted on every request).
func hex4(v uint32) uint64 {
	x := uint64(v)
	x = (x | x<<16) & 0x0000ffff0000ffff
	x = (x | x<<8) & 0x00ff00ff00ff00ff
	x = (x | x<<4) & 0x0f0f0f0f0f0f0f0f                             // byte k holds nibble k
	x = (x&0x00ff00ff00ff00ff)<<8 | (x&0xff00ff00ff00ff00)>>8       // high nibble of each byte first
	letters := ((x + 0x0606060606060606) >> 4) & 0x0101010101010101 // 1 where the nibble is over 9
	return x + 0x3030303030303030 + letters*('a'-'0'-10)
}

// appendTraceparent appends a W3C traceparent value: the client's trace id and
// flags when its header was valid, a new span id in every case. What we
// send is version 00, the version we speak.
func appendTraceparent(dst, client []byte) []byte {
	if validTraceparent(client) {
		dst = append(dst, "00-"...)
		dst = append(dst, client[3:36]...) // 32 hex trace id + "-"
		dst = appendNewID(dst, 8)
		// Version 00 defines two flag bits (sampled, random); the others
		// MUST be sent as zero (W3C Trace Context §3.2.2.5).
		return append(dst, '-', '0', "0123"[unhex(client[54])&3])
	}
	dst = append(dst, "00-"...)
	dst = appendNewID(dst, 16)
	dst = append(dst, '-')
	dst = appendNewID(dst, 8)
	return append(dst, "-01"...)
}

// validTraceparent checks the version-00 layout: 00-<32 hex>-<16 hex>-<2 hex>,
// with neither id all zeros. A later version (01-fe) is read the way the
// W3C recommendation asks: its first 55 bytes in the version-00 layout,
// followed by nothing or by "-" and more; version ff is invalid.
func validTraceparent(b []byte) bool {
	if len(b) < 55 || !lowerHex(b[0:2]) || b[2] != '-' || b[35] != '-' || b[52] != '-' {
		return false
	}
	switch {
	case b[0] == '0' && b[1] == '0':
		if len(b) != 55 {
			return false
		}
	case b[0] == 'f' && b[1] == 'f':
		return false
	case len(b) > 55 && b[55] != '-':
		return false
	}
	if !lowerHex(b[3:35]) || !lowerHex(b[36:52]) || !lowerHex(b[53:55]) {
		return false
	}
	return !allZero(b[3:35]) && !allZero(b[36:52])
}

func lowerHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != '0' {
			return false
		}
	}
	return true
}

// unhex is the value of a lower-case hex digit (validTraceparent checked it).
func unhex(c byte) byte {
	if c >= 'a' {
		return c - 'a' + 10
	}
	return c - '0'
}
