package h2

import (
	"iter"

	"golang.org/x/net/http2"
)

// span locates bytes in a stream's arena.
type span struct{ off, n uint32 }

type field struct{ name, value span }

// Stream is one request/response exchange on a ServerConn. The connection
// owns it and reuses the struct for a later stream once this one ends, so
// the owner may use a *Stream only from OnRequest until the stream ends for
// it: until its write with endStream=true (or Reset) returns, or until
// OnReset returns. Byte slices returned by the accessors point into the
// stream's arena and stay valid (unchanged) for that same lifetime.
type Stream struct {
	// Data is free for the owner (e.g. its upstream exchange); cleared on reuse.
	Data any

	c  *ServerConn
	id uint32

	open      bool // in c.streams, not yet closed
	delivered bool // OnRequest was called
	reqDone   bool // END_STREAM received
	finalSent bool // final (non-1xx) response HEADERS written
	respDone  bool // END_STREAM written
	blocked   bool // in c.blocked, waiting for OnWritable
	// draining: the response is complete, the request is not; the owner
	// has let go and the rest of the request body is dropped here
	// (Config.MaxDiscardBytes). No Handler callback comes any more.
	draining  bool
	drainPlan bool   // prepareDrain chose draining over RST_STREAM(NO_ERROR)
	status    uint16 // final response status, once written
	malformed bool   // header block being decoded violated RFC 9113 §8
	// resetHere: the RST_STREAM that ends the stream is ours (a stream
	// error the client made), not the client's
	resetHere bool
	// lineTooLong: handed to OnHeadersTooLarge with :method and :path alone over the limit
	lineTooLong bool

	sendWindow    int64 // what we may still send (peer's window for this stream)
	recvWindow    int64 // what the peer may still send us
	unconsumed    int64 // DATA delivered to OnData, not yet Consumed
	credit        int64 // consumed, not yet returned in a WINDOW_UPDATE
	contentLength int64 // -1 when absent
	dataRecv      int64
	discardLeft   int64 // while draining: DATA bytes we still drop before RST_STREAM(NO_ERROR)

	arena  []byte
	fields []field
	held   int // cap of arena and fields as counted in ServerConn.heldHeaders
	ntrail int // index in fields where trailers start; -1 when none

	method, scheme, authority, path, host span
	pseudo                                uint8 // pseudo* bits seen
	sawRegular                            bool
}

const (
	pseudoMethod uint8 = 1 << iota
	pseudoScheme
	pseudoPath
	pseudoAuthority
)

// ResetHere reports, during OnReset, whether the reset is Portico's answer
// to a stream error the client made (a malformed request, a content-length
// its DATA broke, a flow-control violation) rather than the client's own
// RST_STREAM or the connection's end.
func (s *Stream) ResetHere() bool { return s.resetHere }

func (s *Stream) reset() {
	*s = Stream{
		arena:         s.arena[:0],
		fields:        s.fields[:0],
		ntrail:        -1,
		contentLength: -1,
	}
	// Don't let one huge header block pin memory for the connection's life.
	if cap(s.arena) > 8<<10 {
		s.arena = nil
	}
	if cap(s.fields) > 128 {
		s.fields = nil
	}
}

func (s *Stream) bytes(sp span) []byte {
	return s.arena[sp.off : sp.off+sp.n : sp.off+sp.n]
}

func (s *Stream) store(v string) span {
	off := len(s.arena)
	s.arena = append(s.arena, v...)
	return span{uint32(off), uint32(len(v))}
}

// ID returns the stream identifier (odd, client-initiated).
func (s *Stream) ID() uint32 { return s.id }

// Method returns :method.
func (s *Stream) Method() []byte { return s.bytes(s.method) }

// Scheme returns :scheme (empty for CONNECT).
func (s *Stream) Scheme() []byte { return s.bytes(s.scheme) }

// Authority returns :authority, or the Host field when :authority is absent
// (the two must be equal when both are present).
func (s *Stream) Authority() []byte {
	if s.authority.n == 0 {
		return s.bytes(s.host)
	}
	return s.bytes(s.authority)
}

// Path returns :path as sent (not normalised; empty for CONNECT).
func (s *Stream) Path() []byte { return s.bytes(s.path) }

// ContentLength returns the request's content-length, or -1 when absent.
// The connection enforces that DATA adds up to it.
func (s *Stream) ContentLength() int64 { return s.contentLength }

// LineTooLong reports, for a stream given to OnHeadersTooLarge, that
// :method and :path alone, as the HTTP/1.1 request line "METHOD SP path SP
// HTTP/1.1 CRLF", would exceed MaxHeaderBytes: SPEC's 414 case rather than
// 431. False for streams from OnRequest.
func (s *Stream) LineTooLong() bool { return s.lineTooLong }

// EndStream reports whether the request has ended (END_STREAM received):
// at OnRequest it means the request has no body.
func (s *Stream) EndStream() bool { return s.reqDone }

// NumFields returns the number of regular request fields (pseudo-fields
// and trailers excluded). Names are lowercase; cookie may appear several
// times (RFC 9113 §8.2.3: join with "; " when forwarding to HTTP/1.1).
func (s *Stream) NumFields() int {
	if s.ntrail >= 0 {
		return s.ntrail
	}
	return len(s.fields)
}

// Field returns regular request field i (0 <= i < NumFields()).
func (s *Stream) Field(i int) (name, value []byte) {
	f := s.fields[i]
	return s.bytes(f.name), s.bytes(f.value)
}

// Fields iterates the regular request fields.
func (s *Stream) Fields() iter.Seq2[[]byte, []byte] {
	return func(yield func(name, value []byte) bool) {
		for i, n := 0, s.NumFields(); i < n; i++ {
			if !yield(s.Field(i)) {
				return
			}
		}
	}
}

// NumTrailers returns the number of request trailer fields (valid from OnTrailers).
func (s *Stream) NumTrailers() int {
	if s.ntrail < 0 {
		return 0
	}
	return len(s.fields) - s.ntrail
}

// Trailer returns request trailer field i (0 <= i < NumTrailers()).
func (s *Stream) Trailer(i int) (name, value []byte) { return s.Field(s.ntrail + i) }

// Trailers iterates the request trailer fields.
func (s *Stream) Trailers() iter.Seq2[[]byte, []byte] {
	return func(yield func(name, value []byte) bool) {
		for i, n := 0, s.NumTrailers(); i < n; i++ {
			if !yield(s.Trailer(i)) {
				return
			}
		}
	}
}

// Consumed tells the connection that the owner has disposed of n bytes of
// request DATA delivered by OnData (forwarded upstream or dropped). Credit
// goes back to the client in WINDOW_UPDATE frames, batched: per stream once
// half of InitialWindowSize is due, per connection once half of
// ConnWindowSize is due. Not calling it is how a slow upstream slows the
// client down. Data still unconsumed when the stream ends is credited to
// the connection automatically.
func (s *Stream) Consumed(n int) {
	c := s.c
	if c == nil || !s.open || s.draining || n <= 0 {
		return
	}
	m := int64(n)
	if m > s.unconsumed {
		m = s.unconsumed
	}
	s.unconsumed -= m
	s.credit += m
	s.returnCredit()
	c.addConnCredit(m)
}

// returnCredit sends the stream's accumulated credit as a WINDOW_UPDATE
// once it is half of InitialWindowSize (none after the request ended).
func (s *Stream) returnCredit() {
	c := s.c
	if !s.reqDone && s.credit >= int64(c.cfg.InitialWindowSize)/2 && !c.closed {
		c.writeWindowUpdate(s.id, uint32(s.credit))
		s.recvWindow += s.credit
		s.credit = 0
	}
}

// WriteHeaders writes a response header block: status plus fields (each
// [name, value]; see HeaderEncoder.Add for what is dropped). A 1xx status
// is informational and may precede the final one. With endStream the
// response is complete and the stream ends for the owner.
func (s *Stream) WriteHeaders(status int, fields [][2][]byte, endStream bool) error {
	return s.writeHeaders(status, endStream, func(e *HeaderEncoder) {
		for _, f := range fields {
			e.Add(f[0], f[1])
		}
	})
}

// WriteHeadersFunc is WriteHeaders with the fields added by add, so the
// owner can encode straight from its own representation; add must only
// call the encoder's methods.
func (s *Stream) WriteHeadersFunc(status int, endStream bool, add func(e *HeaderEncoder)) error {
	return s.writeHeaders(status, endStream, add)
}

func (s *Stream) writeHeaders(status int, endStream bool, add func(e *HeaderEncoder)) error {
	c := s.c
	if err := s.writable(); err != nil {
		return err
	}
	if s.finalSent {
		return ErrHeadersSent
	}
	if status < 100 || status > 999 || status == 101 {
		return ErrBadStatus
	}
	info := status < 200
	if info && endStream {
		return ErrBadStatus
	}
	c.startBlock()
	c.hbuf = appendStatus(c.hbuf, status)
	if add != nil {
		add(&c.enc)
	}
	if endStream {
		s.status = uint16(status)
		c.prepareDrain(s)
	}
	c.writeHeaderBlock(s.id, c.hbuf, endStream)
	if !info {
		s.finalSent = true
		s.status = uint16(status)
	}
	if endStream {
		c.finishStream(s)
	}
	return nil
}

// WriteTrailers ends the response with a trailer block (fields as in
// WriteHeaders). The stream ends for the owner.
func (s *Stream) WriteTrailers(fields [][2][]byte) error {
	return s.WriteTrailersFunc(func(e *HeaderEncoder) {
		for _, f := range fields {
			e.Add(f[0], f[1])
		}
	})
}

// WriteTrailersFunc is WriteTrailers with the fields added by add.
func (s *Stream) WriteTrailersFunc(add func(e *HeaderEncoder)) error {
	c := s.c
	if err := s.writable(); err != nil {
		return err
	}
	if !s.finalSent {
		return ErrNoHeaders
	}
	c.startBlock()
	if add != nil {
		add(&c.enc)
	}
	c.prepareDrain(s)
	c.writeHeaderBlock(s.id, c.hbuf, true)
	c.finishStream(s)
	return nil
}

// WriteData queues as much of p as the stream and connection send windows,
// the peer's max frame size and MaxPendingOutput allow, and returns how
// much it took (p is copied). When n < len(p) the owner keeps the rest and
// retries from OnWritable. endStream applies only if all of p is taken;
// WriteData(nil, true) ends the response without more data.
func (s *Stream) WriteData(p []byte, endStream bool) (int, error) {
	c := s.c
	if err := s.writable(); err != nil {
		return 0, err
	}
	if !s.finalSent {
		return 0, ErrNoHeaders
	}
	n := 0
	for n < len(p) {
		allowed := min(s.sendWindow, c.connSend, int64(c.cfg.MaxPendingOutput-c.pending()), int64(c.peerMaxFrame))
		if allowed <= 0 {
			if c.pending() >= c.cfg.MaxPendingOutput {
				c.outBlocked = true
			}
			c.block(s)
			return n, nil
		}
		chunk := int(min(allowed, int64(len(p)-n)))
		last := n+chunk == len(p)
		var flags http2.Flags
		if last && endStream {
			flags = http2.FlagDataEndStream
			c.prepareDrain(s)
		}
		c.appendFrameHeader(chunk, http2.FrameData, flags, s.id)
		c.out = append(c.out, p[n:n+chunk]...)
		n += chunk
		s.sendWindow -= int64(chunk)
		c.connSend -= int64(chunk)
		c.stats.DataBytesOut += uint64(chunk)
		c.dataFramesOut++
	}
	if endStream {
		if len(p) == 0 {
			c.prepareDrain(s)
			c.appendFrameHeader(0, http2.FrameData, http2.FlagDataEndStream, s.id)
			c.dataFramesOut++
		}
		c.finishStream(s)
	}
	return n, nil
}

// Reset ends the stream with RST_STREAM(code) (e.g. CANCEL or INTERNAL_ERROR
// when the upstream exchange failed mid-response). OnReset is not called.
func (s *Stream) Reset(code http2.ErrCode) {
	c := s.c
	if c == nil || !s.open || s.draining {
		return
	}
	if !c.closed {
		c.writeRST(s.id, code)
	}
	c.closeStream(s)
}

func (s *Stream) writable() error {
	if s.c == nil || !s.open || s.respDone {
		return ErrStreamClosed
	}
	if s.c.closed {
		return ErrConnClosed
	}
	return nil
}
