package edge

import (
	"encoding/hex"
	"math/rand/v2"
)

// requestIDLen is the length of the ids Portico mints: 16 random bytes in hex,
// the same shape as a W3C trace id so the two can be the same value.
const requestIDLen = 32

// appendNewID appends 2*n lowercase hex characters of fresh randomness.
// math/rand/v2's runtime-backed source is per-thread, lock-free and does not
// allocate; ids need uniqueness, not secrecy.
func appendNewID(dst []byte, n int) []byte {
	var raw [16]byte
	for i := 0; i < n; i += 8 {
		v := rand.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			raw[i+j] = byte(v >> (8 * j))
		}
	}
	start := len(dst)
	var zeros [32]byte
	dst = append(dst, zeros[:2*n]...)
	hex.Encode(dst[start:], raw[:n])
	return dst
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
