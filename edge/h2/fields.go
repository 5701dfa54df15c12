package h2

import (
	"encoding/binary"

	"github.com/portico-gw/portico/parser"
)

// tokenLower[b] is true for bytes allowed in an HTTP/2 field name: RFC 9110
// tchar minus uppercase letters (RFC 9113 §8.2.1: names must be lowercase).
var tokenLower = func() (t [256]bool) {
	for b := '0'; b <= '9'; b++ {
		t[b] = true
	}
	for b := 'a'; b <= 'z'; b++ {
		t[b] = true
	}
	for _, b := range "!#$%&'*+-.^_`|~" {
		t[b] = true
	}
	return t
}()

func validFieldName(name string) bool {
	if len(name) == 0 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !tokenLower[name[i]] {
			return false
		}
	}
	return true
}

// validPseudo checks a request pseudo-header's value (RFC 9113 §8.2.1,
// §8.3.1): :method a token, :scheme a URI scheme (RFC 3986 §3.1),
// :authority and :path free of whitespace and control bytes. They become
// the request line and Host of the HTTP/1.1 request the gateway sends
// upstream, where a CR or LF would inject fields or whole requests.
func validPseudo(name, v string) bool {
	if len(v) == 0 {
		return name == ":path" // empty :path is judged with the others (validRequest)
	}
	switch name {
	case ":method":
		for i := 0; i < len(v); i++ {
			if c := v[i]; !tokenLower[c] && !(c >= 'A' && c <= 'Z') {
				return false
			}
		}
	case ":scheme":
		for i := 0; i < len(v); i++ {
			c := v[i]
			alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
			if !alpha && (i == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
				return false
			}
		}
	case ":authority":
		for i := 0; i < len(v); i++ {
			if c := v[i]; c <= ' ' || c >= 0x7f {
				return false
			}
		}
	default: // :path
		for i := 0; i < len(v); i++ {
			if c := v[i]; c <= ' ' || c == 0x7f {
				return false
			}
		}
	}
	return true
}

// validFieldValueString applies RFC 9113 §8.2.1: no NUL, CR or LF, and no
// leading or trailing whitespace.
func validFieldValueString(v string) bool {
	if len(v) > 0 && (isWS(v[0]) || isWS(v[len(v)-1])) {
		return false
	}
	for i := 0; i < len(v); i++ {
		if b := v[i]; b == 0 || b == '\r' || b == '\n' {
			return false
		}
	}
	return true
}

// validFieldValue is the check for values we send: only the bytes that
// would break framing for the peer (NUL, CR, LF).
func validFieldValue(v []byte) bool {
	// Eight bytes at a time: a word with none of the three bytes is
	// skipped whole (every answer field goes through here).
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(v) >= 8 {
		w := binary.LittleEndian.Uint64(v)
		cr, lf := w^(ones*'\r'), w^(ones*'\n')
		if ((w-ones)&^w|(cr-ones)&^cr|(lf-ones)&^lf)&highs != 0 {
			break // one of them may be here: the bytewise loop decides
		}
		v = v[8:]
	}
	for _, b := range v {
		if b == 0 || b == '\r' || b == '\n' {
			return false
		}
	}
	return true
}

func isWS(b byte) bool { return b == ' ' || b == '\t' }

// isConnectionSpecific reports the fields RFC 9113 §8.2.2 forbids in
// HTTP/2 (te is checked separately for requests: "trailers" is allowed).
func isConnectionSpecific(lname []byte) bool {
	switch string(lname) {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te":
		return true
	}
	return false
}

// parseContentLength reads a content-length value as HTTP/1.1 does.
func parseContentLength(v string) (int64, bool) {
	return parser.ParseLength(v)
}
