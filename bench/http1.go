package bench

// Minimal HTTP/1.1 head parsing for the harness: enough to frame messages on
// a keep-alive connection (status or method/target, Content-Length,
// Transfer-Encoding: chunked, Connection: close). Everything here works in
// place on the caller's buffer and never allocates.
//
// The project's parser package (HTTP/1.1 request and response heads,
// chunked codec) is meant to replace parseRequestHead, parseResponseHead and
// chunkSkipper once its API is settled; they are kept small and private so
// that swap touches only this file.

import (
	"bytes"
	"errors"
)

var (
	errNeedMore   = errors.New("bench: incomplete message head")
	errBadHead    = errors.New("bench: malformed message head")
	errBadChunk   = errors.New("bench: malformed chunked body")
	errHeadTooBig = errors.New("bench: message head too large")
)

// maxHead caps a request or response head; larger ones are rejected rather
// than buffered without bound.
const maxHead = 64 << 10

var crlfcrlf = []byte("\r\n\r\n")

// msgHead is what framing needs from a request or response head.
type msgHead struct {
	headLen       int    // bytes up to and including the blank line
	status        int    // responses only
	method        []byte // requests only; sub-slice of the input
	target        []byte // requests only; sub-slice of the input
	contentLength int64  // -1 when absent
	chunked       bool
	close         bool // Connection: close, or HTTP/1.0 without keep-alive
}

// findHeadEnd returns the length of the head including the blank line, or
// an error when it is incomplete or too long.
func findHeadEnd(b []byte) (int, error) {
	i := bytes.Index(b, crlfcrlf)
	if i < 0 {
		if len(b) > maxHead {
			return 0, errHeadTooBig
		}
		return 0, errNeedMore
	}
	return i + 4, nil
}

// parseRequestHead parses a request head at the start of b. Returned slices
// point into b and are valid as long as b is.
func parseRequestHead(b []byte) (h msgHead, err error) {
	n, err := findHeadEnd(b)
	if err != nil {
		return h, err
	}
	h.headLen = n
	line, rest := cutLine(b[:n])
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return h, errBadHead
	}
	h.method = line[:sp]
	line = line[sp+1:]
	sp = bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return h, errBadHead
	}
	h.target = line[:sp]
	ver := line[sp+1:]
	http10 := false
	switch string(ver) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		http10 = true
	default:
		return h, errBadHead
	}
	keepAlive, err := h.parseFields(rest)
	if err != nil {
		return h, err
	}
	if http10 && !keepAlive {
		h.close = true
	}
	return h, nil
}

// parseResponseHead parses a response head at the start of b.
func parseResponseHead(b []byte) (h msgHead, err error) {
	n, err := findHeadEnd(b)
	if err != nil {
		return h, err
	}
	h.headLen = n
	line, rest := cutLine(b[:n])
	// "HTTP/1.x SSS[ reason]"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return h, errBadHead
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return h, errBadHead
		}
		h.status = h.status*10 + int(c-'0')
	}
	if len(line) > 12 && line[12] != ' ' {
		return h, errBadHead
	}
	keepAlive, err := h.parseFields(rest)
	if err != nil {
		return h, err
	}
	if line[7] == '0' && !keepAlive {
		h.close = true
	}
	return h, nil
}

// parseFields scans header lines, filling the framing fields. It reports
// whether "Connection: keep-alive" was present (for HTTP/1.0).
func (h *msgHead) parseFields(b []byte) (keepAlive bool, err error) {
	h.contentLength = -1
	for len(b) > 0 {
		var line []byte
		line, b = cutLine(b)
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return false, errBadHead
		}
		name, val := line[:colon], trimOWS(line[colon+1:])
		switch {
		case equalFold(name, "content-length"):
			if h.contentLength >= 0 {
				return false, errBadHead // duplicates are a smuggling vector; refuse
			}
			v, ok := parseDecimal(val)
			if !ok {
				return false, errBadHead
			}
			h.contentLength = v
		case equalFold(name, "transfer-encoding"):
			// Only the final coding matters for framing.
			if len(val) >= 7 && equalFold(val[len(val)-7:], "chunked") {
				h.chunked = true
			}
		case equalFold(name, "connection"):
			if hasToken(val, "close") {
				h.close = true
			}
			if hasToken(val, "keep-alive") {
				keepAlive = true
			}
		}
	}
	if h.chunked {
		h.contentLength = -1 // RFC 9112 6.3: chunked wins over Content-Length
	}
	return keepAlive, nil
}

// cutLine splits b at the first CRLF.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line = b[:i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, b[i+1:]
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

// equalFold compares b with the lower-case ASCII string s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds token tok.
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		var t []byte
		if i < 0 {
			t, v = v, nil
		} else {
			t, v = v[:i], v[i+1:]
		}
		if equalFold(trimOWS(t), tok) {
			return true
		}
	}
	return false
}

func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// chunkSkipper consumes a chunked body incrementally, across any split of
// the input, without copying it. The zero value is ready at the start of a
// body.
type chunkSkipper struct {
	state  uint8
	digits uint8
	left   uint64 // bytes of chunk data still to skip
}

const (
	csSize        = iota // hex digits of the chunk size
	csExt                // chunk extension, up to CR
	csSizeLF             // LF after the size line
	csData               // chunk data
	csDataCR             // CR after the data
	csDataLF             // LF after the data
	csTrailerLine        // at the start of a trailer line (or the final CRLF)
	csTrailerText        // inside a trailer field line
	csEndLF              // LF of the final blank line
)

// skip consumes from b. It returns how many bytes belong to the body and
// done=true once the last chunk and trailers are consumed; bytes past n
// belong to the next message.
func (c *chunkSkipper) skip(b []byte) (n int, done bool, err error) {
	for n < len(b) {
		ch := b[n]
		switch c.state {
		case csSize:
			switch {
			case ch == '\r':
				if c.digits == 0 {
					return n, false, errBadChunk
				}
				c.state = csSizeLF
			case ch == ';' || ch == ' ' || ch == '\t':
				if c.digits == 0 {
					return n, false, errBadChunk
				}
				c.state = csExt
			default:
				d := unhex(ch)
				if d < 0 || c.digits >= 15 { // 15 hex digits: far beyond any real body
					return n, false, errBadChunk
				}
				c.left = c.left<<4 | uint64(d)
				c.digits++
			}
			n++
		case csExt:
			if ch == '\r' {
				c.state = csSizeLF
			} else if ch == '\n' {
				return n, false, errBadChunk
			}
			n++
		case csSizeLF:
			if ch != '\n' {
				return n, false, errBadChunk
			}
			n++
			c.digits = 0
			if c.left == 0 {
				c.state = csTrailerLine
			} else {
				c.state = csData
			}
		case csData:
			k := uint64(len(b) - n)
			if k > c.left {
				k = c.left
			}
			n += int(k)
			c.left -= k
			if c.left == 0 {
				c.state = csDataCR
			}
		case csDataCR:
			if ch != '\r' {
				return n, false, errBadChunk
			}
			c.state = csDataLF
			n++
		case csDataLF:
			if ch != '\n' {
				return n, false, errBadChunk
			}
			c.state = csSize
			n++
		case csTrailerLine:
			if ch == '\r' {
				c.state = csEndLF
			} else {
				c.state = csTrailerText
			}
			n++
		case csTrailerText:
			if ch == '\n' {
				c.state = csTrailerLine
			}
			n++
		case csEndLF:
			if ch != '\n' {
				return n, false, errBadChunk
			}
			*c = chunkSkipper{}
			return n + 1, true, nil
		}
	}
	return n, false, nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
