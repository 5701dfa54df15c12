package policy

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A minimal strict JSON reader for JWS headers and claim sets. It is used
// instead of encoding/json on the verification path because it is several
// times cheaper (the verify cost should be the signature check), it lets
// the verifier reject duplicate members it acts on (two parsers must never
// disagree on which "alg" or "exp" counts), and it never builds values the
// verifier does not need. It rejects what RFC 8259 rejects: invalid UTF-8,
// raw control bytes in strings, bad escapes, leading zeros, trailing data.

const maxJSONDepth = 32

type jscan struct {
	b []byte
	i int
}

func (s *jscan) ws() {
	// Compact JSON (the usual token) stops at the first compare.
	for s.i < len(s.b) && s.b[s.i] <= ' ' {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jscan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// jsonPlain marks the string bytes that need no attention: not '"',
// not a backslash, not a control byte, ASCII.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a string token and returns its raw contents (between the
// quotes, escapes untouched) and whether it holds any escape.
func (s *jscan) str() (raw []byte, esc, ok bool) {
	if s.peek() != '"' {
		return nil, false, false
	}
	start := s.i + 1
	ascii := true
	b := s.b
	for i := start; i < len(b); {
		// Skip plain bytes eight at a time (most of a token's strings are)
		// and land on the first byte needing attention.
		if i+8 <= len(b) {
			m := jsonSpecial8(binary.LittleEndian.Uint64(b[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else if jsonPlain[b[i]] {
			i++
			continue
		}
		switch c := b[i]; {
		case c == '"':
			raw = b[start:i]
			s.i = i + 1
			if !ascii && !utf8.Valid(raw) {
				return nil, false, false
			}
			return raw, esc, true
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return nil, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return nil, false, false
				}
				for _, h := range b[i+2 : i+6] {
					if _, ok := unhex(h); !ok {
						return nil, false, false
					}
				}
				i += 6
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		default:
			ascii = false
			i++
		}
	}
	return nil, false, false
}

// scanPlain returns the index of the first byte of b from i on that is
// not plain (see jsonPlain), or len(b).
func scanPlain(b []byte, i int) int {
	for i+8 <= len(b) {
		if m := jsonSpecial8(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(b) && jsonPlain[b[i]] {
		i++
	}
	return i
}

// jsonSpecial8 flags (with the high bit of the byte) the bytes of the
// little-endian word w that are not plain (see jsonPlain). A flag may
// also be set after a real one, never below: the lowest flag is exact.
func jsonSpecial8(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q, bs := w^('"'*ones), w^('\\'*ones) // zero bytes at quotes, at backslashes
	// (x - ones) &^ x flags zero bytes of x; (w - 0x20*ones) &^ w flags
	// bytes below 0x20; w itself flags non-ASCII.
	return ((q-ones)&^q | (bs-ones)&^bs | (w-0x20*ones)&^w | w) & highs
}

func (s *jscan) lit(w string) bool {
	if len(s.b)-s.i < len(w) || string(s.b[s.i:s.i+len(w)]) != w {
		return false
	}
	s.i += len(w)
	return true
}

// number reads a number token per the RFC 8259 grammar.
func (s *jscan) number() bool {
	i := s.i
	if i < len(s.b) && s.b[i] == '-' {
		i++
	}
	switch {
	case i < len(s.b) && s.b[i] == '0':
		i++
	case i < len(s.b) && s.b[i] >= '1' && s.b[i] <= '9':
		for i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s.b) && s.b[i] == '.' {
		i++
		d := i
		for i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(s.b) && (s.b[i] == 'e' || s.b[i] == 'E') {
		i++
		if i < len(s.b) && (s.b[i] == '+' || s.b[i] == '-') {
			i++
		}
		d := i
		for i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	s.i = i
	return true
}

// value reads any value, validating it, at most maxJSONDepth deep.
func (s *jscan) value(depth int) bool {
	s.ws()
	switch c := s.peek(); {
	case c == '{':
		if depth >= maxJSONDepth {
			return false
		}
		s.i++
		s.ws()
		if s.peek() == '}' {
			s.i++
			return true
		}
		for {
			s.ws()
			if _, _, ok := s.str(); !ok {
				return false
			}
			s.ws()
			if s.peek() != ':' {
				return false
			}
			s.i++
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			switch s.peek() {
			case ',':
				s.i++
			case '}':
				s.i++
				return true
			default:
				return false
			}
		}
	case c == '[':
		if depth >= maxJSONDepth {
			return false
		}
		s.i++
		s.ws()
		if s.peek() == ']' {
			s.i++
			return true
		}
		for {
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			switch s.peek() {
			case ',':
				s.i++
			case ']':
				s.i++
				return true
			default:
				return false
			}
		}
	case c == '"':
		_, _, ok := s.str()
		return ok
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return false
}

// objIter walks the members of a JSON object that must span all of its
// input, without a callback, so that the values it returns stay on the
// caller's stack (the verifier decodes into a stack buffer):
//
//	it := newObjIter(b)
//	for k, v, more := it.next(); more; k, v, more = it.next() { use(k, v) }
//	if !it.ok() { invalid }
//
// (The member is returned, not stored in the iterator: a store through
// the pointer would make escape analysis move the input to the heap.)
type objIter struct {
	s     jscan
	state uint8 // iterFirst, iterMore, iterEnd, iterBad
	plain bool  // the value next returned last is a string without escapes
}

const (
	iterFirst = iota // before the first member
	iterMore         // after a member
	iterEnd          // closed properly, nothing after
	iterBad          // invalid JSON
)

func newObjIter(b []byte) objIter {
	it := objIter{s: jscan{b: b}}
	it.s.ws()
	if it.s.peek() != '{' {
		it.state = iterBad
		return it
	}
	it.s.i++
	it.s.ws()
	if it.s.peek() == '}' {
		it.s.i++
		it.close()
	}
	return it
}

// close checks that nothing but whitespace follows the object.
func (it *objIter) close() {
	it.s.ws()
	if it.s.i == len(it.s.b) {
		it.state = iterEnd
	} else {
		it.state = iterBad
	}
}

// next returns the next member, its key unescaped and its value raw
// (validated), and whether there is one.
func (it *objIter) next() (key, val []byte, more bool) {
	s := &it.s
	// Fast path for the usual compact member, "key":"plain" or
	// "key":digits, both plain meaning printable ASCII without escapes:
	// valid JSON by construction. Anything else (whitespace, escapes,
	// non-ASCII, other values, errors) goes the general way below from
	// the same position.
	if b, i := s.b, s.i; it.state == iterFirst || it.state == iterMore {
		if it.state == iterMore && i < len(b) && b[i] == ',' {
			i++
		}
		if (it.state == iterFirst || i > s.i) && i < len(b) && b[i] == '"' {
			ks := i + 1
			ke := scanPlain(b, ks)
			if ke+2 < len(b) && b[ke] == '"' && b[ke+1] == ':' {
				vs := ke + 2
				switch c := b[vs]; {
				case c == '"':
					if ve := scanPlain(b, vs+1); ve < len(b) && b[ve] == '"' {
						s.i, it.state, it.plain = ve+1, iterMore, true
						return b[ks:ke], b[vs : ve+1], true
					}
				case c >= '1' && c <= '9':
					ve := vs + 1
					for ve < len(b) && b[ve] >= '0' && b[ve] <= '9' {
						ve++
					}
					if ve < len(b) && (b[ve] == ',' || b[ve] == '}') {
						s.i, it.state, it.plain = ve, iterMore, false
						return b[ks:ke], b[vs:ve], true
					}
				}
			}
		}
	}
	it.plain = false
	switch it.state {
	case iterMore:
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			it.close()
			return nil, nil, false
		default:
			it.state = iterBad
			return nil, nil, false
		}
	case iterFirst:
	default:
		return nil, nil, false
	}
	it.state = iterBad // until the member is complete
	s.ws()
	// Keys are short and plain: find the closing quote inline, leaving
	// anything else (escapes, non-ASCII, errors) to str.
	b := s.b
	i := scanPlain(b, s.i+1)
	ok := true
	if s.peek() == '"' && i < len(b) && b[i] == '"' {
		key, s.i = b[s.i+1:i], i+1
	} else {
		var raw []byte
		var esc bool
		if raw, esc, ok = s.str(); !ok {
			return nil, nil, false
		}
		key = raw
		if esc {
			if key, ok = unescape(raw); !ok {
				return nil, nil, false
			}
		}
	}
	s.ws()
	if s.peek() != ':' {
		return nil, nil, false
	}
	s.i++
	s.ws()
	start := s.i
	// Claim values are mostly strings and numbers: read them directly.
	switch c := s.peek(); {
	case c == '"':
		_, _, ok = s.str()
	case c >= '0' && c <= '9' || c == '-':
		ok = s.number()
	default:
		ok = s.value(1)
	}
	if !ok {
		return nil, nil, false
	}
	it.state = iterMore
	return key, s.b[start:s.i], true
}

// ok reports, once next returned false, whether the whole input was one
// valid object (false when the caller stopped early).
func (it *objIter) ok() bool { return it.state == iterEnd }

// eachMember walks the members of the JSON object b (the whole input must
// be one object) and calls fn with each key (unescaped) and the raw bytes
// of its value (already validated). It stops and returns false when the
// input is not valid JSON or fn returns false.
func eachMember(b []byte, fn func(key, val []byte) bool) bool {
	it := newObjIter(b)
	for k, v, more := it.next(); more; k, v, more = it.next() {
		if !fn(k, v) {
			return false
		}
	}
	return it.ok()
}

// jsonString returns the unescaped contents of a string value, or false
// when val is not a string. Only escaped strings allocate.
func jsonString(val []byte) ([]byte, bool) {
	if len(val) < 2 || val[0] != '"' {
		return nil, false
	}
	raw := val[1 : len(val)-1]
	if bytes.IndexByte(raw, '\\') >= 0 {
		return unescape(raw)
	}
	return raw, true
}

// strArrIter walks an array value that must hold only strings (already
// validated JSON, as objIter returns it), yielding each unescaped.
type strArrIter struct {
	s     jscan
	state uint8 // iterFirst, iterMore, iterEnd, iterBad
}

func newStrArrIter(val []byte) strArrIter {
	it := strArrIter{s: jscan{b: val}}
	if it.s.peek() != '[' {
		it.state = iterBad
		return it
	}
	it.s.i++
	it.s.ws()
	if it.s.peek() == ']' {
		it.state = iterEnd
	}
	return it
}

func (it *strArrIter) next() ([]byte, bool) {
	s := &it.s
	switch it.state {
	case iterMore:
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			it.state = iterEnd
			return nil, false
		default:
			it.state = iterBad
			return nil, false
		}
	case iterFirst:
	default:
		return nil, false
	}
	it.state = iterBad
	s.ws()
	start := s.i
	if _, _, ok := s.str(); !ok {
		return nil, false
	}
	v, ok := jsonString(s.b[start:s.i])
	if !ok {
		return nil, false
	}
	it.state = iterMore
	return v, true
}

// ok reports, once next returned false, whether the value was an array
// of strings walked to its end.
func (it *strArrIter) ok() bool { return it.state == iterEnd }

// jsonNumericDate reads an RFC 7519 NumericDate (seconds, possibly with a
// fraction, which is truncated) into Unix seconds.
func jsonNumericDate(val []byte) (int64, bool) {
	// Fast path: an integer of up to 18 digits (no overflow possible).
	d, neg := val, false
	if len(d) > 0 && d[0] == '-' {
		d, neg = d[1:], true
	}
	if len(d) > 0 && len(d) <= 18 {
		var n int64
		simple := true
		for _, c := range d {
			if c < '0' || c > '9' {
				simple = false
				break
			}
			n = n*10 + int64(c-'0')
		}
		if simple {
			if neg {
				n = -n
			}
			return n, true
		}
	}
	s := jscan{b: val}
	if !s.number() || s.i != len(val) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(val), 64)
	if err != nil || math.IsNaN(f) || f > 1<<62 || f < -(1<<62) {
		return 0, false
	}
	return int64(f), true
}

// unescape decodes the escapes of raw string contents into a new slice.
// Unpaired surrogates are rejected rather than replaced.
func unescape(raw []byte) ([]byte, bool) {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(raw) {
			return nil, false
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			out = append(out, raw[i+1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(raw[i+2:])
			if !ok {
				return nil, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
					return nil, false
				}
				r2, ok := hex4(raw[i+2:])
				if !ok {
					return nil, false
				}
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return nil, false
				}
				i += 6
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return nil, false
		}
		i += 2
	}
	return out, true
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		v, ok := unhex(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}
