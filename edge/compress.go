package edge

import (
	"bytes"
	"unsafe"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/portico-gw/portico/parser"
)

// Response compression (route `compress`): the upstream's body is encoded
// on the loop as it streams, one compressor per response, flushed at the
// end of every upstream read so a streamed response (server-sent events, a
// long poll) is never held back waiting for more input.

const (
	encIdentity uint8 = iota
	encGzip
	encZstd
)

var encodingNames = [...]string{encIdentity: "identity", encGzip: "gzip", encZstd: "zstd"}

const (
	// minCompressLength: below this a known-length body is sent as is; the
	// coding's framing would eat what it saves.
	minCompressLength = 256
	// maxCompressorsPerLoop bounds the memory held by encoders (about
	// 0.6-0.8 MiB each, measured): a response that finds none free goes out
	// uncompressed rather than waiting. An encoder is held only while its
	// response streams; most API responses end within the event that
	// began them, so 16 in flight per loop is a lot of concurrency.
	maxCompressorsPerLoop = 16
	// zstdWindow keeps an encoder's history (and the client's decoder
	// memory) small; gzip's is 32 KiB.
	zstdWindow = 64 << 10
)

func encodingID(name string) uint8 {
	switch name {
	case "gzip":
		return encGzip
	case "zstd":
		return encZstd
	}
	return encIdentity
}

// chooseEncoding picks the coding for a response: among the route's codings
// (in its preference order), the one the client accepts with the highest
// q-value; ties go to the route's order. No Accept-Encoding, or none
// acceptable, is identity.
func chooseEncoding(offer []uint8, fields []parser.Field) uint8 {
	best, bestQ := encIdentity, 0
	for _, enc := range offer {
		q := -1 // not mentioned
		star := -1
		for i := range fields {
			f := &fields[i]
			if !parser.EqualFoldString(f.Name, "Accept-Encoding") {
				continue
			}
			forEachCoding(f.Value, func(name []byte, cq int) {
				switch {
				case parser.EqualFoldString(name, encodingNames[enc]):
					q = max(q, cq)
				case len(name) == 1 && name[0] == '*':
					star = max(star, cq)
				}
			})
		}
		if q < 0 {
			q = star // "*" covers codings not named explicitly
		}
		if q > bestQ {
			best, bestQ = enc, q
		}
	}
	return best
}

// forEachCoding calls fn with each coding of an Accept-Encoding value and
// its q-value in thousandths (1000 when absent; 0 when malformed, which
// refuses the coding rather than guessing).
func forEachCoding(v []byte, fn func(name []byte, q int)) {
	for len(v) > 0 {
		var elem []byte
		elem, v = cutByte(v, ',')
		name, params := cutByte(elem, ';')
		name = bytes.TrimSpace(name)
		if len(name) == 0 {
			continue
		}
		fn(name, parseQ(params))
	}
}

// cutByte splits b at the first sep; rest is nil when there is none.
func cutByte(b []byte, sep byte) (before, rest []byte) {
	if i := bytes.IndexByte(b, sep); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// parseQ reads "q=0.8" among a coding's parameters (RFC 9110 §12.4.2).
func parseQ(params []byte) int {
	for len(params) > 0 {
		var p []byte
		p, params = cutByte(params, ';')
		p = bytes.TrimSpace(p)
		if len(p) < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=' {
			continue
		}
		return qvalue(bytes.TrimSpace(p[2:]))
	}
	return 1000
}

// qvalue parses "0", "0.5", "1.000" into thousandths; anything else is 0.
func qvalue(b []byte) int {
	if len(b) == 0 || len(b) > 5 || (b[0] != '0' && b[0] != '1') {
		return 0
	}
	q := int(b[0]-'0') * 1000
	if len(b) == 1 {
		return q
	}
	if b[1] != '.' {
		return 0
	}
	scale := 100
	for _, c := range b[2:] {
		if c < '0' || c > '9' || (b[0] == '1' && c != '0') {
			return 0 // "1" allows only zeros after the point
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	return q
}

// compressible says whether an upstream response may be encoded: it is not
// encoded already, not a range, not marked no-transform, not vouched for by
// a digest of its bytes, of a textual type, and not too small to gain.
// The fields are judged as the client will get them, after the route's
// response_headers (ops, nil for none): a route that sets Cache-Control:
// no-transform or Content-Type is obeyed.
func compressible(r *parser.Response, ops *headerOps) bool {
	if r.Status == 206 || r.Status == 204 || r.Status == 304 || r.Status < 200 {
		return false
	}
	if r.ContentLength >= 0 && r.ContentLength < minCompressLength {
		return false
	}
	ct, ok := sentValue(r.Fields, ops, "Content-Type")
	if !ok || !compressibleType(ct) {
		return false
	}
	return !forbidsEncoding(r.Fields, ops)
}

// notModifiedOfEncoded says whether a 304 on a compress route stands for a
// 200 that this client would have got encoded, so that it carries the weak
// ETag and the Vary that 200 had (RFC 9110 §15.4.5). Only a 304 that says
// its type can tell (most leave Content-Type out; Go's net/http removes
// it): one that does not passes as it is, since weakening the validator
// of a 200 that was never encoded (an image, a body too small to gain)
// would stop caches' If-Range from matching it.
func notModifiedOfEncoded(r *parser.Response, ops *headerOps) bool {
	if r.Status != 304 {
		return false
	}
	if ct, ok := sentValue(r.Fields, ops, "Content-Type"); !ok || !compressibleType(ct) {
		return false
	}
	return !forbidsEncoding(r.Fields, ops)
}

// forbidsEncoding: a field of the upstream's or the route's says the body
// must pass as it is (already encoded, a range, no-transform, or a digest
// of its bytes that encoding would falsify).
func forbidsEncoding(fields []parser.Field, ops *headerOps) bool {
	forbids := func(name, value []byte) bool {
		switch {
		case parser.EqualFoldString(name, "Content-Encoding"),
			parser.EqualFoldString(name, "Content-Range"),
			digestField(name):
			return true
		case parser.EqualFoldString(name, "Cache-Control"):
			return parser.TokenListContains(value, "no-transform")
		}
		return false
	}
	// The upstream's own fields count even where the route removes them:
	// its body is encoded, or a range, whatever the route says of it.
	return anyField(fields, ops, false, forbids)
}

// digestField names a field that carries a digest of the content or
// representation bytes (RFC 9530, and RFC 1864's obsolete Content-MD5):
// encoding the body makes it false.
func digestField(name []byte) bool {
	return parser.EqualFoldString(name, "Content-Digest") || parser.EqualFoldString(name, "Repr-Digest") ||
		parser.EqualFoldString(name, "Content-MD5")
}

// anySent reports whether f holds for a field the client will get: the
// upstream's fields that ops leave (opsDrop), then the ops' set and add.
func anySent(fields []parser.Field, ops *headerOps, f func(name, value []byte) bool) bool {
	return anyField(fields, ops, true, f)
}

// anyField reports whether f holds for one of the upstream's fields (those
// ops leave, when dropped is true) or the ops' set and add.
func anyField(fields []parser.Field, ops *headerOps, dropped bool, f func(name, value []byte) bool) bool {
	for i := range fields {
		if (ops == nil || !dropped || !opsDrop(fields[i].Name, ops)) && f(fields[i].Name, fields[i].Value) {
			return true
		}
	}
	if ops == nil {
		return false
	}
	for _, l := range [2][]headerOp{ops.set, ops.add} {
		for i := range l {
			if f(viewBytes(l[i].name), viewBytes(l[i].value)) {
				return true
			}
		}
	}
	return false
}

// viewBytes views s as bytes, never to be written (the ops' strings are
// compared on the hot path without a copy).
func viewBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// sentValue returns the first value of name the client will get.
func sentValue(fields []parser.Field, ops *headerOps, name string) (v []byte, ok bool) {
	anySent(fields, ops, func(n, value []byte) bool {
		if parser.EqualFoldString(n, name) {
			v, ok = value, true
		}
		return ok
	})
	return v, ok
}

// compressibleType: text, and the structured-text application types that
// APIs and web front ends serve. Images, video, archives and fonts are
// compressed already or gain little.
func compressibleType(ct []byte) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	if hasPrefixFold(ct, "text/") {
		return true
	}
	for _, t := range [...]string{"application/json", "application/javascript", "application/x-javascript",
		"application/ecmascript", "application/xml", "application/xhtml+xml", "application/x-ndjson",
		"application/graphql-response+json", "image/svg+xml", "application/wasm"} {
		if parser.EqualFoldString(ct, t) {
			return true
		}
	}
	return hasSuffixFold(ct, "+json") || hasSuffixFold(ct, "+xml")
}

func hasSuffixFold(b []byte, suffix string) bool {
	return len(b) >= len(suffix) && parser.EqualFoldString(b[len(b)-len(suffix):], suffix)
}

// varyListsAcceptEncoding: the response as the client will get it (after
// the route's response_headers, ops) already varies on Accept-Encoding (or
// on everything), so no Vary needs adding.
func varyListsAcceptEncoding(fields []parser.Field, ops *headerOps) bool {
	return anySent(fields, ops, func(name, value []byte) bool {
		return parser.EqualFoldString(name, "Vary") &&
			(parser.TokenListContains(value, "Accept-Encoding") || parser.TokenListContains(value, "*"))
	})
}

// compressor is one response's encoder; its output collects in out until
// the next flush frames it for the client.
type compressor struct {
	enc uint8
	gz  *gzip.Writer
	zs  *zstd.Encoder
	out []byte
}

// Write is the encoders' sink.
func (z *compressor) Write(p []byte) (int, error) {
	z.out = append(z.out, p...)
	return len(p), nil
}

func newCompressor(enc uint8) *compressor {
	z := &compressor{enc: enc}
	switch enc {
	case encGzip:
		// Level 1: at a gateway the CPU per request matters more than the
		// last bytes (nginx's gzip_comp_level default).
		z.gz, _ = gzip.NewWriterLevel(z, gzip.BestSpeed)
	case encZstd:
		z.zs, _ = zstd.NewWriter(z, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithWindowSize(zstdWindow), zstd.WithLowerEncoderMem(true))
	}
	return z
}

func (z *compressor) reset() {
	z.out = z.out[:0]
	switch z.enc {
	case encGzip:
		z.gz.Reset(z)
	case encZstd:
		z.zs.Reset(z)
	}
}

// write encodes p; its output appears in out by the next flush or finish.
func (z *compressor) write(p []byte) {
	if z.enc == encGzip {
		_, _ = z.gz.Write(p)
	} else {
		_, _ = z.zs.Write(p)
	}
}

// flush makes everything written so far decodable by the client.
func (z *compressor) flush() {
	if z.enc == encGzip {
		_ = z.gz.Flush()
	} else {
		_ = z.zs.Flush()
	}
}

// finish ends the encoded stream (trailer, checksum).
func (z *compressor) finish() {
	if z.enc == encGzip {
		_ = z.gz.Close()
	} else {
		_ = z.zs.Close()
	}
}

// compressors is a loop's free list of encoders, one list per coding,
// bounded by maxCompressorsPerLoop in use plus free.
type compressors struct {
	free  [3][]*compressor
	inUse int
}

func (cs *compressors) take(enc uint8) *compressor {
	if enc == encIdentity {
		return nil
	}
	if n := len(cs.free[enc]); n > 0 {
		z := cs.free[enc][n-1]
		cs.free[enc] = cs.free[enc][:n-1]
		cs.inUse++
		z.reset()
		return z
	}
	if cs.inUse+cs.idle() >= maxCompressorsPerLoop {
		// Encoders of the other coding sit idle: drop one to make room.
		if !cs.dropIdle() {
			return nil
		}
	}
	cs.inUse++
	return newCompressor(enc)
}

func (cs *compressors) put(z *compressor) {
	cs.inUse--
	if cap(z.out) > 64<<10 {
		z.out = nil // one huge flush must not pin its buffer forever
	}
	cs.free[z.enc] = append(cs.free[z.enc], z)
}

func (cs *compressors) idle() int {
	return len(cs.free[encGzip]) + len(cs.free[encZstd])
}

func (cs *compressors) dropIdle() bool {
	for enc := range cs.free {
		if n := len(cs.free[enc]); n > 0 {
			cs.free[enc][n-1] = nil
			cs.free[enc] = cs.free[enc][:n-1]
			return true
		}
	}
	return false
}
