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
// parsing an h2 stream paid for. Nor do they fall under ParseResponse's
// field cap: an upstream head at the cap plus the fields Portico adds
// (X-Request-Id, Date, the route's response_headers) is over it, and
// reaches an HTTP/1.1 client whole. Anything outside that shape goes to
// ParseResponse, which stays the authority.
func parseOwnHead(b []byte, r *parser.Response) (int, error) {
	n, shape := splitOwnHead(b, r)
	switch shape {
	case ownHeadWhole:
		return n, nil
	case ownHeadPartial:
		return 0, parser.ErrNeedMore
	}
	return parser.ParseResponse(b, r, 1<<20)
}

type ownHeadShape uint8

const (
	ownHeadWhole   ownHeadShape = iota
	ownHeadPartial              // the shape holds so far; the rest is to come
	ownHeadOther                // not a head the pipeline writes
)

func splitOwnHead(b []byte, r *parser.Response) (int, ownHeadShape) {
	r.Reset()
	const proto = "HTTP/1.1 "
	if len(b) < 14 { // partial while it can still become "HTTP/1.1 DDD "
		for i, c := range b {
			switch {
			case i < len(proto) && c != proto[i],
				i >= len(proto) && i < 12 && (c < '0' || c > '9'),
				i == 12 && c != ' ' && c != '\r':
				return 0, ownHeadOther
			}
		}
		return 0, ownHeadPartial
	}
	if string(b[:len(proto)]) != proto {
		return 0, ownHeadOther
	}
	st, ok := parser.StatusCode(b[9:12])
	if !ok {
		return 0, ownHeadOther
	}
	r.ProtoMinor, r.Status = 1, st
	eol := bytes.IndexByte(b[12:], '\n')
	if eol < 0 {
		return 0, ownHeadPartial
	}
	if eol < 1 || b[12+eol-1] != '\r' {
		return 0, ownHeadOther
	}
	if eol > 1 {
		r.Reason = b[13 : 12+eol-1]
	}
	p := 12 + eol + 1
	for {
		if p+1 >= len(b) {
			return 0, ownHeadPartial
		}
		if b[p] == '\r' {
			if b[p+1] != '\n' || (r.Chunked && r.ContentLength >= 0) {
				return 0, ownHeadOther
			}
			r.HeadLen = p + 2
			return p + 2, ownHeadWhole
		}
		line := b[p:]
		cr := bytes.IndexByte(line, '\r')
		if cr < 0 || cr+1 >= len(line) {
			if bytes.IndexByte(line, '\n') >= 0 {
				return 0, ownHeadOther // a bare LF: no CR can make it a head
			}
			return 0, ownHeadPartial // the line, or its LF, is to come
		}
		colon := bytes.IndexByte(line[:cr], ':')
		if colon < 1 || line[cr+1] != '\n' || bytes.IndexByte(line[:cr], '\n') >= 0 {
			return 0, ownHeadOther
		}
		name, value := line[:colon], trimOWS(line[colon+1:cr])
		switch len(name) {
		case len("Content-Length"):
			if parser.EqualFoldString(name, "Content-Length") {
				cl, ok := parser.ParseLength(value)
				if !ok || r.ContentLength >= 0 {
					return 0, ownHeadOther
				}
				r.ContentLength = cl
			}
		case len("Transfer-Encoding"):
			if parser.EqualFoldString(name, "Transfer-Encoding") {
				if !parser.EqualFoldString(value, "chunked") || r.Chunked {
					return 0, ownHeadOther
				}
				r.Chunked = true
			}
		}
		r.Fields = append(r.Fields, parser.Field{Name: name, Value: value})
		p += cr + 2
	}
}
