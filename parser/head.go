package parser

import (
	"bytes"
	"math"
	"net/netip"
)

// Field is one header field line. Name and Value are sub-slices of the
// buffer given to ParseRequest/ParseResponse (Value without leading and
// trailing whitespace); they stay valid while that buffer is neither
// modified nor reused. Treat them as read-only.
type Field struct {
	Name, Value []byte
}

// MaxFields caps the number of header field lines in one head; one more is
// rejected with 431 (header_too_large). Browsers and gRPC-web clients send
// 10-30; 256 leaves room for the long tails API clients and upstreams
// produce (Envoy's default cap is 100, HAProxy's 101) while bounding the
// work done per head (the byte limit, max_header_bytes, stays the main one).
const MaxFields = 256

// DefaultMaxHeaderBytes is used when maxHeaderBytes <= 0 (SPEC §2 default).
const DefaultMaxHeaderBytes = 64 << 10

// limitBuf caps buf at max bytes; over says whether bytes were cut off, in
// which case running out of input means "too large", not "need more".
func limitBuf(buf []byte, max int) (lim []byte, over bool) {
	if max <= 0 {
		max = DefaultMaxHeaderBytes
	}
	if len(buf) > max {
		return buf[:max], true
	}
	return buf, false
}

// parseFields parses field lines starting at b[p] up to and including the
// empty line that ends the head, appending to fields. It returns the index
// just past that empty line.
func parseFields(b []byte, p int, fields []Field) ([]Field, int, errKind) {
	for {
		if p >= len(b) {
			return fields, p, errNeedMore
		}
		switch b[p] {
		case '\r':
			if p+1 >= len(b) {
				return fields, p, errNeedMore
			}
			if b[p+1] != '\n' {
				return fields, p, errBareCR
			}
			return fields, p + 2, errNone
		case '\n':
			return fields, p, errBareLF
		case ' ', '\t':
			// RFC 9112 §5.2: obs-fold is rejected; whitespace before the
			// first field line (§2.2) is rejected the same way.
			return fields, p, errObsFold
		}
		start := p
		for p < len(b) && isTchar(b[p]) {
			p++
		}
		if p >= len(b) {
			return fields, p, errNeedMore
		}
		if b[p] != ':' {
			switch b[p] {
			case ' ', '\t':
				// RFC 9112 §5.1: MUST reject whitespace between name and colon.
				return fields, p, errSpaceBeforeColon
			case '\r':
				if p+1 < len(b) && b[p+1] != '\n' {
					return fields, p, errBareCR
				}
			case '\n':
				return fields, p, errBareLF
			}
			return fields, p, errBadFieldName
		}
		if p == start {
			return fields, p, errBadFieldName
		}
		name := b[start:p]
		p++
		for p < len(b) && (b[p] == ' ' || b[p] == '\t') {
			p++
		}
		vstart := p
		p = scanValue(b, p)
		if p >= len(b) {
			return fields, p, errNeedMore
		}
		switch b[p] {
		case '\r':
		case '\n':
			return fields, p, errBareLF
		default:
			return fields, p, errBadFieldValue
		}
		if p+1 >= len(b) {
			return fields, p, errNeedMore
		}
		if b[p+1] != '\n' {
			return fields, p, errBareCR
		}
		vend := p
		for vend > vstart && (b[vend-1] == ' ' || b[vend-1] == '\t') {
			vend--
		}
		p += 2
		if len(fields) >= MaxFields {
			return fields, p, errTooManyFields
		}
		fields = append(fields, Field{Name: name, Value: b[vstart:vend]})
	}
}

// framing is what the fields say about the message body and connection.
type framing struct {
	contentLength int64 // -1 when absent
	chunked       bool
	hasTE         bool
	close         bool
	keepAlive     bool
	expect100     bool
	hostCount     int
	host          []byte
}

// interpret applies RFC 9112 framing rules to the parsed fields. isRequest
// enables the request-only checks (Host).
func interpret(fields []Field, protoMinor int, isRequest bool) (fr framing, k errKind) {
	fr.contentLength = -1
	var teChunked, teLastChunked, teUnknown bool
	for i := range fields {
		f := &fields[i]
		switch len(f.Name) {
		case 4:
			if isRequest && EqualFoldString(f.Name, "Host") {
				fr.hostCount++
				if fr.hostCount > 1 {
					return fr, errMultipleHost
				}
				if !validHost(f.Value) {
					return fr, errBadHost
				}
				fr.host = f.Value
			}
		case 6:
			if isRequest && EqualFoldString(f.Name, "Expect") && EqualFoldString(f.Value, "100-continue") {
				fr.expect100 = true
			}
		case 10:
			if EqualFoldString(f.Name, "Connection") {
				v := f.Value
				for len(v) > 0 {
					var e []byte
					e, v = nextElem(v)
					switch {
					case EqualFoldString(e, "close"):
						fr.close = true
					case EqualFoldString(e, "keep-alive"):
						fr.keepAlive = true
					}
				}
			}
		case 14:
			if EqualFoldString(f.Name, "Content-Length") {
				if k := parseContentLength(f.Value, &fr.contentLength); k != errNone {
					return fr, k
				}
			}
		case 17:
			if EqualFoldString(f.Name, "Transfer-Encoding") {
				fr.hasTE = true
				v := f.Value
				for last := false; !last; {
					var e []byte
					e, v, last = splitElem(v)
					switch {
					case EqualFoldString(e, "chunked"):
						if teChunked {
							return fr, errTEChunkedTwice
						}
						teChunked, teLastChunked = true, true
					case validCoding(e):
						teUnknown, teLastChunked = true, false
					default:
						return fr, errBadTE
					}
				}
			}
		}
	}
	if fr.hasTE {
		// RFC 9112 §6.1: TE in HTTP/1.0 means faulty framing; §6.3: TE with
		// CL is a smuggling attempt. Both are rejected outright.
		if protoMinor == 0 {
			return fr, errTEOnHTTP10
		}
		if fr.contentLength >= 0 {
			return fr, errCLAndTE
		}
		if teChunked && !teLastChunked {
			return fr, errTEChunkedNotLast
		}
		if teUnknown {
			return fr, errTEUnsupported
		}
		fr.chunked = true
	}
	if isRequest && protoMinor == 1 && fr.hostCount == 0 {
		return fr, errMissingHost
	}
	if protoMinor == 0 {
		fr.expect100 = false // RFC 9110 §10.1.1: ignore it in HTTP/1.0
	}
	return fr, errNone
}

// parseContentLength parses one Content-Length field value, which may be a
// list of identical values ("5, 5"), and checks it against what earlier
// fields said (*cl, -1 when none).
func parseContentLength(v []byte, cl *int64) errKind {
	for last := false; !last; {
		var e []byte
		e, v, last = splitElem(v)
		n, ok := ParseLength(e)
		if !ok {
			return errBadContentLength
		}
		if *cl >= 0 && *cl != n {
			return errContentLengthMismatch
		}
		*cl = n
	}
	return errNone
}

// ParseLength parses one Content-Length value, 1*DIGIT (RFC 9110 §8.6),
// for HTTP/1.1 and HTTP/2 alike: leading zeros are digits too, and any
// value that fits int64 is a length (one over a body limit is a 413, not
// a malformed request). 19 significant digits cannot overflow uint64.
func ParseLength[T ~string | ~[]byte](v T) (int64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	for len(v) > 1 && v[0] == '0' {
		v = v[1:]
	}
	if len(v) > 19 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// splitElem splits the first element off a comma-separated list, trimming
// OWS; last is true when no comma followed it. Unlike nextElem it lets the
// caller see empty elements, which framing fields must not have.
func splitElem(v []byte) (elem, rest []byte, last bool) {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		return trimOWS(v[:i]), v[i+1:], false
	}
	return trimOWS(v), nil, true
}

// validCoding reports whether e is a transfer-coding: token *( OWS ";" OWS
// param ). Parameters are not interpreted, only checked to be printable.
func validCoding(e []byte) bool {
	i := 0
	for i < len(e) && isTchar(e[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	for ; i < len(e); i++ {
		c := e[i]
		if c != ' ' && c != '\t' && c != ';' && c != '=' && c != '"' && !isTchar(c) {
			return false
		}
	}
	return true
}

// validHost checks a Host value or absolute-form authority: uri-host
// [":" port] (RFC 3986 §3.2.2-3), where uri-host is an IPv6 literal in
// brackets or a name / IPv4 address, and port is *DIGIT. Userinfo ('@')
// is not allowed, and neither is an empty uri-host with a port (":80").
// An empty value passes here: ParseRequest refuses it unless an
// absolute-form target names the host (RFC 9110 §4.2.1: an http URI with
// an empty host is invalid; RFC 9112 §3.2.2: with an absolute-form target
// the Host field is ignored).
//
// Names are held to unreserved bytes (letters, digits, '-', '.', '_',
// '~'), narrower than RFC 3986's reg-name: its sub-delims and
// percent-encoding name no host DNS can hold, and they let a value pass a
// "*.example.com" route while reading otherwise downstream. The Host is
// forwarded as X-Forwarded-Host, which applications split on ',' and take
// the first element of ("evil.com,a.example.com"). Brackets hold an IPv6
// address only (hex digits, ':', '.'): no zone id, no IPvFuture.
// validIPv6 reports an IPv6 address without zone (no IPv4 one in
// brackets, no IPvFuture). The byte check first spares the parse (and its
// string) for anything else.
func validIPv6(b []byte) bool {
	for _, c := range b {
		if c != ':' && c != '.' && unhex(c) < 0 {
			return false
		}
	}
	a, err := netip.ParseAddr(string(b))
	return err == nil && a.Is6() && a.Zone() == ""
}

func validHost(h []byte) bool {
	if len(h) > 0 && h[0] == ':' {
		return false
	}
	i := 0
	if len(h) > 0 && h[0] == '[' {
		j := bytes.IndexByte(h, ']')
		if j < 0 {
			return false
		}
		if !validIPv6(h[1:j]) {
			return false
		}
		i = j + 1
	} else {
		for ; i < len(h) && h[i] != ':'; i++ {
			if charClass[h[i]]&cUnres == 0 {
				return false
			}
		}
	}
	if i == len(h) {
		return true
	}
	if h[i] != ':' {
		return false
	}
	for _, c := range h[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func keepAlive(protoMinor int, fr *framing) bool {
	if fr.close {
		return false
	}
	if protoMinor == 0 {
		return fr.keepAlive
	}
	return true
}

// parseVersion parses "HTTP/1.x" at b[p:]; 8 bytes must be available.
func parseVersion(b []byte) (minor int, k errKind) {
	if b[0] != 'H' || b[1] != 'T' || b[2] != 'T' || b[3] != 'P' || b[4] != '/' ||
		b[5] < '0' || b[5] > '9' || b[6] != '.' || b[7] < '0' || b[7] > '9' {
		return 0, errBadVersion
	}
	if b[5] != '1' {
		return 0, errVersionNotSupported
	}
	if b[7] > '1' {
		// A later HTTP/1 minor version is handled as the highest one we
		// implement (RFC 9110 §2.5).
		return 1, errNone
	}
	return int(b[7] - '0'), errNone
}
