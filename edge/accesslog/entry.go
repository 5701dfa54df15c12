package accesslog

import (
	"encoding/binary"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Entry is one request's access log record. The caller owns it and may reuse
// it after Log returns; Log reads the slices only during the call, so they
// may point into buffers the event loop recycles afterwards.
//
// Request-derived text is []byte (it is sliced from the parsed request);
// text that comes from config or per-connection caches is string. An empty
// field is written as "".
type Entry struct {
	// Time is when the request was received; the zero Time means now.
	Time time.Time

	RequestID  []byte // the X-Request-Id sent back to the client
	RemoteAddr []byte // client address (after trusted_proxies), e.g. "203.0.113.7:51234"
	Method     []byte
	Host       []byte
	Path       []byte // request target as received, query included
	Proto      string // "HTTP/1.1", "HTTP/2.0"

	Status   int           // status sent to the client
	BytesIn  int64         // request body bytes read from the client
	BytesOut int64         // response body bytes written to the client
	Duration time.Duration // from Time to the last byte written; written as milliseconds

	Route     string // route name, "" when none matched
	Upstream  string // upstream name, "" for direct responses
	Target    string // target address the request went to, "" when none
	Consumer  string // authenticated consumer, "" for anonymous
	ErrorCode string // SPEC §4 code when Portico made the response (e.g. "rate_limited"), else ""
}

// maxFieldBytes caps the input bytes of any one text field, so one absurd
// header cannot make a line that never fits the ring. A cut field ends with
// "…" so the cut is visible.
const maxFieldBytes = 8 << 10

// truncMark is appended, inside the quotes, to a field cut at maxFieldBytes.
const truncMark = "…"

// appendEntry appends e as one JSON line, '\n' included.
func appendEntry(dst []byte, e *Entry) []byte {
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	dst = append(dst, `{"time":"`...)
	dst = appendTime(dst, t)
	dst = append(dst, `","request_id":`...)
	dst = appendJSONString(dst, e.RequestID)
	dst = append(dst, `,"remote_addr":`...)
	dst = appendJSONString(dst, e.RemoteAddr)
	dst = append(dst, `,"method":`...)
	dst = appendJSONString(dst, e.Method)
	dst = append(dst, `,"host":`...)
	dst = appendJSONString(dst, e.Host)
	dst = append(dst, `,"path":`...)
	dst = appendJSONString(dst, e.Path)
	dst = append(dst, `,"proto":`...)
	dst = appendJSONString(dst, s2b(e.Proto))
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(e.Status), 10)
	dst = append(dst, `,"bytes_in":`...)
	dst = strconv.AppendInt(dst, e.BytesIn, 10)
	dst = append(dst, `,"bytes_out":`...)
	dst = strconv.AppendInt(dst, e.BytesOut, 10)
	dst = append(dst, `,"duration_ms":`...)
	dst = appendMillis(dst, e.Duration)
	dst = append(dst, `,"route":`...)
	dst = appendJSONString(dst, s2b(e.Route))
	dst = append(dst, `,"upstream":`...)
	dst = appendJSONString(dst, s2b(e.Upstream))
	dst = append(dst, `,"target":`...)
	dst = appendJSONString(dst, s2b(e.Target))
	dst = append(dst, `,"consumer":`...)
	dst = appendJSONString(dst, s2b(e.Consumer))
	dst = append(dst, `,"error_code":`...)
	dst = appendJSONString(dst, s2b(e.ErrorCode))
	return append(dst, "}\n"...)
}

// s2b views s as bytes without copying. The result must not be modified;
// the encoder only reads it.
func s2b(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// appendTime appends t in UTC as RFC 3339 with exactly nine fractional
// digits (2006-01-02T15:04:05.000000000Z); fixed width keeps lines aligned
// and sortable as text.
func appendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		// RFC 3339 has no form for these; keep Go's rendering rather than lie.
		return t.AppendFormat(dst, "2006-01-02T15:04:05.000000000Z07:00")
	}
	hour, minute, sec := t.Clock()
	ns := t.Nanosecond()
	b := [30]byte{4: '-', 7: '-', 10: 'T', 13: ':', 16: ':', 19: '.', 29: 'Z'}
	put2(b[0:], year/100)
	put2(b[2:], year%100)
	put2(b[5:], int(month))
	put2(b[8:], day)
	put2(b[11:], hour)
	put2(b[14:], minute)
	put2(b[17:], sec)
	put2(b[20:], ns/10000000)
	put2(b[22:], ns/100000%100)
	put2(b[24:], ns/1000%100)
	put2(b[26:], ns/10%100)
	b[28] = byte('0' + ns%10)
	return append(dst, b[:]...)
}

// pairs holds "00" to "99" back to back.
const pairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// put2 writes v (0..99) as two digits at b[0:2].
func put2(b []byte, v int) {
	_ = b[1]
	b[0], b[1] = pairs[2*v], pairs[2*v+1]
}

// appendMillis appends d as milliseconds with microsecond precision
// (rounded half up), always three decimals: 1.234, 0.050, 1500.000.
// Negative durations are clock trouble, not meaning, and are written as 0.
func appendMillis(dst []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	us := int64(d) / 1000
	if int64(d)%1000 >= 500 {
		us++
	}
	dst = strconv.AppendInt(dst, us/1000, 10)
	frac := int(us % 1000)
	return append(dst, '.', byte('0'+frac/100), pairs[2*(frac%100)], pairs[2*(frac%100)+1])
}

const hexDigits = "0123456789abcdef"

// safeASCII[c] is true for the bytes below utf8.RuneSelf that go into a JSON
// string as they are: printable ASCII other than '"' and '\\'.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// plain8 reports whether the 8 bytes in x are all printable ASCII other
// than '"' and '\\' (the bit tricks are "hasless" and "haszero" from Sean
// Anderson's Bit Twiddling Hacks; each is exact about whether any byte
// matches, which is all this needs).
func plain8(x uint64) bool {
	ctl := (x - lsb*0x20) &^ x & msb
	quote := x ^ (lsb * '"')
	quote = (quote - lsb) &^ quote & msb
	bslash := x ^ (lsb * '\\')
	bslash = (bslash - lsb) &^ bslash & msb
	return (ctl | quote | bslash | x&msb) == 0
}

// appendJSONString appends s as a quoted JSON string. Quotes, backslashes and
// control characters are escaped, U+2028 and U+2029 too (they end lines in
// JavaScript), and every byte that is not part of valid UTF-8 becomes
// \ufffd, so the output is always valid JSON and valid UTF-8. Input past
// maxFieldBytes is cut and marked with "…".
func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	truncated := false
	if len(s) > maxFieldBytes {
		s, truncated = s[:maxFieldBytes], true
	}
	start := 0 // s[start:i] is a pending run of bytes to copy as they are
	for i := 0; i < len(s); {
		// Fast path: skip 8 plain ASCII bytes at a time.
		if i+8 <= len(s) && plain8(binary.LittleEndian.Uint64(s[i:])) {
			i += 8
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if safeASCII[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	if truncated {
		dst = append(dst, truncMark...)
	}
	return append(dst, '"')
}
