package edge

import (
	"bytes"

	"github.com/portico-gw/portico/parser"
)

// parseOwnHead reads a response head that the pipeline itself wrote to an
// HTTP/2 stream, into r. Those bytes were built by Portico ("HTTP/1.1 SSS
// reason", then "Name: value" lines whose names and values passed the
// parser or the route file's checks, and at most one framing field), so
// they need splitting, not the byte-by-byte validation ParseResponse gives
// untrusted input: that second validation was a third of the HTTP/1.1
// parsing an h2 stream paid for. Anything outside that shape, including an
// incomplete head, goes to ParseResponse, which stays the authority.
func parseOwnHead(b []byte, r *parser.Response) (int, error) {
	n, ok := splitOwnHead(b, r)
	if !ok {
		return parser.ParseResponse(b, r, 1<<20)
	}
	return n, nil
}

func splitOwnHead(b []byte, r *parser.Response) (int, bool) {
	r.Reset()
	if len(b) < 14 || string(b[:9]) != "HTTP/1.1 " {
		return 0, false
	}
	st := 0
	for _, c := range b[9:12] {
		if c < '0' || c > '9' {
			return 0, false
		}
		st = st*10 + int(c-'0')
	}
	if st < 100 || st > 599 {
		return 0, false
	}
	r.ProtoMinor, r.Status = 1, st
	eol := bytes.IndexByte(b[12:], '\n')
	if eol < 1 || b[12+eol-1] != '\r' {
		return 0, false
	}
	if eol > 1 {
		r.Reason = b[13 : 12+eol-1]
	}
	p := 12 + eol + 1
	for {
		if p+1 >= len(b) {
			return 0, false
		}
		if b[p] == '\r' {
			if b[p+1] != '\n' {
				return 0, false
			}
			if r.Chunked && r.ContentLength >= 0 {
				return 0, false
			}
			r.HeadLen = p + 2
			return p + 2, true
		}
		line := b[p:]
		colon := bytes.IndexByte(line, ':')
		cr := bytes.IndexByte(line, '\r')
		if colon < 1 || cr < colon || cr+1 >= len(line) || line[cr+1] != '\n' || len(r.Fields) >= parser.MaxFields {
			return 0, false
		}
		name, value := line[:colon], trimOWS(line[colon+1:cr])
		switch len(name) {
		case len("Content-Length"):
			if parser.EqualFoldString(name, "Content-Length") {
				cl, ok := parser.ParseLength(value)
				if !ok || r.ContentLength >= 0 {
					return 0, false
				}
				r.ContentLength = cl
			}
		case len("Transfer-Encoding"):
			if parser.EqualFoldString(name, "Transfer-Encoding") {
				if !parser.EqualFoldString(value, "chunked") || r.Chunked {
					return 0, false
				}
				r.Chunked = true
			}
		}
		r.Fields = append(r.Fields, parser.Field{Name: name, Value: value})
		p += cr + 2
	}
}
