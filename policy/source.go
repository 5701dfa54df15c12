package policy

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SourceKind says where in a request a credential is carried.
type SourceKind uint8

// Source kinds.
const (
	FromHeader SourceKind = iota + 1 // a request header; for Authorization the value must be "Bearer <token>"
	FromQuery                        // a query parameter of the request target
	FromCookie                       // a cookie of the Cookie header
)

func (k SourceKind) String() string {
	switch k {
	case FromHeader:
		return "header"
	case FromQuery:
		return "query"
	case FromCookie:
		return "cookie"
	}
	return "invalid"
}

// TokenSource names one place a credential is read from, as written in
// the route file: "header:Authorization", "query:access_token",
// "cookie:session".
type TokenSource struct {
	Kind SourceKind
	Name string
}

// String returns the route-file form, e.g. "query:access_token".
func (s TokenSource) String() string { return s.Kind.String() + ":" + s.Name }

// Removable reports whether a credential found at s must be removed from
// what goes upstream (query parameters and cookies; headers are the
// integrator's call).
func (s TokenSource) Removable() bool { return s.Kind == FromQuery || s.Kind == FromCookie }

// ParseTokenSource parses "header:NAME", "query:NAME" or "cookie:NAME".
// Header names must be HTTP tokens; query and cookie names must be
// non-empty and free of separators ('&', '=', ';', ',', space, controls).
func ParseTokenSource(s string) (TokenSource, error) {
	kind, name, ok := strings.Cut(s, ":")
	if !ok {
		return TokenSource{}, fmt.Errorf("cannot parse token source %q: want header:NAME, query:NAME or cookie:NAME", s)
	}
	var ts TokenSource
	switch kind {
	case "header":
		ts.Kind = FromHeader
	case "query":
		ts.Kind = FromQuery
	case "cookie":
		ts.Kind = FromCookie
	default:
		return TokenSource{}, fmt.Errorf("cannot parse token source %q: unknown kind %q (header, query or cookie)", s, kind)
	}
	if name == "" || len(name) > 256 {
		return TokenSource{}, fmt.Errorf("cannot parse token source %q: name must be 1..256 bytes", s)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if ts.Kind == FromHeader && !isTokenChar(c) {
			return TokenSource{}, fmt.Errorf("cannot parse token source %q: %q is not a valid header name", s, name)
		}
		if c <= ' ' || c >= 0x7f || c == '&' || c == '=' || c == ';' || c == ',' || c == '"' || c == '#' || c == '%' || c == '+' {
			return TokenSource{}, fmt.Errorf("cannot parse token source %q: name contains %q", s, c)
		}
	}
	ts.Name = name
	return ts, nil
}

func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// HeaderFunc returns the value of the named request header (names are
// matched case-insensitively by the implementation), or nil when absent.
// The returned slice is only read during the call that received it.
type HeaderFunc func(name string) []byte

// Request is the view of a request the extractors need. The slices are
// only read, never kept: they may point into a loop-owned buffer.
type Request struct {
	Header   HeaderFunc // may be nil when no header source is configured
	RawQuery []byte     // the query string without '?', percent-encoded as received
	Cookie   []byte     // the Cookie header; several Cookie fields (HTTP/2) joined with "; "
}

// Extract returns the raw credential s names in r, or nil when absent or
// empty. For a header source named Authorization the value must be
// "Bearer <token>" (scheme case-insensitive, RFC 6750 §2.1) and the token
// is returned; any other scheme counts as absent. Query and cookie values
// are returned as received (still percent-encoded; see DecodeQueryValue).
// The result aliases r's memory. It does not allocate.
func (s TokenSource) Extract(r *Request) []byte {
	switch s.Kind {
	case FromHeader:
		if r.Header == nil {
			return nil
		}
		v := trimOWS(r.Header(s.Name))
		if len(v) == 0 {
			return nil
		}
		if len(s.Name) == len("Authorization") && strings.EqualFold(s.Name, "Authorization") {
			return BearerToken(v)
		}
		return v
	case FromQuery:
		v, _ := QueryParam(r.RawQuery, s.Name)
		return v
	case FromCookie:
		v, _ := CookieValue(r.Cookie, s.Name)
		return v
	}
	return nil
}

// BearerToken returns the token of an Authorization value "Bearer <token>"
// (scheme matched case-insensitively, one or more spaces, surrounding
// whitespace ignored), or nil for any other form. It does not allocate.
func BearerToken(v []byte) []byte {
	v = trimOWS(v)
	const scheme = "bearer"
	if len(v) <= len(scheme) || v[len(scheme)] != ' ' {
		return nil
	}
	for i := 0; i < len(scheme); i++ {
		if v[i]|0x20 != scheme[i] {
			return nil
		}
	}
	v = trimOWS(v[len(scheme):])
	if len(v) == 0 {
		return nil
	}
	return v
}

func trimOWS(v []byte) []byte {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

// QueryParam returns the raw (still percent-encoded) value of the first
// parameter called name in rawQuery and whether it was present. A name is
// compared as the application behind the gateway reads it, percent-decoded
// ("access%5Ftoken" is access_token). It does not allocate.
func QueryParam(rawQuery []byte, name string) ([]byte, bool) {
	for len(rawQuery) > 0 {
		var part []byte
		if i := indexByte(rawQuery, '&'); i >= 0 {
			part, rawQuery = rawQuery[:i], rawQuery[i+1:]
		} else {
			part, rawQuery = rawQuery, nil
		}
		k, v := part, []byte(nil)
		if i := indexByte(part, '='); i >= 0 {
			k, v = part[:i], part[i+1:]
		}
		if queryNameIs(k, name) {
			return v, true
		}
	}
	return nil, false
}

// CookieValue returns the value of the first cookie called name in a
// Cookie header ("a=1; b=2"), with one pair of surrounding double quotes
// removed, and whether it was present. It does not allocate.
func CookieValue(cookie []byte, name string) ([]byte, bool) {
	for len(cookie) > 0 {
		var part []byte
		if i := indexByte(cookie, ';'); i >= 0 {
			part, cookie = cookie[:i], cookie[i+1:]
		} else {
			part, cookie = cookie, nil
		}
		part = trimOWS(part)
		i := indexByte(part, '=')
		if i < 0 {
			continue
		}
		if string(trimOWS(part[:i])) != name {
			continue
		}
		v := trimOWS(part[i+1:])
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return v, true
	}
	return nil, false
}

// StripQueryParams appends rawQuery without every parameter that names
// one of names, as some application reads it (see nameFolds), to dst and
// returns it, with the number of parameters removed. A parameter (the
// bytes between two '&') is removed whole when any ';'-separated piece of
// it names a credential: "x=1;access_token=F" is access_token to readers
// that split on ';' (Rack 2, some Java and Perl ones), and rewriting the
// parameter instead would hand a reader that splits on '&' alone a value
// of x the client never sent. Other parameters, empty ones included, keep
// their bytes and order. With enough capacity in dst it does not
// allocate. dst must not overlap rawQuery.
func StripQueryParams(dst, rawQuery []byte, names []string) ([]byte, int) {
	removed := 0
	first := true
	for more := len(rawQuery) > 0; more; {
		// Split on every '&', so a trailing one keeps its (empty) part.
		var part []byte
		if i := indexByte(rawQuery, '&'); i >= 0 {
			part, rawQuery = rawQuery[:i], rawQuery[i+1:]
		} else {
			part, rawQuery, more = rawQuery, nil, false
		}
		if piecesNameIn(part, ';', names) {
			removed++
			continue
		}
		if !first {
			dst = append(dst, '&')
		}
		first = false
		dst = append(dst, part...)
	}
	return dst, removed
}

// piecesNameIn reports whether a piece of part split at sep has a name
// (before its first '=') that folds to one of names.
func piecesNameIn(part []byte, sep byte, names []string) bool {
	for {
		piece, rest, more := part, []byte(nil), false
		if i := indexByte(part, sep); i >= 0 {
			piece, rest, more = part[:i], part[i+1:], true
		}
		k := piece
		if i := indexByte(piece, '='); i >= 0 {
			k = piece[:i]
		}
		for _, n := range names {
			if nameFolds(k, n) {
				return true
			}
		}
		if !more {
			return false
		}
		part = rest
	}
}

// queryNameIs reports whether the raw query name decodes to name ('+' is
// a space; a bad escape never matches, names have no '%'). It does not
// allocate.
func queryNameIs(raw []byte, name string) bool {
	if string(raw) == name {
		return true
	}
	j := 0
	for i := 0; i < len(raw); j++ {
		c, next, ok := queryByte(raw, i)
		if !ok || j >= len(name) || name[j] != c {
			return false
		}
		i = next
	}
	return j == len(name)
}

// nameFolds reports whether raw, a query parameter or cookie name as
// received, is read as the credential name by some application behind
// the gateway, which must then never receive it unchecked. raw is
// percent-decoded ('+' is a space; frameworks decode cookie names too);
// leading and trailing spaces and tabs are ignored (PHP drops leading
// ones, cookie readers trim), and so are brackets around the name (Rack 2
// reads "[access_token]", "]access_token" or "access_token]" as
// access_token, and qs, Express's query parser, "[access_token]"); letters
// match in any case (ASP.NET Core reads names case-insensitively, so also
// 'ſ' for s, 'K' (Kelvin) for k, 'ı' and 'İ' for i); '.', ' ' and '['
// match '_' (PHP's $_GET and $_COOKIE rename them); and the name may be
// followed by a NUL (PHP reads a name up to it) or by '[' (access_token[]=F
// is PHP's and Rack's array access_token). A bad escape never matches. It
// does not allocate.
func nameFolds(raw []byte, name string) bool {
	plain, ok := skipNameBytes(raw, 0, false)
	if !ok {
		return false
	}
	if nameFoldsAt(raw, plain, name) {
		return true
	}
	// Leading brackets too: tried apart, since PHP reads a '[' inside a
	// name as '_' and a credential name may begin with '_'.
	bracketed, ok := skipNameBytes(raw, 0, true)
	return ok && bracketed != plain && nameFoldsAt(raw, bracketed, name)
}

// skipNameBytes returns the index in raw past the spaces and tabs (and,
// with brackets, '[' and ']') from i; ok is false for a bad escape.
func skipNameBytes(raw []byte, i int, brackets bool) (int, bool) {
	for i < len(raw) {
		c, next, ok := queryByte(raw, i)
		if !ok {
			return i, false
		}
		if c != ' ' && c != '\t' && !(brackets && (c == '[' || c == ']')) {
			break
		}
		i = next
	}
	return i, true
}

// nameFoldsAt is nameFolds for the name starting at raw[i].
func nameFoldsAt(raw []byte, i int, name string) bool {
	opened := false // a '[' in the name read as '_' (PHP): a ']' after it closes it instead
	for j := 0; j < len(name); j++ {
		if i >= len(raw) {
			return false
		}
		c, next, ok := queryByte(raw, i)
		if !ok {
			return false
		}
		if c < utf8.RuneSelf {
			if foldByte(c) != foldByte(name[j]) {
				return false
			}
			opened = opened || c == '['
			i = next
			continue
		}
		// A non-ASCII letter that some reader's case-insensitive compare
		// takes for an ASCII one.
		r, next, ok := queryRune(raw, i)
		if !ok || !runeFoldsTo(r, foldByte(name[j])) {
			return false
		}
		i = next
	}
	// After the name: closing brackets and spaces, then the end, a NUL
	// or an opening bracket (an array or hash of that name).
	for k := i; k < len(raw); {
		c, next, ok := queryByte(raw, k)
		switch {
		case !ok:
			return false
		case c == 0 || c == '[':
			return true
		case c == ']' && opened:
			return false // "access[token]": the array access, key token
		case c != ' ' && c != '\t' && c != ']':
			return false
		}
		k = next
	}
	return true
}

// foldByte is c as nameFolds compares it: lower case, with '.', ' ' and
// '[' as '_'.
func foldByte(c byte) byte {
	switch {
	case c >= 'A' && c <= 'Z':
		return c + 'a' - 'A'
	case c == '.' || c == ' ' || c == '[':
		return '_'
	}
	return c
}

// runeFoldsTo reports whether the non-ASCII rune r equals the lower-case
// ASCII byte c in a case-insensitive compare: Go's and .NET's simple case
// mappings ('ſ' upper-cases to 'S', 'K' lower-cases to 'k'), Java's
// equalsIgnoreCase ('ı' upper-cases to 'I').
func runeFoldsTo(r rune, c byte) bool {
	if c < 'a' || c > 'z' {
		return false
	}
	return unicode.ToLower(r) == rune(c) || unicode.ToLower(unicode.ToUpper(r)) == rune(c)
}

// queryRune decodes the UTF-8 rune that starts with the query byte at
// v[i] (escaped or not) and returns it with the index after it; ok is
// false for a bad escape or invalid UTF-8.
func queryRune(v []byte, i int) (r rune, next int, ok bool) {
	var b [utf8.UTFMax]byte
	n := 0
	for k := i; n < len(b) && k < len(v); n++ {
		c, after, good := queryByte(v, k)
		if !good || (n > 0 && c&0xc0 != 0x80) {
			break
		}
		b[n], k = c, after
	}
	r, size := utf8.DecodeRune(b[:n])
	if r == utf8.RuneError {
		return 0, 0, false
	}
	next = i
	for ; size > 0; size-- {
		_, next, _ = queryByte(v, next)
	}
	return r, next, true
}

// StripCookies appends the Cookie header value without every cookie that
// names one of names, as some application reads it (see nameFolds), to
// dst ("; "-separated) and returns it, with the number removed. A cookie
// is removed whole when any ','-separated piece of it names a credential:
// some readers (RFC 2965's syntax, older Rack) split the header on ',' too.
// When nothing is left the caller should drop the Cookie header. With
// enough capacity in dst it does not allocate. dst must not overlap
// cookie.
func StripCookies(dst, cookie []byte, names []string) ([]byte, int) {
	removed := 0
	first := true
	for len(cookie) > 0 {
		var part []byte
		if i := indexByte(cookie, ';'); i >= 0 {
			part, cookie = cookie[:i], cookie[i+1:]
		} else {
			part, cookie = cookie, nil
		}
		part = trimOWS(part)
		if len(part) == 0 {
			continue
		}
		if piecesNameIn(part, ',', names) {
			removed++
			continue
		}
		if !first {
			dst = append(dst, ';', ' ')
		}
		first = false
		dst = append(dst, part...)
	}
	return dst, removed
}

// DecodeQueryValue percent-decodes v ('+' means space) into dst and
// returns the result, or false for a bad escape. When v holds no '%' or
// '+' it returns v itself without copying.
func DecodeQueryValue(dst, v []byte) ([]byte, bool) {
	if indexByte(v, '%') < 0 && indexByte(v, '+') < 0 {
		return v, true
	}
	for i := 0; i < len(v); {
		c, next, ok := queryByte(v, i)
		if !ok {
			return nil, false
		}
		dst = append(dst, c)
		i = next
	}
	return dst, true
}

// queryByte decodes the query byte at v[i] ('+' is a space, %XX an escape)
// and returns it with the index after it; ok is false for a bad escape.
func queryByte(v []byte, i int) (c byte, next int, ok bool) {
	switch c = v[i]; c {
	case '+':
		return ' ', i + 1, true
	case '%':
		if i+2 >= len(v) {
			return 0, 0, false
		}
		h, ok1 := unhex(v[i+1])
		l, ok2 := unhex(v[i+2])
		return h<<4 | l, i + 3, ok1 && ok2
	}
	return c, i + 1, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func indexByte(b []byte, c byte) int { return bytes.IndexByte(b, c) }
