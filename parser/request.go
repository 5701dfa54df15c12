package parser

// TargetForm is the form of a request-target (RFC 9112 §3.2).
type TargetForm uint8

const (
	// FormOrigin is "/path?query", the usual form.
	FormOrigin TargetForm = iota
	// FormAbsolute is "http://host/path?query", sent to proxies. Path,
	// Query and Host come from the target; the Host header is ignored.
	FormAbsolute
	// FormAsterisk is "*", allowed only with OPTIONS; Path is "*".
	FormAsterisk
)

// slash stands in for the empty path of an absolute-form target such as
// "http://a.example" (RFC 9112 §3.2.2). It is shared: never write to it.
var slash = []byte("/")

// Request is a parsed request head. Every []byte field is a sub-slice of the
// buffer passed to ParseRequest (Path may also be the package's read-only
// "/"), valid while that buffer is neither modified nor reused; copy what
// must outlive it. A Request is reused across requests: ParseRequest resets
// it and keeps the capacity of Fields.
type Request struct {
	Method []byte
	// Target is the raw request-target.
	Target []byte
	// Path is the target's path, not yet normalised (see NormalizePath),
	// or "*" for FormAsterisk.
	Path []byte
	// Query is what follows the first '?', without it; nil when the target
	// has no '?'.
	Query      []byte
	Form       TargetForm
	ProtoMinor int // 0 or 1 (HTTP/1.0 or HTTP/1.1)
	// Fields are all field lines in order, including Host, Content-Length
	// and the rest that are also summarised below.
	Fields []Field
	// Host is the authority of an absolute-form target, else the Host
	// field's value (nil when absent, HTTP/1.0 only). It may carry a port.
	Host []byte
	// ContentLength is the body length, -1 when there is no
	// Content-Length (then the body is chunked or empty).
	ContentLength int64
	Chunked       bool // Transfer-Encoding: chunked; the body is chunk-coded
	// KeepAlive: the connection may carry another request after this one
	// (HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with
	// "Connection: keep-alive").
	KeepAlive bool
	Expect100 bool // "Expect: 100-continue" on HTTP/1.1
	HeadLen   int  // bytes of the head, including leading empty lines and the final CRLF
}

// Reset clears r for reuse, keeping the capacity of Fields.
func (r *Request) Reset() {
	clear(r.Fields) // drop references to the previous buffer
	*r = Request{Fields: r.Fields[:0], ContentLength: -1}
}

// BodyKind says how the request's body is framed: BodyChunked,
// BodyContentLength (ContentLength > 0) or BodyNone. A request is never
// read until close.
func (r *Request) BodyKind() BodyKind {
	switch {
	case r.Chunked:
		return BodyChunked
	case r.ContentLength > 0:
		return BodyContentLength
	}
	return BodyNone
}

// ParseRequest parses the request head at the start of buf into r and
// returns its length n; the body (if any) starts at buf[n]. It never reads
// past the head, so pipelined requests are parsed one at a time from
// buf[n+bodyLen:].
//
// It returns ErrNeedMore while the head is incomplete and buf holds at most
// maxHeaderBytes (DefaultMaxHeaderBytes when <= 0) bytes, and an *Error
// otherwise: 414 when the request line does not end within maxHeaderBytes,
// 431 when the head does not or has more than MaxFields fields, and the
// statuses listed with the Error type for malformed heads (RFC 9112, strict:
// see doc.go). Bytes it has seen are checked as they come, so garbage is
// rejected before the head is complete. After an error the contents of r
// are unspecified. It does not allocate once r.Fields has grown to the
// number of fields.
func ParseRequest(buf []byte, r *Request, maxHeaderBytes int) (int, error) {
	r.Reset()
	n, k := parseRequest(buf, r, maxHeaderBytes)
	if k != errNone {
		if k == errNeedMore {
			return 0, ErrNeedMore
		}
		return 0, reqErrs[k]
	}
	return n, nil
}

func parseRequest(buf []byte, r *Request, maxHeaderBytes int) (int, errKind) {
	b, over := limitBuf(buf, maxHeaderBytes)
	p := 0
	// RFC 9112 §2.2: a server SHOULD ignore empty lines before the request
	// line (some clients send a CRLF after a POST body).
	for p < len(b) && b[p] == '\r' {
		if p+1 >= len(b) {
			return 0, needMore(over, errLineTooLong)
		}
		if b[p+1] != '\n' {
			return 0, errBareCR
		}
		p += 2
	}

	// method SP
	start := p
	for p < len(b) && isTchar(b[p]) {
		p++
	}
	if p >= len(b) {
		return 0, needMore(over, errLineTooLong)
	}
	if b[p] != ' ' || p == start {
		if b[p] == '\n' && p == start {
			return 0, errBareLF
		}
		return 0, errBadMethod
	}
	r.Method = b[start:p]
	p++

	// request-target SP
	start = p
	p = scanTarget(b, p)
	if p >= len(b) {
		return 0, needMore(over, errLineTooLong)
	}
	if b[p] != ' ' || p == start {
		return 0, errBadTarget
	}
	r.Target = b[start:p]
	p++

	// HTTP-version CRLF
	if len(b)-p < 10 {
		// Check what is there so garbage fails early.
		for i, c := range b[p:] {
			want := "HTTP/1.1\r\n"[i]
			switch {
			case c == want:
			case (i == 5 || i == 7) && c >= '0' && c <= '9':
			case i == 8 && c == '\n':
				return 0, errBareLF
			default:
				return 0, errBadVersion
			}
		}
		return 0, needMore(over, errLineTooLong)
	}
	minor, k := parseVersion(b[p:])
	if k != errNone {
		return 0, k
	}
	r.ProtoMinor = minor
	p += 8
	switch {
	case b[p] == '\r' && b[p+1] == '\n':
	case b[p] == '\n':
		return 0, errBareLF
	case b[p] == '\r':
		return 0, errBareCR
	default:
		return 0, errBadVersion
	}
	p += 2

	if k := parseTarget(r); k != errNone {
		return 0, k
	}

	var fr framing
	r.Fields, p, k = parseFields(b, p, r.Fields)
	if k != errNone {
		if k == errNeedMore {
			return 0, needMore(over, errHeadTooLarge)
		}
		return 0, k
	}
	if fr, k = interpret(r.Fields, minor, true); k != errNone {
		return 0, k
	}
	if r.Form != FormAbsolute {
		if fr.hostCount > 0 && len(fr.host) == 0 {
			return 0, errBadHost // an empty host (RFC 9110 §4.2.1)
		}
		r.Host = fr.host
	}
	r.ContentLength = fr.contentLength
	r.Chunked = fr.chunked
	r.KeepAlive = keepAlive(minor, &fr)
	r.Expect100 = fr.expect100
	r.HeadLen = p
	return p, errNone
}

// needMore turns running out of input into ErrNeedMore, or into tooLarge
// when the input was cut at the size limit.
func needMore(over bool, tooLarge errKind) errKind {
	if over {
		return tooLarge
	}
	return errNeedMore
}

// parseTarget splits r.Target into Path, Query and, for absolute-form, Host.
func parseTarget(r *Request) errKind {
	t := r.Target
	if EqualFoldString(r.Method, "CONNECT") {
		// A gateway does not tunnel: authority-form is refused (501).
		return errConnect
	}
	switch t[0] {
	case '/':
		r.Form = FormOrigin
		splitQuery(r, t)
		return errNone
	case '*':
		if len(t) != 1 {
			return errBadTarget
		}
		if string(r.Method) != "OPTIONS" {
			return errAsteriskNotOptions
		}
		r.Form = FormAsterisk
		r.Path = t
		return errNone
	}
	// absolute-form: only http and https (RFC 9112 §3.2.2).
	var rest []byte
	switch {
	case len(t) >= 7 && EqualFoldString(t[:7], "http://"):
		rest = t[7:]
	case len(t) >= 8 && EqualFoldString(t[:8], "https://"):
		rest = t[8:]
	default:
		return errBadTarget
	}
	i := 0
	for i < len(rest) && rest[i] != '/' && rest[i] != '?' {
		i++
	}
	auth := rest[:i]
	if len(auth) == 0 || !validHost(auth) {
		// Empty host is invalid for http(s) URIs (RFC 9110 §4.2.1); '@'
		// (userinfo) fails validHost.
		return errBadAbsoluteTarget
	}
	r.Form = FormAbsolute
	r.Host = auth
	splitQuery(r, rest[i:])
	if len(r.Path) == 0 {
		r.Path = slash
	}
	return errNone
}

func splitQuery(r *Request, t []byte) {
	for i, c := range t {
		if c == '?' {
			r.Path, r.Query = t[:i], t[i+1:]
			return
		}
	}
	r.Path = t
}
