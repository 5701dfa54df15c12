package parser

import "encoding/binary"

// Character classes, one bit each, looked up in a single 256-byte table so
// that the hot loops touch four cache lines at most.
const (
	cTchar  uint8 = 1 << iota // token char, RFC 9110 §5.6.2
	cValue                    // field-value byte: VCHAR, obs-text, SP, HTAB
	cTarget                   // request-target byte: VCHAR except '#'
	cUnres                    // unreserved, RFC 3986 §2.3
	cPchar                    // may appear raw in a normalised path: pchar plus '/'
)

var charClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		var m uint8
		isAlnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		switch {
		case isAlnum:
			m |= cTchar | cUnres | cPchar
		case c == '-' || c == '.' || c == '_' || c == '~':
			m |= cTchar | cUnres | cPchar
		}
		switch c {
		case '!', '#', '$', '%', '&', '\'', '*', '+', '^', '`', '|':
			m |= cTchar
		}
		// sub-delims
		switch c {
		case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=':
			m |= cPchar
		}
		switch c {
		case ':', '@', '/':
			m |= cPchar
		}
		if c >= 0x21 && c <= 0x7e || c >= 0x80 || c == ' ' || c == '\t' {
			m |= cValue
		}
		if c >= 0x21 && c <= 0x7e && c != '#' {
			m |= cTarget
		}
		t[c] = m
	}
	return t
}()

func isTchar(c byte) bool { return charClass[c]&cTchar != 0 }
func isValue(c byte) bool { return charClass[c]&cValue != 0 }

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// hasCtl reports whether any of the 8 bytes of x is below 0x20 or is 0x7F
// (exact "has any" tests; HTAB counts, the caller re-checks bytewise).
func hasCtl(x uint64) bool {
	y := x ^ (0x7f * lsb)
	return ((x-0x20*lsb)&^x|(y-lsb)&^y)&msb != 0
}

// scanValue returns the index of the first byte at or after p that may not
// appear in a field value (a CTL other than HTAB, or DEL), or len(b).
// Field values are most of a head's bytes, so it tests 8 bytes at a time.
func scanValue(b []byte, p int) int {
	for {
		for p+8 <= len(b) && !hasCtl(binary.LittleEndian.Uint64(b[p:])) {
			p += 8
		}
		end := min(p+8, len(b))
		for ; p < end; p++ {
			if !isValue(b[p]) {
				return p
			}
		}
		if p >= len(b) {
			return p
		}
	}
}

// scanTarget is scanValue for request-target bytes (VCHAR except '#').
func scanTarget(b []byte, p int) int {
	for p < len(b) && charClass[b[p]]&cTarget != 0 {
		p++
	}
	return p
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
