package parser

// Response is a parsed response head (from an upstream). Every []byte field
// is a sub-slice of the buffer passed to ParseResponse, valid while that
// buffer is neither modified nor reused. A Response is reused across
// responses: ParseResponse resets it and keeps the capacity of Fields.
type Response struct {
	ProtoMinor int // 0 or 1
	Status     int // 100..599
	Reason     []byte
	Fields     []Field
	// ContentLength is -1 when absent. It is reported even where it does
	// not frame a body (HEAD, 1xx, 204, 304): use ResponseBodyKind.
	ContentLength int64
	Chunked       bool // Transfer-Encoding: chunked
	// KeepAlive: the upstream connection may be reused after this
	// response, as far as the head says; a body read until close
	// (BodyUntilClose) rules reuse out too.
	KeepAlive bool
	HeadLen   int
}

// Reset clears r for reuse, keeping the capacity of Fields.
func (r *Response) Reset() {
	clear(r.Fields)
	*r = Response{Fields: r.Fields[:0], ContentLength: -1}
}

// BodyKind says how a message body is delimited (RFC 9112 §6.3).
type BodyKind uint8

const (
	// BodyNone: no body follows the head.
	BodyNone BodyKind = iota
	// BodyContentLength: exactly ContentLength (> 0) bytes follow.
	BodyContentLength
	// BodyChunked: a chunked body follows; decode it with ChunkedDecoder.
	BodyChunked
	// BodyUntilClose: the body runs until the upstream closes the
	// connection, which therefore cannot be reused.
	BodyUntilClose
)

func (k BodyKind) String() string {
	switch k {
	case BodyNone:
		return "none"
	case BodyContentLength:
		return "content-length"
	case BodyChunked:
		return "chunked"
	case BodyUntilClose:
		return "until-close"
	}
	return "invalid"
}

// ResponseBodyKind applies RFC 9112 §6.3 to a parsed response: none for a
// response to HEAD and for 1xx, 204 and 304 whatever the fields say, and for
// Content-Length: 0; then chunked, then Content-Length, else until close.
func ResponseBodyKind(reqMethodIsHEAD bool, r *Response) BodyKind {
	switch {
	case reqMethodIsHEAD, r.Status < 200, r.Status == 204, r.Status == 304:
		return BodyNone
	case r.Chunked:
		return BodyChunked
	case r.ContentLength > 0:
		return BodyContentLength
	case r.ContentLength == 0:
		return BodyNone
	}
	return BodyUntilClose
}

// ParseResponse parses the response head at the start of buf into r and
// returns its length. It applies the request rules that make sense for a
// response (field syntax, bare CR/LF, obs-fold, Content-Length and
// Transfer-Encoding; a Transfer-Encoding must be exactly "chunked") and
// returns ErrNeedMore or an *Error whose Status is always 502
// (bad_gateway): an upstream that sends an invalid head gets no benefit of
// the doubt. maxHeaderBytes bounds the whole head (status line included).
// After an error the contents of r are unspecified.
func ParseResponse(buf []byte, r *Response, maxHeaderBytes int) (int, error) {
	r.Reset()
	n, k := parseResponse(buf, r, maxHeaderBytes)
	if k != errNone {
		if k == errNeedMore {
			return 0, ErrNeedMore
		}
		return 0, respErrs[k]
	}
	return n, nil
}

func parseResponse(buf []byte, r *Response, maxHeaderBytes int) (int, errKind) {
	b, over := limitBuf(buf, maxHeaderBytes)
	// "HTTP/1.x SP 3DIGIT" is 12 bytes; check a shorter prefix for garbage.
	const proto = "HTTP/1.1 200"
	if len(b) < len(proto) {
		for i, c := range b {
			if c != proto[i] && !((i == 5 || i == 7 || i >= 9) && c >= '0' && c <= '9') {
				return 0, errBadStatusLine
			}
		}
		return 0, needMore(over, errHeadTooLarge)
	}
	minor, k := parseVersion(b)
	if k != errNone {
		return 0, k
	}
	r.ProtoMinor = minor
	if b[8] != ' ' {
		return 0, errBadStatusLine
	}
	st, ok := StatusCode(b[9:12])
	if !ok {
		return 0, errBadStatus
	}
	r.Status = st
	p := 12
	if p >= len(b) {
		return 0, needMore(over, errHeadTooLarge)
	}
	switch b[p] {
	case ' ':
		p++
		start := p
		p = scanValue(b, p)
		if p >= len(b) {
			return 0, needMore(over, errHeadTooLarge)
		}
		r.Reason = b[start:p]
	case '\r':
		// Missing SP before an empty reason: tolerated, it changes nothing.
	case '\n':
		return 0, errBareLF
	default:
		return 0, errBadStatusLine
	}
	switch b[p] {
	case '\r':
	case '\n':
		return 0, errBareLF
	default:
		return 0, errBadStatusLine
	}
	if p+1 >= len(b) {
		return 0, needMore(over, errHeadTooLarge)
	}
	if b[p+1] != '\n' {
		return 0, errBareCR
	}
	p += 2

	var fr framing
	r.Fields, p, k = parseFields(b, p, r.Fields)
	if k != errNone {
		if k == errNeedMore {
			return 0, needMore(over, errHeadTooLarge)
		}
		return 0, k
	}
	if fr, k = interpret(r.Fields, minor, false); k != errNone {
		if k == errTEUnsupported {
			// A coding we would have to forward but cannot frame: refuse
			// rather than read until close and drop the coding.
			return 0, errBadTE
		}
		return 0, k
	}
	r.ContentLength = fr.contentLength
	r.Chunked = fr.chunked
	r.KeepAlive = keepAlive(minor, &fr)
	r.HeadLen = p
	return p, errNone
}

// StatusCode reads a status line's three digits, 100 to 599.
func StatusCode(d []byte) (int, bool) {
	if len(d) != 3 {
		return 0, false
	}
	st := 0
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false
		}
		st = st*10 + int(c-'0')
	}
	return st, st >= 100 && st <= 599
}
