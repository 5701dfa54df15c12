package h2

import (
	"unsafe"

	"golang.org/x/net/http2/hpack"
)

// Response header blocks are encoded here rather than with hpack.Encoder:
// hpack.Encoder copies every string it indexes (an allocation per field)
// and indexes every field, x-request-id and set-cookie included. Here a
// field enters the dynamic table only when its name is one whose values
// repeat from answer to answer (server, content-type, date, cache-control,
// ...; nameInfo): after the first answer on a connection those cost
// one byte each instead of a Huffman-coded literal. Every other field is a
// static-table hit or a literal "without indexing", so a per-request value
// never churns the table and a secret never enters it. The table lives in
// a fixed arena inside the connection (encTable): nothing allocates.

// encTableMax is the largest dynamic table the encoder uses (RFC 7541
// §4.2): room for a dozen repeated fields, and a small fixed arena per
// connection. The peer's SETTINGS_HEADER_TABLE_SIZE can only lower it.
const encTableMax = 1024

// encEntryMax bounds the entries: each costs at least 32 (RFC 7541 §4.1).
const encEntryMax = encTableMax / 32

type encEntry struct{ off, nameLen, valueLen uint16 }

// encTable is the encoder's view of the peer's dynamic table. Entries are
// a ring, oldest first; their bytes are appended to arena and compacted
// when the arena's end is reached (live bytes are under encTableMax, so
// after compaction the next entry always fits).
type encTable struct {
	arena [2 * encTableMax]byte
	tail  int // end of the bytes in use
	ents  [encEntryMax]encEntry
	first int // ring index of the oldest entry
	n     int
	size  int // RFC 7541 §4.1 size of the entries
	max   int // the size the peer was last told (dynamic table size update)
}

func (t *encTable) at(i int) *encEntry { return &t.ents[(t.first+i)%encEntryMax] }

// find returns the HPACK index (62 for the newest entry) of name: value,
// and when there is none, of the newest entry named name (0 for neither).
func (t *encTable) find(name, value []byte) (full, nameOnly int) {
	for i := t.n - 1; i >= 0; i-- {
		e := t.at(i)
		if int(e.nameLen) != len(name) || string(t.arena[e.off:int(e.off)+len(name)]) != string(name) {
			continue
		}
		idx := hpackStaticLen + t.n - i
		v := int(e.off) + len(name)
		if int(e.valueLen) == len(value) && string(t.arena[v:v+len(value)]) == string(value) {
			return idx, 0
		}
		if nameOnly == 0 {
			nameOnly = idx
		}
	}
	return 0, nameOnly
}

// add inserts name: value as the newest entry, evicting the oldest ones
// the new size does not leave room for (the caller checked it fits max).
func (t *encTable) add(name, value []byte) {
	need := len(name) + len(value) + 32
	// Names are never empty, so an entry is over 32 and a table within
	// encTableMax holds fewer than encEntryMax: the ring cannot overflow.
	for t.n > 0 && t.size+need > t.max {
		t.evictOldest()
	}
	if t.tail+len(name)+len(value) > len(t.arena) {
		t.compact()
	}
	off := t.tail
	t.tail += copy(t.arena[off:], name)
	t.tail += copy(t.arena[t.tail:], value)
	*t.at(t.n) = encEntry{off: uint16(off), nameLen: uint16(len(name)), valueLen: uint16(len(value))}
	t.n++
	t.size += need
}

func (t *encTable) evictOldest() {
	e := t.at(0)
	t.size -= int(e.nameLen) + int(e.valueLen) + 32
	t.first = (t.first + 1) % encEntryMax
	t.n--
	if t.n == 0 {
		t.tail = 0
	}
}

// compact moves the live entries' bytes to the arena's start, in order.
func (t *encTable) compact() {
	w := 0
	for i := 0; i < t.n; i++ {
		e := t.at(i)
		l := int(e.nameLen) + int(e.valueLen)
		copy(t.arena[w:], t.arena[e.off:int(e.off)+l])
		e.off = uint16(w)
		w += l
	}
	t.tail = w
}

// resize evicts down to max (a dynamic table size update the caller sends).
func (t *encTable) resize(max int) {
	t.max = max
	for t.n > 0 && t.size > max {
		t.evictOldest()
	}
}

// hpackStaticLen is the number of static-table entries (RFC 7541 App. A).
const hpackStaticLen = 61

// nameInfo returns a lowercase field name's first static-table index (0
// when it has none) and whether its values are worth indexing: fields
// origins send with the same value on every answer, or for a second at a
// time (date). Request ids, lengths, cookies and validators are not, nor
// content-security-policy, which often carries a per-answer nonce.
func nameInfo(name []byte) (static uint8, indexable bool) {
	switch string(name) {
	case "accept-ranges":
		return 18, true
	case "access-control-allow-origin":
		return 20, true
	case "age":
		return 21, false
	case "allow":
		return 22, true
	case "cache-control":
		return 24, true
	case "content-disposition":
		return 25, false
	case "content-encoding":
		return 26, true
	case "content-language":
		return 27, true
	case "content-length":
		return 28, false
	case "content-location":
		return 29, false
	case "content-range":
		return 30, false
	case "content-type":
		return 31, true
	case "date":
		return 33, true
	case "etag":
		return 34, false
	case "expires":
		return 36, true
	case "last-modified":
		return 44, false
	case "link":
		return 45, false
	case "location":
		return 46, false
	case "proxy-authenticate":
		return 48, false
	case "retry-after":
		return 53, false
	case "server":
		return 54, true
	case "set-cookie":
		return 55, false
	case "strict-transport-security":
		return 56, true
	case "vary":
		return 59, true
	case "via":
		return 60, true
	case "www-authenticate":
		return 61, false
	case "access-control-allow-credentials", "access-control-allow-headers", "access-control-allow-methods",
		"access-control-expose-headers", "access-control-max-age", "alt-svc", "pragma", "referrer-policy", "x-content-type-options", "x-frame-options", "x-xss-protection":
		return 0, true
	// Request-only names (a trailer may carry anything).
	case "accept-charset":
		return 15, false
	case "accept-encoding":
		return 16, false
	case "accept-language":
		return 17, false
	case "accept":
		return 19, false
	case "authorization":
		return 23, false
	case "cookie":
		return 32, false
	case "expect":
		return 35, false
	case "from":
		return 37, false
	case "host":
		return 38, false
	case "if-match":
		return 39, false
	case "if-modified-since":
		return 40, false
	case "if-none-match":
		return 41, false
	case "if-range":
		return 42, false
	case "if-unmodified-since":
		return 43, false
	case "max-forwards":
		return 47, false
	case "proxy-authorization":
		return 49, false
	case "range":
		return 50, false
	case "referer":
		return 51, false
	case "refresh":
		return 52, false
	case "user-agent":
		return 58, false
	}
	return 0, false
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
	return appendHpackRaw(dst, s)
}

// appendHpackRaw appends s as an HPACK string literal without Huffman
// coding.
func appendHpackRaw(dst, s []byte) []byte {
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
	if len(name) == 0 || name[0] == ':' {
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
	static, indexable := nameInfo(lname)
	if t := &c.tbl; indexable && len(lname)+len(value)+32 <= t.max {
		full, nameOnly := t.find(lname, value)
		if full > 0 { // the entry's value was checked when it joined
			c.hbuf = appendHpackInt(c.hbuf, 7, 0x80, uint64(full))
			return
		}
		if !validFieldValue(value) {
			return
		}
		// The name index refers to the table before this entry joins it.
		if static > 0 {
			nameOnly = int(static)
		}
		c.hbuf = appendLiteral(c.hbuf, true, nameOnly, lname, value)
		t.add(lname, value)
		return
	}
	if !validFieldValue(value) {
		return
	}
	c.hbuf = appendLiteral(c.hbuf, false, int(static), lname, value)
}

// appendLiteral appends a literal field (RFC 7541 §6.2), its name by index
// when nameIdx is not 0. With incremental indexing it is sent once per
// connection, so Huffman-coded when shorter; without, it is sent anew on
// every answer, so not Huffman-coded (a request id would cost about 100 ns
// to save 10 bytes), as HAProxy does for all fields.
func appendLiteral(dst []byte, indexing bool, nameIdx int, name, value []byte) []byte {
	prefix, first := uint8(4), byte(0)
	if indexing {
		prefix, first = 6, 0x40
	}
	if nameIdx > 0 {
		dst = appendHpackInt(dst, prefix, first, uint64(nameIdx))
	} else {
		dst = appendLiteralString(append(dst, first), name, indexing)
	}
	return appendLiteralString(dst, value, indexing)
}

func appendLiteralString(dst, s []byte, huffman bool) []byte {
	if huffman {
		return appendHpackString(dst, s)
	}
	return appendHpackRaw(dst, s)
}

// AddString is Add for string arguments (no copy is made).
func (e *HeaderEncoder) AddString(name, value string) {
	e.Add(unsafe.Slice(unsafe.StringData(name), len(name)), unsafe.Slice(unsafe.StringData(value), len(value)))
}
