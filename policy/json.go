package policy

import (
	"math"
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
	for s.i < len(s.b) {
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

// str reads a string token and returns its raw contents (between the
// quotes, escapes untouched) and whether it holds any escape.
func (s *jscan) str() (raw []byte, esc, ok bool) {
	if s.peek() != '"' {
		return nil, false, false
	}
	start := s.i + 1
	ascii := true
	for i := start; i < len(s.b); {
		c := s.b[i]
		switch {
		case c == '"':
			raw = s.b[start:i]
			s.i = i + 1
			if !ascii && !utf8.Valid(raw) {
				return nil, false, false
			}
			return raw, esc, true
		case c == '\\':
			esc = true
			if i+1 >= len(s.b) {
				return nil, false, false
			}
			switch s.b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s.b) {
					return nil, false, false
				}
				for _, h := range s.b[i+2 : i+6] {
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
			if c >= 0x80 {
				ascii = false
			}
			i++
		}
	}
	return nil, false, false
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

// eachMember walks the members of the JSON object b (the whole input must
// be one object) and calls fn with each key (unescaped) and the raw bytes
// of its value (already validated). It stops and returns false when the
// input is not valid JSON or fn returns false.
func eachMember(b []byte, fn func(key, val []byte) bool) bool {
	s := jscan{b: b}
	s.ws()
	if s.peek() != '{' {
		return false
	}
	s.i++
	s.ws()
	if s.peek() == '}' {
		s.i++
	} else {
		for {
			s.ws()
			raw, esc, ok := s.str()
			if !ok {
				return false
			}
			key := raw
			if esc {
				if key, ok = unescape(raw); !ok {
					return false
				}
			}
			s.ws()
			if s.peek() != ':' {
				return false
			}
			s.i++
			s.ws()
			start := s.i
			if !s.value(1) {
				return false
			}
			if !fn(key, s.b[start:s.i]) {
				return false
			}
			s.ws()
			if s.peek() == ',' {
				s.i++
				continue
			}
			if s.peek() == '}' {
				s.i++
				break
			}
			return false
		}
	}
	s.ws()
	return s.i == len(s.b)
}

// jsonString returns the unescaped contents of a string value, or false
// when val is not a string. Only escaped strings allocate.
func jsonString(val []byte) ([]byte, bool) {
	if len(val) < 2 || val[0] != '"' {
		return nil, false
	}
	raw := val[1 : len(val)-1]
	for _, c := range raw {
		if c == '\\' {
			return unescape(raw)
		}
	}
	return raw, true
}

// eachArrayString calls fn with each element of the array val, which must
// hold only strings. Returns false when val is not such an array.
func eachArrayString(val []byte, fn func(v []byte) bool) bool {
	s := jscan{b: val}
	if s.peek() != '[' {
		return false
	}
	s.i++
	s.ws()
	if s.peek() == ']' {
		return true
	}
	for {
		s.ws()
		start := s.i
		if _, _, ok := s.str(); !ok {
			return false
		}
		v, ok := jsonString(s.b[start:s.i])
		if !ok || !fn(v) {
			return false
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			return true
		default:
			return false
		}
	}
}

// jsonNumericDate reads an RFC 7519 NumericDate (seconds, possibly with a
// fraction, which is truncated) into Unix seconds.
func jsonNumericDate(val []byte) (int64, bool) {
	if len(val) == 0 {
		return 0, false
	}
	simple := len(val) <= 18
	for i, c := range val {
		if !(c >= '0' && c <= '9' || c == '-' && i == 0) {
			simple = false
			break
		}
	}
	if simple {
		neg := val[0] == '-'
		d := val
		if neg {
			d = d[1:]
		}
		if len(d) == 0 {
			return 0, false
		}
		var n int64
		for _, c := range d {
			n = n*10 + int64(c-'0')
		}
		if neg {
			n = -n
		}
		return n, true
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
