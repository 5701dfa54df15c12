package parser

import "bytes"

// EqualFoldString reports whether b equals s under ASCII case folding
// (no Unicode folding: header names and tokens are ASCII). It never
// allocates.
func EqualFoldString(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i] != s[i] && lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// EqualFold is EqualFoldString for two byte slices.
func EqualFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] && lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// IsHopByHop reports whether name is one of the hop-by-hop fields that a
// proxy never forwards (SPEC §3): Connection, Keep-Alive, Proxy-Connection,
// TE, Trailer, Transfer-Encoding, Upgrade. Fields that a Connection header
// names are hop-by-hop too; see ConnectionLists and IsHopByHopIn.
func IsHopByHop(name []byte) bool {
	switch len(name) {
	case 2:
		return EqualFoldString(name, "TE")
	case 7:
		return EqualFoldString(name, "Trailer") || EqualFoldString(name, "Upgrade")
	case 10:
		return EqualFoldString(name, "Connection") || EqualFoldString(name, "Keep-Alive")
	case 16:
		return EqualFoldString(name, "Proxy-Connection")
	case 17:
		return EqualFoldString(name, "Transfer-Encoding")
	}
	return false
}

// IsHopByHopIn reports whether the field name must not be forwarded from a
// message whose fields are fields: IsHopByHop(name) or named by one of the
// message's Connection headers. Apply it to the received fields before
// adding the gateway's own (a client could otherwise list, say,
// X-Forwarded-For in Connection to have it dropped).
func IsHopByHopIn(fields []Field, name []byte) bool {
	return IsHopByHop(name) || ConnectionLists(fields, name)
}

// ConnectionLists reports whether any Connection field among fields lists
// name as one of its comma-separated tokens (ASCII case-insensitive). It
// never allocates.
func ConnectionLists(fields []Field, name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for i := range fields {
		f := &fields[i]
		if len(f.Name) == 10 && EqualFoldString(f.Name, "Connection") && listContains(f.Value, name) {
			return true
		}
	}
	return false
}

// ConnectionNamesOthers reports whether a Connection field among fields
// lists a token that is not a hop-by-hop field name: only then can
// ConnectionLists be true for a field IsHopByHop lets through. The usual
// "Connection: keep-alive" answers false, so a caller can skip the
// per-field ConnectionLists scan for the whole message. ("close" counts:
// it names a field "Close" too, reserved but not hop-by-hop.)
func ConnectionNamesOthers(fields []Field) bool {
	for i := range fields {
		f := &fields[i]
		if len(f.Name) != 10 || !EqualFoldString(f.Name, "Connection") {
			continue
		}
		for v := f.Value; len(v) > 0; {
			var e []byte
			e, v = nextElem(v)
			if len(e) > 0 && !IsHopByHop(e) {
				return true
			}
		}
	}
	return false
}

// TokenListContains reports whether the comma-separated list value (RFC 9110
// §5.6.1) has an element equal to token, ignoring ASCII case and OWS around
// elements.
func TokenListContains(value []byte, token string) bool {
	for len(value) > 0 {
		var e []byte
		e, value = nextElem(value)
		if EqualFoldString(e, token) {
			return true
		}
	}
	return false
}

func listContains(value, token []byte) bool {
	for len(value) > 0 {
		var e []byte
		e, value = nextElem(value)
		if EqualFold(e, token) {
			return true
		}
	}
	return false
}

// nextElem splits the first element off a comma-separated list, trimming OWS.
func nextElem(v []byte) (elem, rest []byte) {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		return trimOWS(v[:i]), v[i+1:]
	}
	return trimOWS(v), nil
}

// Lookup returns the value of the first field named name (ASCII
// case-insensitive) and whether there was one. The value aliases the parsed
// buffer.
func Lookup(fields []Field, name string) ([]byte, bool) {
	for i := range fields {
		if EqualFoldString(fields[i].Name, name) {
			return fields[i].Value, true
		}
	}
	return nil, false
}

// MaxRequestIDLen bounds a client-supplied X-Request-Id (SPEC §3).
const MaxRequestIDLen = 128

// ValidRequestID reports whether b may be kept as X-Request-Id: a token
// (RFC 9110 tchar: visible ASCII without delimiters) of 1..128 bytes.
func ValidRequestID(b []byte) bool {
	return len(b) <= MaxRequestIDLen && ValidToken(b)
}

// ValidToken reports whether b is a non-empty RFC 9110 token; field names
// and methods are tokens.
func ValidToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isTchar(c) {
			return false
		}
	}
	return true
}

// ValidFieldValue reports whether b may be sent as a field value: VCHAR,
// obs-text, SP and HTAB only, with no leading or trailing whitespace. Use it
// on values the gateway builds from configuration or claims.
func ValidFieldValue(b []byte) bool {
	if len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		return false
	}
	return scanValue(b, 0) == len(b)
}

// HeadEnd is a cheap pre-check for callers that receive a head in pieces:
// it returns the index just past the first blank line ("\r\n\r\n", or a
// bare-LF variant so that ParseRequest gets to reject it) found in buf, or
// -1. from is how many bytes of buf were already searched (the previous
// len(buf)); the search restarts 3 bytes earlier so a terminator split across
// reads is found. Calling ParseRequest only when HeadEnd >= 0 or when len(buf)
// exceeds the limit keeps a trickled head from being re-parsed from the
// start on every read. A hit is a hint: ParseRequest may still answer
// ErrNeedMore (e.g. for empty lines before the request line).
func HeadEnd(buf []byte, from int) int {
	i := max(from-3, 0)
	for i < len(buf) {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		if i < len(buf) && buf[i] == '\n' {
			return i + 1
		}
		if i+1 < len(buf) && buf[i] == '\r' && buf[i+1] == '\n' {
			return i + 2
		}
	}
	return -1
}
