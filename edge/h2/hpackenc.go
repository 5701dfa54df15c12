package h2

import (
	"unsafe"

	"golang.org/x/net/http2/hpack"
)

// Response header blocks are encoded here rather than with hpack.Encoder:
// hpack.Encoder keeps the strings it indexes in its dynamic table, so it
// would need a string copy (an allocation) per field. We never index:
// every field is either a static-table hit or a literal "without indexing",
// and the first block on the connection starts with a dynamic table size
// update to 0, which is valid under any SETTINGS_HEADER_TABLE_SIZE the peer
// sends, so its table-size settings need no further handling.

// staticNames maps a lowercase field name to its first static-table index
// (RFC 7541 Appendix A).
var staticNames = map[string]uint8{
	":authority": 1, ":method": 2, ":path": 4, ":scheme": 6, ":status": 8,
	"accept-charset": 15, "accept-encoding": 16, "accept-language": 17,
	"accept-ranges": 18, "accept": 19, "access-control-allow-origin": 20,
	"age": 21, "allow": 22, "authorization": 23, "cache-control": 24,
	"content-disposition": 25, "content-encoding": 26, "content-language": 27,
	"content-length": 28, "content-location": 29, "content-range": 30,
	"content-type": 31, "cookie": 32, "date": 33, "etag": 34, "expect": 35,
	"expires": 36, "from": 37, "host": 38, "if-match": 39,
	"if-modified-since": 40, "if-none-match": 41, "if-range": 42,
	"if-unmodified-since": 43, "last-modified": 44, "link": 45, "location": 46,
	"max-forwards": 47, "proxy-authenticate": 48, "proxy-authorization": 49,
	"range": 50, "referer": 51, "refresh": 52, "retry-after": 53, "server": 54,
	"set-cookie": 55, "strict-transport-security": 56, "transfer-encoding": 57,
	"user-agent": 58, "vary": 59, "via": 60, "www-authenticate": 61,
}

// b2s views b as a string without copying; the string must not outlive b
// and must not be retained (hpack's Huffman helpers only read it).
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// appendHpackInt appends v as an HPACK integer with an n-bit prefix whose
// high bits are first (RFC 7541 §5.1).
func appendHpackInt(dst []byte, n uint8, first byte, v uint64) []byte {
	limit := uint64(1)<<n - 1
	if v < limit {
		return append(dst, first|byte(v))
	}
	dst = append(dst, first|byte(limit))
	v -= limit
	for v >= 128 {
		dst = append(dst, byte(v&0x7f)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// appendHpackString appends s as an HPACK string literal, Huffman-coded
// when that is shorter (RFC 7541 §5.2).
func appendHpackString(dst, s []byte) []byte {
	if hl := hpack.HuffmanEncodeLength(b2s(s)); hl < uint64(len(s)) {
		dst = appendHpackInt(dst, 7, 0x80, hl)
		return hpack.AppendHuffmanString(dst, b2s(s))
	}
	dst = appendHpackInt(dst, 7, 0, uint64(len(s)))
	return append(dst, s...)
}

// appendStatus appends :status, fully indexed when the static table has it.
func appendStatus(dst []byte, status int) []byte {
	switch status {
	case 200:
		return append(dst, 0x80|8)
	case 204:
		return append(dst, 0x80|9)
	case 206:
		return append(dst, 0x80|10)
	case 304:
		return append(dst, 0x80|11)
	case 400:
		return append(dst, 0x80|12)
	case 404:
		return append(dst, 0x80|13)
	case 500:
		return append(dst, 0x80|14)
	}
	// Literal without indexing, name index 8 (:status), 3-digit raw value.
	return append(dst, 0x08, 3, byte('0'+status/100), byte('0'+status/10%10), byte('0'+status%10))
}

// HeaderEncoder appends response header or trailer fields to the block
// being built by Stream.WriteHeadersFunc / WriteTrailersFunc. It belongs to
// the connection and is valid only inside that callback.
type HeaderEncoder struct {
	c *ServerConn
}

// Add appends one field. The name is lowercased (HTTP/2 requires it);
// connection-specific fields (Connection, Keep-Alive, Proxy-Connection,
// Transfer-Encoding, Upgrade, TE), pseudo-fields, empty names and values
// containing NUL, CR or LF are dropped, since forwarding them would make
// the response malformed (RFC 9113 §8.2.2).
func (e *HeaderEncoder) Add(name, value []byte) {
	c := e.c
	if len(name) == 0 || name[0] == ':' || !validFieldValue(value) {
		return
	}
	lname := name
	for _, b := range name {
		if 'A' <= b && b <= 'Z' {
			c.lower = append(c.lower[:0], name...)
			for i, b := range c.lower {
				if 'A' <= b && b <= 'Z' {
					c.lower[i] = b + ('a' - 'A')
				}
			}
			lname = c.lower
			break
		}
	}
	if isConnectionSpecific(lname) {
		return
	}
	if idx, ok := staticNames[string(lname)]; ok {
		c.hbuf = appendHpackInt(c.hbuf, 4, 0, uint64(idx))
	} else {
		c.hbuf = append(c.hbuf, 0)
		c.hbuf = appendHpackString(c.hbuf, lname)
	}
	c.hbuf = appendHpackString(c.hbuf, value)
}

// AddString is Add for string arguments (no copy is made).
func (e *HeaderEncoder) AddString(name, value string) {
	e.Add(unsafe.Slice(unsafe.StringData(name), len(name)), unsafe.Slice(unsafe.StringData(value), len(value)))
}
