package h2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// ClientPreface is what an HTTP/2 client sends first (RFC 9113 §3.4).
const ClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// goAwayPing is the opaque data of the PING that ends phase one of a
// graceful GOAWAY: its ACK proves the client has seen the first GOAWAY.
var goAwayPing = [8]byte{'p', 'o', 'r', 't', 'i', 'c', 'o', 1}

// IsPreface reports whether b starts with the HTTP/2 client preface, for
// h2c prior-knowledge detection on a port shared with HTTP/1.1. needMore is
// true while b is a strict prefix of the preface (wait for more bytes).
func IsPreface(b []byte) (isH2, needMore bool) {
	if len(b) < len(ClientPreface) {
		return false, string(b) == ClientPreface[:len(b)]
	}
	return string(b[:len(ClientPreface)]) == ClientPreface, false
}

// Handler receives a connection's stream events. Every method is called
// synchronously from Feed (OnWritable also from ConsumeOutput, OnReset
// also from Close) on the owner's goroutine; none may block. A handler may
// call any Stream or ServerConn method except Feed from inside a callback.
type Handler interface {
	// OnRequest: a request header block is complete and valid. s.EndStream()
	// tells whether a body follows.
	OnRequest(s *Stream)
	// OnData: request body bytes; data is valid only during the call. The
	// owner calls s.Consumed once it has disposed of them. endStream marks
	// the end of the request (data may then be empty). It keeps coming
	// after an early answer until that answer's END_STREAM is written:
	// one waiting for window is not yet complete here, and the owner
	// holding its rest must drop such data, not answer again.
	OnData(s *Stream, data []byte, endStream bool)
	// OnTrailers: the request ended with a trailer block (s.Trailers()).
	OnTrailers(s *Stream)
	// OnReset: the stream ended abnormally (client RST_STREAM, a stream
	// error, or connection teardown); cancel its upstream exchange. s must
	// not be used after this returns.
	OnReset(s *Stream, code http2.ErrCode)
	// OnWritable: send credit (window or output space) opened after a
	// WriteData returned short; retry the rest.
	OnWritable(s *Stream)
}

// HeadersTooLargeHandler is an optional extension of Handler. Without it
// the connection answers an over-size request header block itself with a
// bare 431 (or 414, see Stream.LineTooLong) HEADERS frame.
type HeadersTooLargeHandler interface {
	// OnHeadersTooLarge: the header block opening stream s was over
	// MaxHeaderBytes (Config.MaxHeaderBytes explains the policy). The
	// owner answers it like a request (WriteHeaders/WriteData, e.g. a 431)
	// or Resets it. s holds only what was decoded before the limit, not
	// validated: Method, Path, Authority and Fields may be empty or
	// partial. s.EndStream() tells whether request DATA may still come
	// (it reaches OnData as usual). The stream was delivered: OnReset
	// applies to it as to one from OnRequest. When the block was past the
	// hard caps the connection ends with GOAWAY(ENHANCE_YOUR_CALM) as soon
	// as this returns, so the owner must answer within the call.
	OnHeadersTooLarge(s *Stream)
}

// Stats are counters of one connection.
type Stats struct {
	StreamsOpened   uint64 // streams delivered via OnRequest or OnHeadersTooLarge
	StreamsRefused  uint64 // REFUSED_STREAM (over MaxConcurrentStreams)
	ResetsReceived  uint64 // client RST_STREAM on an open stream
	ResetsSent      uint64 // RST_STREAM frames written
	HeadersTooLarge uint64 // request header blocks over MaxHeaderBytes on new streams (431/414)
	DiscardedBytes  uint64 // request DATA dropped after early complete responses (MaxDiscardBytes)
	DataBytesIn     uint64
	DataBytesOut    uint64
	FramesIn        uint64
	Active          int // streams the owner holds now (Draining excluded)
	Draining        int // streams answered, still dropping their request body
}

// floodCounter counts events in a fixed window.
type floodCounter struct {
	start  time.Time
	count  int
	max    int
	opened int // streams the client opened in the window (resets only)
}

// ServerConn is the server side of one HTTP/2 connection, without I/O: the
// owner feeds it received bytes and drains the bytes it wants sent. It is
// not safe for concurrent use; all calls come from the owner's goroutine.
type ServerConn struct {
	// Immutable after NewServerConn.
	cfg Config
	h   Handler

	// Input.
	rd          bytes.Reader
	fr          *http2.Framer
	dec         *hpack.Decoder
	prefaceDone bool
	sawSettings bool

	// Header block being decoded (HEADERS + CONTINUATION).
	hdrID        uint32  // 0: none in progress
	hdrTarget    *Stream // nil: decode only to keep HPACK state, then discard
	hdrTrailers  bool
	hdrEndStream bool
	hdrEncBytes  int
	hdrDecBytes  int
	hdrTooLarge  bool
	hdrOverConn  bool          // storing the block would pass MaxHeaderBytesPerConn
	hdrStored    int           // bytes the block stores (as Stream.held counts them)
	heldHeaders  int           // header storage held by open streams (Stream.held)
	hdrPathLen   int           // length of :path when it was decoded (stored or not)
	hdrRSTCode   http2.ErrCode // when hdrHasRST: reset the stream after decoding
	hdrHasRST    bool
	hdrIsNew     bool // the block opens a new stream

	// Streams.
	streams     map[uint32]*Stream
	free        []*Stream
	maxClientID uint32
	active      int // open streams, draining ones included (they hold a concurrency slot)
	draining    int // open streams in the draining state
	total       uint32
	blocksDone  uint64    // header blocks completed (HeaderBlocks)
	recentRST   []idRange // ids we reset lately: late frames on them are ignored (recordReset)
	recentIdx   int
	// Ids of streams that were opened and have closed lately: HEADERS on
	// one is STREAM_CLOSED, on a lower id never opened PROTOCOL_ERROR.
	recentClosed [32]uint32
	closedIdx    int

	// Flow control. Windows are int64 so SETTINGS may drive them negative.
	connSend          int64 // what we may still send
	connRecv          int64 // what the peer may still send us
	connCredit        int64 // returned by the owner, not yet sent in WINDOW_UPDATE
	connDebt          int64 // window granted ahead for draining (prepareDrain), kept from future credit
	peerInitialWindow int64
	peerMaxFrame      int
	blocked           []*Stream
	wakeScratch       []*Stream
	waitScratch       []*Stream
	outBlocked        bool

	// Output.
	out              []byte
	outOff           int
	hbuf             []byte // response header block scratch
	lower            []byte // lowercasing scratch
	enc              HeaderEncoder
	tbl              encTable
	peerTableSize    int  // the peer's SETTINGS_HEADER_TABLE_SIZE, at most encTableMax
	tableSizeLow     int  // the smallest it was since the last block
	tableSizeChanged bool // a dynamic table size update is owed
	tableSizeSent    bool // the first one went (the peer's table starts at 4096)

	// Lifecycle.
	goAwayPhase1 bool // GOAWAY(2^31-1) + PING sent, waiting for the ACK
	goAwayFinal  bool // GOAWAY(last id) sent: no new streams
	lastStreamID uint32
	peerGoAway   bool
	closed       bool // connection error or Close: nothing more is sent
	err          error

	resets  floodCounter
	control floodCounter
	stats   Stats

	// WINDOW_UPDATE frames received, and DATA frames sent: a client
	// grants credit for what it receives, so updates far beyond the DATA
	// sent are a flood (updateAllowance).
	windowUpdatesIn uint64
	dataFramesOut   uint64
}

// NewServerConn returns a connection whose Output already holds the server
// preface (SETTINGS and the connection WINDOW_UPDATE): the owner may send
// it before the client preface arrives.
func NewServerConn(cfg Config, h Handler) *ServerConn {
	cfg.setDefaults()
	c := &ServerConn{
		cfg:               cfg,
		h:                 h,
		streams:           make(map[uint32]*Stream, 16),
		connSend:          65535,
		connRecv:          int64(cfg.ConnWindowSize),
		peerInitialWindow: 65535,
		peerMaxFrame:      minMaxFrameSize,
		out:               make([]byte, 0, 4096),
		peerTableSize:     encTableMax,
		tableSizeLow:      encTableMax,
		tableSizeChanged:  true, // the first block sets our size (encTableMax)
	}
	c.enc.c = c
	c.resets.max = cfg.budget(cfg.MaxResetsPerSecond)
	c.control.max = cfg.budget(cfg.MaxControlFramesPerSecond)
	c.fr = http2.NewFramer(nil, &c.rd)
	c.fr.SetMaxReadFrameSize(cfg.MaxFrameSize)
	c.fr.SetReuseFrames()
	c.dec = hpack.NewDecoder(4096, c.onField)
	// Strings up to the encoded-block cap decode, so a request with one
	// long field still gets its 431 on a living connection; past
	// MaxHeaderBytes fields are decoded (and counted, for the bomb check)
	// but not stored, so this bounds transient strings, not storage.
	// Longer strings (Huffman expanding past the cap) fail the decoder,
	// hence the connection (abortHeaderBlock). Decoding the literals of a
	// block already over the limit costs more than skipping them did
	// (about 1.3 ms for 128 KiB of Huffman literals against 50 µs), but a
	// block of references to a large entry, which cost about 2.6 ms with
	// emit off, now ends its connection within one frame: the worst
	// block is cheaper.
	c.dec.SetMaxStringLength(2 * cfg.MaxHeaderBytes)

	// Server preface: our SETTINGS (RFC 9113 §3.4), then open the
	// connection window past the fixed initial 65535.
	n := 4
	if cfg.MaxFrameSize != minMaxFrameSize {
		n++
	}
	c.appendFrameHeader(6*n, http2.FrameSettings, 0, 0)
	c.appendSetting(http2.SettingMaxConcurrentStreams, cfg.MaxConcurrentStreams)
	c.appendSetting(http2.SettingInitialWindowSize, cfg.InitialWindowSize)
	c.appendSetting(http2.SettingMaxHeaderListSize, uint32(cfg.MaxHeaderBytes))
	c.appendSetting(http2.SettingEnablePush, 0)
	if cfg.MaxFrameSize != minMaxFrameSize {
		c.appendSetting(http2.SettingMaxFrameSize, cfg.MaxFrameSize)
	}
	if cfg.ConnWindowSize > 65535 {
		c.writeWindowUpdate(0, cfg.ConnWindowSize-65535)
	}
	return c
}

// Output returns the bytes waiting to be sent. The slice is valid until the
// next call of any ServerConn or Stream method; the owner writes a prefix
// of it to the socket and reports that with ConsumeOutput.
func (c *ServerConn) Output() []byte { return c.out[c.outOff:] }

// ConsumeOutput drops the first n bytes of Output (they were sent). When
// the queue falls to half of MaxPendingOutput, streams that WriteData
// stopped for lack of output space get OnWritable.
func (c *ServerConn) ConsumeOutput(n int) {
	if n <= 0 {
		return
	}
	c.outOff += min(n, len(c.out)-c.outOff)
	if c.outOff == len(c.out) {
		c.out = c.out[:0]
		c.outOff = 0
	}
	if c.outBlocked && c.pending() <= c.cfg.MaxPendingOutput/2 {
		c.outBlocked = false
		c.wake()
	}
}

func (c *ServerConn) pending() int { return len(c.out) - c.outOff }

// outKeepMax is the most capacity the output and header-block buffers keep
// once Trim finds them empty: a burst of large answers (64 streams with 60
// KB heads) grows them to megabytes, which an idle connection must not
// hold for its life.
const outKeepMax = 64 << 10

// streamKeep closed streams stay pooled through a Trim.
const streamKeep = 4

// Trim lets go of the closed streams pooled beyond streamKeep, and of the
// output and header-block buffers when they are empty and larger than
// outKeepMax. The owner calls it now and then, outside
// Feed and Output; busy reports a large output buffer still holding bytes
// (to try again later).
func (c *ServerConn) Trim() (busy bool) {
	// Closed streams kept for reuse hold their header bytes (up to 8 KiB
	// each): 256 streams with 6 KB headers kept 1.5 MiB.
	if len(c.free) > streamKeep {
		clear(c.free[streamKeep:])
		c.free = c.free[:streamKeep]
	}
	if cap(c.out) > outKeepMax {
		if c.pending() == 0 {
			c.out, c.outOff = nil, 0
		} else {
			busy = true
		}
	}
	if cap(c.hbuf) > outKeepMax {
		c.hbuf = nil
	}
	return busy
}

// Stats returns the connection's counters.
// WaitingForWindow reports streams whose owner holds response bytes that
// the client's flow-control window does not let out yet (WriteData
// returned short; OnWritable will come when the client credits more).
func (c *ServerConn) WaitingForWindow() bool { return len(c.blocked) > 0 }

func (c *ServerConn) Stats() Stats {
	st := c.stats
	st.Active = c.active - c.draining
	st.Draining = c.draining
	return st
}

// Active is the number of streams the owner holds now: open streams other
// than those only dropping the rest of a request body after their response
// (Config.MaxDiscardBytes). Those still count against MaxConcurrentStreams
// but not here, so that an owner's idle timeout, which ends them with the
// connection, runs while only they are left.
func (c *ServerConn) Active() int { return c.active - c.draining }

// Opened counts the streams delivered so far (Stats().StreamsOpened).
func (c *ServerConn) Opened() uint64 { return c.stats.StreamsOpened }

// HeaderBlocks counts the header blocks the client completed, trailers
// and refused streams included: the owner's header timeout bounds each
// block, so it starts over when one completes.
func (c *ServerConn) HeaderBlocks() uint64 { return c.blocksDone }

// AwaitingHeaders reports that a header block (or the client preface) is
// half received: the owner bounds how long that may last, as HTTP/1.1's
// header timeout bounds a request head.
func (c *ServerConn) AwaitingHeaders() bool { return c.hdrID != 0 || !c.prefaceDone }

// Done reports that the connection has nothing left to do: after a
// connection error, Close, or our final GOAWAY once no stream is active
// (draining streams are reset with NO_ERROR at that point).
// The owner sends what Output holds, then closes the socket. A client's
// GOAWAY does not make the connection done: the client closes it (frames it
// sends meanwhile, a PING, are still answered), or the owner's idle timeout
// does; closing at once could reset the connection under frames still in
// flight, which the client would see as an error.
func (c *ServerConn) Done() bool {
	return c.closed || (c.goAwayFinal && c.active == 0)
}

// Err returns the connection error that ended the connection, if any.
func (c *ServerConn) Err() error { return c.err }

// GoAway starts draining. graceful: GOAWAY(2^31-1, NO_ERROR) plus a PING now,
// and the final GOAWAY(last stream id) when the PING's ACK arrives (or on a
// second GoAway call, e.g. from the owner's drain timer), so requests that
// were in flight when draining began are still served. Not graceful: the
// final GOAWAY at once. Active streams complete either way; Done turns
// true when the last ends.
func (c *ServerConn) GoAway(graceful bool) {
	if c.closed || c.goAwayFinal {
		return
	}
	if graceful && !c.goAwayPhase1 {
		c.goAwayPhase1 = true
		c.writeGoAway(maxWindow, http2.ErrCodeNo, "")
		c.appendFrameHeader(8, http2.FramePing, 0, 0)
		c.out = append(c.out, goAwayPing[:]...)
		return
	}
	c.goAwayFinal = true
	c.lastStreamID = c.maxClientID
	c.writeGoAway(c.maxClientID, http2.ErrCodeNo, "")
	c.dropDraining()
}

// DeliveredStreams appends the open streams the owner holds (those it got
// through OnRequest or OnHeadersTooLarge) to dst.
func (c *ServerConn) DeliveredStreams(dst []*Stream) []*Stream {
	for _, s := range c.streams {
		if s.open && s.delivered {
			dst = append(dst, s)
		}
	}
	return dst
}

// Close tears the connection down without sending anything more (the
// socket is gone or being closed): every active stream gets OnReset(CANCEL).
func (c *ServerConn) Close() {
	if c.closed {
		return
	}
	c.closed = true
	if c.err == nil {
		c.err = ErrConnClosed
	}
	c.resetAll(http2.ErrCodeCancel)
}

// Feed parses the whole frames at the start of in, the client preface
// first, and returns how many bytes it consumed; a partial frame is left
// for the next call with more bytes appended. It calls the Handler
// synchronously. A non-nil error is a *ConnError (GOAWAY is queued in
// Output) and the connection is finished.
func (c *ServerConn) Feed(in []byte) (consumed int, err error) {
	if c.closed {
		return 0, c.err
	}
	n := 0
	if !c.prefaceDone {
		if len(in) < len(ClientPreface) {
			if string(in) != ClientPreface[:len(in)] {
				return 0, c.connError(http2.ErrCodeProtocol, "bad_preface")
			}
			return 0, nil
		}
		if string(in[:len(ClientPreface)]) != ClientPreface {
			return 0, c.connError(http2.ErrCodeProtocol, "bad_preface")
		}
		c.prefaceDone = true
		n = len(ClientPreface)
	}
	for !c.closed {
		rest := in[n:]
		if len(rest) < 9 {
			break
		}
		length := int(rest[0])<<16 | int(rest[1])<<8 | int(rest[2])
		if length > int(c.cfg.MaxFrameSize) {
			// Checked before waiting for the payload so a huge declared
			// length never makes the owner buffer it.
			return n, c.connError(http2.ErrCodeFrameSize, "frame_too_large")
		}
		if len(rest) < 9+length {
			break
		}
		n += 9 + length
		if err := c.processFrame(rest[:9+length]); err != nil {
			return n, err
		}
	}
	return n, c.errIfClosed()
}

func (c *ServerConn) errIfClosed() error {
	if c.closed {
		return c.err
	}
	return nil
}

func (c *ServerConn) processFrame(b []byte) error {
	c.stats.FramesIn++
	typ := http2.FrameType(b[3])
	if !c.sawSettings {
		// The client preface ends with a SETTINGS frame (RFC 9113 §3.4).
		if typ != http2.FrameSettings || http2.Flags(b[4]).Has(http2.FlagSettingsAck) {
			return c.connError(http2.ErrCodeProtocol, "preface_not_settings")
		}
		c.sawSettings = true
	}
	id := binary.BigEndian.Uint32(b[5:9]) & maxWindow
	flags := http2.Flags(b[4])
	// Header blocks are contiguous (RFC 9113 §6.10).
	if c.hdrID != 0 && (typ != http2.FrameContinuation || id != c.hdrID) {
		return c.connError(http2.ErrCodeProtocol, "header_block_interrupted")
	}
	switch typ {
	case http2.FrameHeaders:
		// HEADERS is parsed here rather than by the Framer, which
		// allocates a HeadersFrame per request; CONTINUATION too, since
		// the Framer's own frame-order check would otherwise see a
		// CONTINUATION without its HEADERS. Ordering is enforced above.
		return c.onHeaders(id, flags, b[9:])
	case http2.FrameContinuation:
		if c.hdrID == 0 {
			return c.connError(http2.ErrCodeProtocol, "unexpected_continuation")
		}
		return c.headerFragment(b[9:], flags.Has(http2.FlagContinuationEndHeaders))
	}
	c.rd.Reset(b)
	f, err := c.fr.ReadFrame()
	if err != nil {
		return c.frameError(typ, binary.BigEndian.Uint32(b[5:9])&maxWindow, err)
	}
	switch f := f.(type) {
	case *http2.DataFrame:
		return c.onData(f)
	case *http2.SettingsFrame:
		return c.onSettings(f)
	case *http2.PingFrame:
		return c.onPing(f)
	case *http2.WindowUpdateFrame:
		return c.onWindowUpdate(f)
	case *http2.RSTStreamFrame:
		return c.onRSTStream(f)
	case *http2.PriorityFrame:
		if err := c.spendControl(); err != nil {
			return err
		}
		// RFC 9113 §5.3.1: a stream cannot depend on itself.
		if f.StreamDep == f.StreamID {
			return c.streamError(f.StreamID, http2.ErrCodeProtocol)
		}
		return nil
	case *http2.GoAwayFrame:
		c.peerGoAway = true
		return nil
	case *http2.PushPromiseFrame:
		return c.connError(http2.ErrCodeProtocol, "client_push_promise")
	default:
		// Unknown and ignored extension frames (RFC 9113 §4.1, §5.5).
		return c.spendControl()
	}
}

// frameError maps a Framer parse error to a connection or stream error.
func (c *ServerConn) frameError(typ http2.FrameType, id uint32, err error) error {
	var ce http2.ConnectionError
	if errors.As(err, &ce) {
		return c.connError(http2.ErrCode(ce), "frame_"+typ.String())
	}
	var se http2.StreamError
	if errors.As(err, &se) {
		// A lost header fragment would desynchronise HPACK; a frame for
		// an idle stream is a connection error (RFC 9113 §5.1).
		if typ == http2.FrameHeaders || typ == http2.FrameContinuation || se.StreamID > c.maxClientID {
			return c.connError(http2.ErrCodeProtocol, "frame_"+typ.String())
		}
		return c.streamError(se.StreamID, se.Code)
	}
	// Short payloads and the like.
	return c.connError(http2.ErrCodeFrameSize, "frame_"+typ.String())
}

func (c *ServerConn) onData(f *http2.DataFrame) error {
	id := f.StreamID
	length := int64(f.Length)
	data := f.Data()
	if length > c.connRecv {
		return c.connError(http2.ErrCodeFlowControl, "conn_window_exceeded")
	}
	c.connRecv -= length
	if id > c.maxClientID {
		return c.connError(http2.ErrCodeProtocol, "data_on_idle_stream")
	}
	s := c.streams[id]
	if s == nil || s.reqDone {
		// Closed or half-closed (remote): give the connection credit back.
		c.addConnCredit(length)
		if s == nil && (c.wasReset(id) || c.ignoredAfterGoAway(id)) {
			// In flight when we reset it (RFC 9113 §5.1 "closed": MUST be
			// ignored), or on a stream our final GOAWAY left out (§6.8:
			// dropped, but counted against the connection window). Not
			// counted: flow control bounds it like DATA on a live stream;
			// empty frames, which it does not bound, are.
			if length == 0 {
				return c.spendControl()
			}
			return nil
		}
		// Each of these provokes a RST_STREAM: counted.
		if err := c.spendControl(); err != nil {
			return err
		}
		return c.streamError(id, http2.ErrCodeStreamClosed)
	}
	if length > s.recvWindow {
		c.addConnCredit(length)
		return c.streamError(id, http2.ErrCodeFlowControl)
	}
	s.recvWindow -= length
	end := f.StreamEnded()
	if len(data) == 0 && !end {
		if err := c.spendControl(); err != nil {
			return err
		}
	}
	if s.draining {
		return c.discardData(s, length, int64(len(data)), end)
	}
	if pad := length - int64(len(data)); pad > 0 {
		// Padding is flow-controlled but never reaches the owner, so it is
		// given back here: a stream the owner holds unconsumed until some
		// body has come (a content-length upload waiting for its first
		// bytes) would otherwise spend its window on padding and stall.
		s.credit += pad
		if !end {
			s.returnCredit()
		}
		c.addConnCredit(pad)
	}
	s.dataRecv += int64(len(data))
	if s.contentLength >= 0 && (s.dataRecv > s.contentLength || end && s.dataRecv != s.contentLength) {
		s.unconsumed += int64(len(data)) // credited back by closeStream
		return c.streamError(id, http2.ErrCodeProtocol)
	}
	c.stats.DataBytesIn += uint64(len(data))
	s.unconsumed += int64(len(data))
	if end {
		s.reqDone = true
	}
	c.h.OnData(s, data, end)
	if end && s.open && s.respDone {
		c.closeStream(s)
	}
	return nil
}

// discardData drops DATA of a draining stream (length is the flow-controlled
// size, n the payload) and returns its credit so that the client can finish
// the request; past MaxDiscardBytes the stream is reset with NO_ERROR.
func (c *ServerConn) discardData(s *Stream, length, n int64, end bool) error {
	s.dataRecv += n
	if s.contentLength >= 0 && (s.dataRecv > s.contentLength || end && s.dataRecv != s.contentLength) {
		c.addConnCredit(length)
		return c.streamError(s.id, http2.ErrCodeProtocol) // malformed (RFC 9113 §8.1.1) even if unread
	}
	c.stats.DiscardedBytes += uint64(n)
	s.discardLeft -= length
	c.addConnCredit(length)
	switch {
	case end:
		s.reqDone = true
		c.closeStream(s)
	case s.discardLeft < 0,
		// The window is spent and payload is still due: the stream gets no
		// more credit (see prepareDrain), so it could only stall.
		s.recvWindow <= 0 && (s.contentLength < 0 || s.dataRecv < s.contentLength):
		// Not a client fault, hence not counted against the reset budget:
		// the body was just larger than we are willing to read for nothing.
		return c.resetStream(s.id, s, http2.ErrCodeNo)
	}
	return nil
}

func (c *ServerConn) onHeaders(id uint32, flags http2.Flags, p []byte) error {
	if id == 0 {
		return c.connError(http2.ErrCodeProtocol, "headers_stream_0")
	}
	pad := 0
	if flags.Has(http2.FlagHeadersPadded) {
		if len(p) < 1 {
			return c.connError(http2.ErrCodeFrameSize, "headers_short")
		}
		pad = int(p[0])
		p = p[1:]
	}
	var dep uint32
	if flags.Has(http2.FlagHeadersPriority) {
		if len(p) < 5 {
			return c.connError(http2.ErrCodeFrameSize, "headers_short")
		}
		dep = binary.BigEndian.Uint32(p) & maxWindow
		p = p[5:]
	}
	if pad > len(p) {
		return c.connError(http2.ErrCodeProtocol, "headers_pad_too_long")
	}
	frag := p[:len(p)-pad]
	endStream := flags.Has(http2.FlagHeadersEndStream)
	if id%2 == 0 {
		return c.connError(http2.ErrCodeProtocol, "even_stream_id")
	}
	c.hdrID = id
	c.hdrTarget = nil
	c.hdrTrailers = false
	c.hdrIsNew = false
	c.hdrHasRST = false
	c.hdrEndStream = endStream
	c.hdrEncBytes = 0
	c.hdrDecBytes = 0
	c.hdrTooLarge = false
	c.hdrOverConn = false
	c.hdrStored = 0
	c.hdrPathLen = 0
	selfDep := flags.Has(http2.FlagHeadersPriority) && dep == id

	if s := c.streams[id]; s != nil {
		switch {
		case s.reqDone:
			c.setHdrRST(http2.ErrCodeStreamClosed)
		case !endStream:
			// A second block must be trailers, which end the stream (RFC 9113 §8.1).
			c.setHdrRST(http2.ErrCodeProtocol)
		default:
			c.hdrTarget = s
			c.hdrTrailers = true
			s.ntrail = len(s.fields)
		}
	} else if id <= c.maxClientID {
		switch {
		case c.wasReset(id) || c.ignoredAfterGoAway(id):
			// Late frame for a stream we reset, or trailers of one our
			// final GOAWAY left out: decode to keep HPACK in sync, drop.
			// Counted: the decoding costs CPU a flood could spend without
			// limit.
			if err := c.spendControl(); err != nil {
				return err
			}
		case c.wasClosed(id):
			// RFC 9113 §5.1: frames after END_STREAM both ways.
			return c.connError(http2.ErrCodeStreamClosed, "headers_on_closed_stream")
		default:
			// RFC 9113 §5.1.1: a new stream's id must exceed every id the
			// client used; this one never was (or is long forgotten).
			return c.connError(http2.ErrCodeProtocol, "headers_on_lower_stream_id")
		}
	} else {
		c.maxClientID = id
		c.roll(&c.resets)
		c.resets.opened++
		switch {
		case c.ignoredAfterGoAway(id):
			// After the final GOAWAY new streams are ignored (RFC 9113
			// §6.8); their blocks are still decoded, so they are counted.
			if err := c.spendControl(); err != nil {
				return err
			}
		case uint32(c.active) >= c.cfg.MaxConcurrentStreams:
			c.stats.StreamsRefused++
			c.setHdrRST(http2.ErrCodeRefusedStream)
		default:
			// A client that never reads but keeps opening streams answered
			// with HEADERS alone (HEAD, 204, 304, errors) would grow our
			// output without bound: such streams close at once, so the
			// concurrency limit never holds them back.
			if err := c.checkControlRoom(); err != nil {
				return err
			}
			s := c.newStream(id)
			c.hdrTarget = s
			c.hdrIsNew = true
		}
	}
	if selfDep {
		c.setHdrRST(http2.ErrCodeProtocol)
	}
	return c.headerFragment(frag, flags.Has(http2.FlagHeadersEndHeaders))
}

func (c *ServerConn) setHdrRST(code http2.ErrCode) {
	if !c.hdrHasRST {
		c.hdrHasRST = true
		c.hdrRSTCode = code
	}
}

func (c *ServerConn) headerFragment(frag []byte, end bool) error {
	if len(frag) == 0 && !end {
		// Empty CONTINUATIONs add no bytes, so the byte bound alone
		// would not stop an endless chain of them.
		if err := c.spendControl(); err != nil {
			return err
		}
	}
	c.hdrEncBytes += len(frag)
	if c.hdrEncBytes > 2*c.cfg.MaxHeaderBytes {
		// CONTINUATION flood: checked before decoding, so at most
		// 2×MaxHeaderBytes of a block is ever buffered or decoded.
		return c.abortHeaderBlock("header_block_too_large")
	}
	if _, err := c.dec.Write(frag); err != nil {
		if errors.Is(err, hpack.ErrStringLength) {
			return c.abortHeaderBlock("hpack_string_too_long")
		}
		return c.connError(http2.ErrCodeCompression, "hpack")
	}
	if c.hdrDecBytes > hpackBombFactor*c.cfg.MaxHeaderBytes {
		// An HPACK bomb (one-byte references to large dynamic entries,
		// or thousands to static ones): no client sends such a list, and
		// decoding the rest of its blocks would cost far more than the
		// attacker's bytes.
		return c.abortHeaderBlock("hpack_bomb")
	}
	if !end {
		return nil
	}
	if err := c.dec.Close(); err != nil {
		return c.connError(http2.ErrCodeCompression, "hpack_truncated")
	}
	id := c.hdrID
	c.hdrID = 0
	return c.endHeaderBlock(id)
}

// onField is the hpack emit function: it checks and stores one field of
// the block being decoded.
func (c *ServerConn) onField(hf hpack.HeaderField) {
	if hf.Name == ":path" {
		c.hdrPathLen = len(hf.Value) // for LineTooLong, even if not stored
	}
	c.hdrDecBytes += len(hf.Name) + len(hf.Value) + 32
	if c.hdrDecBytes > c.cfg.MaxHeaderBytes {
		// Keep decoding (HPACK state), store nothing more: oversized
		// header lists stop here (431), and are counted on so that an
		// HPACK bomb ends the connection (headerFragment).
		c.hdrTooLarge = true
		return
	}
	c.hdrStored += len(hf.Value)
	if !strings.HasPrefix(hf.Name, ":") { // a regular field (an empty name is malformed later)
		c.hdrStored += len(hf.Name) + fieldSize
	}
	if c.heldHeaders > 0 && c.heldHeaders+c.hdrStored > c.cfg.MaxHeaderBytesPerConn {
		c.hdrOverConn = true // keep decoding, store nothing more (as above)
		return
	}
	s := c.hdrTarget
	if s == nil || s.malformed {
		return
	}
	name, value := hf.Name, hf.Value
	if len(name) > 0 && name[0] == ':' {
		if s.sawRegular || c.hdrTrailers {
			s.malformed = true
			return
		}
		var sp *span
		var bit uint8
		switch name {
		case ":method":
			sp, bit = &s.method, pseudoMethod
		case ":scheme":
			sp, bit = &s.scheme, pseudoScheme
		case ":path":
			sp, bit = &s.path, pseudoPath
		case ":authority":
			sp, bit = &s.authority, pseudoAuthority
		default:
			s.malformed = true // unknown, or :status / :protocol in a request
			return
		}
		if s.pseudo&bit != 0 || !validPseudo(name, value) {
			s.malformed = true // duplicated, or a value that is no request line part
			return
		}
		s.pseudo |= bit
		*sp = s.store(value)
		return
	}
	s.sawRegular = true
	if !validFieldName(name) || !validFieldValueString(value) {
		s.malformed = true
		return
	}
	switch name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		s.malformed = true
		return
	case "te":
		// Transfer-coding names are case-insensitive (RFC 9110 §10.1.4).
		if !strings.EqualFold(value, "trailers") {
			s.malformed = true
			return
		}
	case "content-length":
		if !c.hdrTrailers {
			n, ok := parseContentLength(value)
			if !ok || (s.contentLength >= 0 && s.contentLength != n) {
				s.malformed = true
				return
			}
			s.contentLength = n
		}
	case "host":
		if !c.hdrTrailers {
			if s.host.n != 0 && !bytes.EqualFold(s.bytes(s.host), []byte(value)) {
				s.malformed = true
				return
			}
			s.host = s.store(value)
		}
	}
	s.fields = append(s.fields, field{s.store(name), s.store(value)})
}

func (c *ServerConn) endHeaderBlock(id uint32) error {
	s := c.hdrTarget
	c.hdrTarget = nil
	c.blocksDone++
	if c.hdrHasRST {
		// Every stream reset for the client's fault counts, STREAM_CLOSED
		// for a second HEADERS on a stream it had ended included: that
		// reset cancels the stream's exchange as RST_STREAM would, so not
		// counting it reopened rapid reset (CVE-2023-44487).
		if err := c.spendReset(); err != nil {
			return err
		}
		// The stream may be new (self-dependency) or one the owner has.
		return c.resetStream(id, c.streams[id], c.hdrRSTCode)
	}
	if s == nil {
		return nil
	}
	if c.hdrTooLarge {
		if c.hdrTrailers {
			// No answer is possible any more: the response may be under way.
			if err := c.spendReset(); err != nil {
				return err
			}
			return c.resetStream(s.id, s, http2.ErrCodeProtocol)
		}
		c.stats.HeadersTooLarge++
		// Counted like a reset: a stream of 431s costs us as much.
		if err := c.spendReset(); err != nil {
			return err
		}
		c.hold(s) // what it stored up to the limit stays while its 431 is out
		c.rejectHead(s)
		c.checkStreamsPerConn()
		return nil
	}
	if c.hdrOverConn {
		// Other streams hold the connection's header budget: refused
		// now, this stream may succeed once they end. A client cannot
		// see this limit coming (it is not in SETTINGS), so a browser
		// retrying refused streams must not meet the rapid-reset GOAWAY;
		// refusals are counted as control frames instead, or they would
		// be a free way to make us decode.
		if err := c.spendControl(); err != nil {
			return err
		}
		code := http2.ErrCodeRefusedStream
		if c.hdrTrailers {
			code = http2.ErrCodeEnhanceYourCalm // the request is under way: nothing to retry
		} else {
			c.stats.StreamsRefused++
		}
		return c.resetStream(s.id, s, code)
	}
	c.hold(s)
	if c.hdrTrailers {
		if s.malformed || (s.contentLength >= 0 && s.dataRecv != s.contentLength) {
			if err := c.spendReset(); err != nil { // as above: a reset the client caused
				return err
			}
			return c.resetStream(s.id, s, http2.ErrCodeProtocol)
		}
		s.reqDone = true
		if !s.draining {
			c.h.OnTrailers(s)
		}
		if s.open && s.respDone {
			c.closeStream(s)
		}
		return nil
	}
	if !s.validRequest() || (c.hdrEndStream && s.contentLength > 0) {
		if err := c.spendReset(); err != nil {
			return err
		}
		return c.resetStream(s.id, s, http2.ErrCodeProtocol)
	}
	s.reqDone = c.hdrEndStream
	s.delivered = true
	c.stats.StreamsOpened++
	c.h.OnRequest(s)
	c.checkStreamsPerConn()
	return nil
}

// checkStreamsPerConn: the stream reaching MaxStreamsPerConn is served;
// later ones are not.
func (c *ServerConn) checkStreamsPerConn() {
	if c.total >= c.cfg.MaxStreamsPerConn && !c.goAwayFinal && !c.closed {
		c.GoAway(false)
	}
}

// rejectHead hands a new stream whose header block was over MaxHeaderBytes
// to the owner (HeadersTooLargeHandler), or answers it 431/414 itself.
func (c *ServerConn) rejectHead(s *Stream) {
	s.reqDone = c.hdrEndStream
	// SPEC's 414: the request line alone (as HTTP/1.1 would carry it:
	// "METHOD SP path SP HTTP/1.1 CRLF") does not fit in the limit.
	s.lineTooLong = c.hdrPathLen > 0 &&
		int(s.method.n)+1+c.hdrPathLen+len(" HTTP/1.1\r\n") > c.cfg.MaxHeaderBytes
	if th, ok := c.h.(HeadersTooLargeHandler); ok {
		s.delivered = true
		c.stats.StreamsOpened++
		th.OnHeadersTooLarge(s)
		return
	}
	status := 431
	if s.lineTooLong {
		status = 414
	}
	c.startBlock()
	c.hbuf = appendStatus(c.hbuf, status)
	s.status = uint16(status)
	c.prepareDrain(s)
	c.writeHeaderBlock(s.id, c.hbuf, true)
	s.finalSent = true
	c.finishStream(s)
}

// hpackBombFactor × MaxHeaderBytes of decoded header list in one block ends
// the connection: a list merely too large is answered 431 on a living
// connection, one this far past the limit is an attack.
const hpackBombFactor = 16

// abortHeaderBlock ends the connection over a header block past the hard
// caps (encoded size over 2×MaxHeaderBytes, or an HPACK string the decoder
// refuses): the rest of the block is never read, so the HPACK state is
// lost and nothing after it may be decoded. A block opening a new stream
// is answered first (rejectHead) so that the client learns why.
func (c *ServerConn) abortHeaderBlock(reason string) error {
	s := c.hdrTarget
	c.hdrTarget = nil
	c.hdrID = 0
	if s != nil && c.hdrIsNew && !c.hdrHasRST && !c.hdrTrailers {
		c.stats.HeadersTooLarge++
		if err := c.spendReset(); err != nil {
			return err
		}
		c.hold(s)
		c.rejectHead(s)
	}
	return c.connError(http2.ErrCodeEnhanceYourCalm, reason)
}

// validRequest applies RFC 9113 §8.3.1 to the pseudo-fields.
func (s *Stream) validRequest() bool {
	if s.malformed || s.method.n == 0 {
		return false
	}
	if string(s.Method()) == "CONNECT" {
		return s.authority.n != 0 && s.pseudo&(pseudoScheme|pseudoPath) == 0
	}
	if s.scheme.n == 0 || s.path.n == 0 {
		return false
	}
	p := s.Path()
	if p[0] != '/' && !(string(p) == "*" && string(s.Method()) == "OPTIONS") {
		return false
	}
	// Hosts are case-insensitive (RFC 3986 §3.2.2): A.EXAMPLE and a.example agree.
	if s.authority.n != 0 && s.host.n != 0 && !bytes.EqualFold(s.bytes(s.authority), s.bytes(s.host)) {
		return false
	}
	return true
}

func (c *ServerConn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	if err := c.spendControl(); err != nil {
		return err
	}
	grew := false
	for i := 0; i < f.NumSettings(); i++ {
		st := f.Setting(i)
		if err := st.Valid(); err != nil {
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				return c.connError(http2.ErrCode(ce), "bad_setting")
			}
			return c.connError(http2.ErrCodeProtocol, "bad_setting")
		}
		switch st.ID {
		case http2.SettingInitialWindowSize:
			delta := int64(st.Val) - c.peerInitialWindow
			c.peerInitialWindow = int64(st.Val)
			for _, s := range c.streams {
				s.sendWindow += delta
				if s.sendWindow > maxWindow {
					return c.connError(http2.ErrCodeFlowControl, "settings_window_overflow")
				}
			}
			grew = grew || delta > 0
		case http2.SettingMaxFrameSize:
			c.peerMaxFrame = int(st.Val)
		case http2.SettingHeaderTableSize:
			c.setPeerTableSize(st.Val)
		}
		// ENABLE_PUSH is moot (we never push); the rest are advisory.
	}
	if err := c.checkControlRoom(); err != nil {
		return err
	}
	c.appendFrameHeader(0, http2.FrameSettings, http2.FlagSettingsAck, 0)
	if grew {
		c.wake()
	}
	return nil
}

func (c *ServerConn) onPing(f *http2.PingFrame) error {
	if f.IsAck() {
		if f.Data == goAwayPing && c.goAwayPhase1 && !c.goAwayFinal {
			c.GoAway(false)
		}
		return nil
	}
	if err := c.spendControl(); err != nil {
		return err
	}
	if err := c.checkControlRoom(); err != nil {
		return err
	}
	c.appendFrameHeader(8, http2.FramePing, http2.FlagPingAck, 0)
	c.out = append(c.out, f.Data[:]...)
	return nil
}

func (c *ServerConn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	if c.windowUpdatesIn++; c.windowUpdatesIn > c.updateAllowance() {
		// Valid, but no reply to anything sent: each costs a frame decode
		// and a scheduling pass (tiny increments never overflow the
		// window). Past the allowance, each counts as a control frame.
		if err := c.spendControlAs("window_update_flood"); err != nil {
			return err
		}
	}
	inc := int64(f.Increment)
	if f.StreamID == 0 {
		c.connSend += inc
		if c.connSend > maxWindow {
			return c.connError(http2.ErrCodeFlowControl, "conn_window_overflow")
		}
		c.wake()
		return nil
	}
	if f.StreamID > c.maxClientID {
		return c.connError(http2.ErrCodeProtocol, "window_update_on_idle_stream")
	}
	s := c.streams[f.StreamID]
	if s == nil {
		return nil // closed: may legitimately race with our END_STREAM or RST
	}
	s.sendWindow += inc
	if s.sendWindow > maxWindow {
		return c.streamError(s.id, http2.ErrCodeFlowControl)
	}
	if s.blocked && s.sendWindow > 0 && c.connSend > 0 && !c.outBlocked {
		c.unblock(s)
		c.h.OnWritable(s)
	}
	return nil
}

func (c *ServerConn) onRSTStream(f *http2.RSTStreamFrame) error {
	if f.StreamID > c.maxClientID {
		return c.connError(http2.ErrCodeProtocol, "rst_on_idle_stream")
	}
	s := c.streams[f.StreamID]
	if s == nil {
		return nil
	}
	if s.draining {
		// The exchange was complete: a client stopping its upload after
		// the answer (x/net's Transport does) is no rapid reset.
		c.closeStream(s)
		return nil
	}
	// Not recorded in recentRST: frames the client sends after its own
	// RST_STREAM are errors (RFC 9113 §5.1 "closed").
	c.stats.ResetsReceived++
	if s.delivered {
		c.h.OnReset(s, f.ErrCode)
	}
	if s.open {
		c.closeStream(s)
	}
	// Counted after the stream is gone so that the GOAWAY sees a clean state.
	return c.spendReset()
}

// streamError resets stream id with code (RFC 9113 §5.4.2) because of
// something the client did, which counts against the reset budget.
func (c *ServerConn) streamError(id uint32, code http2.ErrCode) error {
	if err := c.spendReset(); err != nil {
		return err
	}
	return c.resetStream(id, c.streams[id], code)
}

// resetStream sends RST_STREAM and ends s (if any), telling the owner if
// it had seen the stream.
func (c *ServerConn) resetStream(id uint32, s *Stream, code http2.ErrCode) error {
	if err := c.checkControlRoom(); err != nil {
		return err
	}
	c.writeRST(id, code)
	if s != nil && s.open {
		if s.delivered {
			s.resetHere = true
			c.h.OnReset(s, code)
		}
		if s.open {
			c.closeStream(s)
		}
	}
	return nil
}

func (c *ServerConn) newStream(id uint32) *Stream {
	var s *Stream
	if n := len(c.free); n > 0 {
		s = c.free[n-1]
		c.free = c.free[:n-1]
	} else {
		s = &Stream{ntrail: -1, contentLength: -1}
	}
	s.c = c
	s.id = id
	s.open = true
	s.sendWindow = c.peerInitialWindow
	s.recvWindow = int64(c.cfg.InitialWindowSize)
	c.streams[id] = s
	c.active++
	c.total++
	return s
}

// prepareDrain runs just before the frame that ends a response is queued.
// If the request is still open it decides between draining the rest of
// the body (Config.MaxDiscardBytes) and RST_STREAM(NO_ERROR) (RFC 9113
// §8.1), and queues, ahead of END_STREAM, any window the client needs to
// finish: curl 7.88 stops reading the connection once it has the
// complete response, so a WINDOW_UPDATE sent after END_STREAM is never
// seen and it would stall on a spent window, spinning, rather than fail.
// Hence no credit is returned while draining, and:
//   - the rest is known and within MaxDiscardBytes: drain, granting now the
//     stream (and connection) window it lacks;
//   - otherwise, an error status (>= 300): drain what the client's window
//     still allows (within MaxDiscardBytes), then RST_STREAM(NO_ERROR);
//     clients stop uploading on an error answer (curl: "HTTP error before
//     end of send, stop sending"), so most never reach the reset;
//   - otherwise (a 2xx to an upload that would need more window): reset
//     now; a client that keeps uploading could only stall.
func (c *ServerConn) prepareDrain(s *Stream) {
	s.drainPlan = false
	if s.reqDone || c.cfg.MaxDiscardBytes < 0 || c.closed {
		return
	}
	if rest := s.contentLength - s.dataRecv; s.contentLength >= 0 && rest <= c.cfg.MaxDiscardBytes {
		if need := rest - s.recvWindow; need > 0 {
			c.writeWindowUpdate(s.id, uint32(need))
			s.recvWindow += need
		}
		if need := rest - c.connRecv; need > 0 {
			// Taken back from the credit of the bytes it admits
			// (connDebt), so the connection window does not grow.
			c.writeWindowUpdate(0, uint32(need))
			c.connRecv += need
			c.connDebt += need
		}
		s.drainPlan = true
		return
	}
	// Any status: a 2xx (a direct response) drained within the window
	// the client has ends a small upload cleanly, where a reset at once
	// lost the whole answer in curl 7.88 (exit 92).
	s.drainPlan = s.recvWindow > 0
}

// finishStream is called once the response has ended (END_STREAM written).
func (c *ServerConn) finishStream(s *Stream) {
	s.respDone = true
	if s.reqDone {
		c.closeStream(s)
		return
	}
	if !s.drainPlan {
		// RFC 9113 §8.1: a complete response may end the request early.
		c.writeRST(s.id, http2.ErrCodeNo)
		c.closeStream(s)
		return
	}
	c.startDraining(s)
}

// startDraining takes over a stream whose response is complete while its
// request is not: the owner is done with it (no more callbacks), and the
// rest of the request body is read and dropped up to MaxDiscardBytes
// (Config.MaxDiscardBytes says why). The stream keeps its concurrency
// slot until the client's END_STREAM, its RST_STREAM, the bound, or the
// connection's end.
func (c *ServerConn) startDraining(s *Stream) {
	s.draining = true
	s.delivered = false // OnReset no longer applies
	s.Data = nil
	c.draining++
	if s.blocked {
		c.unblock(s)
	}
	s.discardLeft = c.cfg.MaxDiscardBytes
	// Bytes the owner got but never consumed are dropped too: the
	// connection gets their credit back (the stream's is moot).
	if m := s.unconsumed; m > 0 {
		s.unconsumed = 0
		c.addConnCredit(m)
	}
	c.dropDraining()
}

// dropDraining resets the draining streams with NO_ERROR once the final
// GOAWAY is out and the owner holds no stream: the connection is about to
// close, and a client's upload must not keep it open.
func (c *ServerConn) dropDraining() {
	if !c.goAwayFinal || c.closed || c.draining == 0 || c.active != c.draining {
		return
	}
	for _, s := range c.streams {
		if s.draining {
			c.writeRST(s.id, http2.ErrCodeNo)
			c.closeStream(s)
		}
	}
}

// hold counts the header storage s holds now (after a header block) in
// the connection's budget, MaxHeaderBytesPerConn: the bytes stored, not
// the capacity a reused stream kept from an earlier request (at most
// 8 KiB each, see Stream.reset: a fixed cost per concurrent stream, not
// one a client can grow), so small requests on recycled streams are not
// charged for old large ones.
func (c *ServerConn) hold(s *Stream) {
	if cap(s.arena) > 8<<10 && cap(s.arena)-len(s.arena) > len(s.arena)/8 {
		// append's growth left up to half of a large arena unused, and the
		// stream may hold it for its whole life (spans are offsets, so a
		// copy keeps them valid).
		s.arena = append(make([]byte, 0, len(s.arena)), s.arena...)
	}
	n := len(s.arena) + len(s.fields)*fieldSize
	c.heldHeaders += n - s.held
	s.held = n
}

// fieldSize is what one stored field costs beside its bytes.
const fieldSize = int(unsafe.Sizeof(field{}))

// closeStream removes s and puts it back in the pool.
func (c *ServerConn) closeStream(s *Stream) {
	if !s.open {
		return
	}
	delete(c.streams, s.id)
	c.active--
	c.heldHeaders -= s.held
	wasDraining := s.draining
	if wasDraining {
		c.draining--
	}
	if s.blocked {
		c.unblock(s)
	}
	// Stream-level credit died with the stream; connection credit for
	// bytes the owner never consumed must come back or the window leaks.
	if s.unconsumed > 0 && !c.closed {
		c.addConnCredit(s.unconsumed)
	}
	c.recentClosed[c.closedIdx] = s.id
	c.closedIdx = (c.closedIdx + 1) % len(c.recentClosed)
	s.reset()
	c.free = append(c.free, s)
	if !wasDraining {
		c.dropDraining() // the owner's last stream may have been the one holding the connection
	}
}

// recordReset remembers a stream we reset, so that frames the client sent
// before it saw our RST_STREAM are ignored (RFC 9113 §5.1). As many as
// streams may be open at once (at least 32, at most 1024) are remembered:
// an upstream failing under every stream of a busy connection resets them
// all, and their in-flight DATA must not cost the connection. Allocated on
// the first reset: most connections never reset a stream.
//
// Entries are runs of consecutive client ids (lo, lo+2, ..., hi): a burst
// of streams refused past the concurrency limit, which can outnumber the
// ring (a client opens streams before our SETTINGS reach it), takes one
// entry, so their in-flight trailers are still recognised and dropped
// rather than read as a reused stream id (a connection error).
func (c *ServerConn) recordReset(id uint32) {
	if c.recentRST == nil {
		c.recentRST = make([]idRange, min(max(int(c.cfg.MaxConcurrentStreams), 32), 1024))
	}
	n := len(c.recentRST)
	if last := &c.recentRST[(c.recentIdx+n-1)%n]; last.hi != 0 && id == last.hi+2 {
		last.hi = id
		return
	}
	c.recentRST[c.recentIdx] = idRange{lo: id, hi: id}
	c.recentIdx = (c.recentIdx + 1) % n
}

// idRange is a run of client stream ids lo, lo+2, ..., hi.
type idRange struct{ lo, hi uint32 }

func (c *ServerConn) wasReset(id uint32) bool {
	for _, r := range c.recentRST {
		if id >= r.lo && id <= r.hi && (id-r.lo)%2 == 0 {
			return true
		}
	}
	return false
}

// ignoredAfterGoAway reports a stream the client opened past the last
// stream id of our final GOAWAY: never processed, its frames are dropped
// (RFC 9113 §6.8).
func (c *ServerConn) ignoredAfterGoAway(id uint32) bool {
	return c.goAwayFinal && id > c.lastStreamID
}

func (c *ServerConn) wasClosed(id uint32) bool {
	for _, r := range c.recentClosed {
		if r == id {
			return true
		}
	}
	return false
}

func (c *ServerConn) addConnCredit(n int64) {
	if c.connDebt > 0 {
		k := min(n, c.connDebt)
		c.connDebt -= k
		n -= k
	}
	c.connCredit += n
	if c.connCredit >= int64(c.cfg.ConnWindowSize)/2 && !c.closed {
		c.writeWindowUpdate(0, uint32(c.connCredit))
		c.connRecv += c.connCredit
		c.connCredit = 0
	}
}

func (c *ServerConn) block(s *Stream) {
	if !s.blocked {
		s.blocked = true
		c.blocked = append(c.blocked, s)
	}
}

func (c *ServerConn) unblock(s *Stream) {
	s.blocked = false
	for i, b := range c.blocked {
		if b == s {
			c.blocked = append(c.blocked[:i], c.blocked[i+1:]...)
			return
		}
	}
}

// wake gives OnWritable to blocked streams that can send again. Streams
// that block again re-enter c.blocked, so the list is swapped out first.
func (c *ServerConn) wake() {
	if len(c.blocked) == 0 || c.connSend <= 0 || c.outBlocked || c.closed {
		return
	}
	list := append(c.wakeScratch[:0], c.blocked...)
	c.blocked = c.blocked[:0]
	for _, s := range list {
		s.blocked = false
	}
	// Round robin: streams that got their turn and block again go behind
	// those that did not get one, so one long body cannot take every
	// connection-window credit while the others wait.
	waiting := c.waitScratch[:0]
	for i, s := range list {
		switch {
		case !s.open:
		case c.closed || c.connSend <= 0 || c.outBlocked || s.sendWindow <= 0:
			s.blocked = true
			waiting = append(waiting, s)
		default:
			c.h.OnWritable(s)
		}
		list[i] = nil
	}
	// A waiting stream closed by another's OnWritable (a connection error
	// resets them all) has left the blocked list for good.
	kept := waiting[:0]
	for _, s := range waiting {
		if s.open && s.blocked {
			kept = append(kept, s)
		}
	}
	clear(waiting[len(kept):])
	waiting = kept
	if len(waiting) > 0 {
		// The two lists trade arrays: waiting's becomes c.blocked (the
		// waiting streams, then those that blocked again), and the old
		// c.blocked array, cleared, the next round's scratch.
		again := c.blocked
		c.blocked = append(waiting, again...)
		clear(again)
		c.waitScratch = again[:0]
	}
	c.wakeScratch = list[:0]
}

func (c *ServerConn) resetAll(code http2.ErrCode) {
	for _, s := range c.streams {
		if s.open && s.delivered {
			c.h.OnReset(s, code)
		}
		if s.open {
			c.closeStream(s)
		}
	}
}

// connError queues GOAWAY(code), ends every stream and returns the error.
func (c *ServerConn) connError(code http2.ErrCode, reason string) error {
	if c.closed {
		return c.err
	}
	// A GOAWAY may never raise the last stream id an earlier one gave
	// (RFC 9113 §6.8): streams past it were not processed, and the client
	// may already be retrying them elsewhere.
	last := c.maxClientID
	if c.goAwayFinal {
		last = c.lastStreamID
	}
	c.writeGoAway(last, code, reason)
	c.closed = true
	c.err = &ConnError{Code: code, Reason: reason}
	c.resetAll(code)
	return c.err
}

// resetCeiling × the reset budget ends a connection even when most of its
// streams complete (see spendReset).
const resetCeiling = 10

// updateAllowance is how many WINDOW_UPDATE frames a connection may send
// before they count against the control budget: a few for its opening and
// each stream's, and 10 per DATA frame sent (clients replying to each DATA
// frame for the stream and the connection use 2), as Envoy bounds them.
func (c *ServerConn) updateAllowance() uint64 {
	return 5 + 2*(c.stats.StreamsOpened+10*c.dataFramesOut)
}

// roll starts a new counting window once the current one is over.
func (c *ServerConn) roll(fc *floodCounter) {
	if now := c.cfg.Now(); fc.start.IsZero() || now.Sub(fc.start) >= c.cfg.FloodWindow {
		fc.start = now
		fc.count, fc.opened = 0, 0
	}
}

func (c *ServerConn) spendControl() error {
	return c.spendControlAs("control_flood")
}

// spendControlAs is spendControl naming the flood reason (the GOAWAY's
// debug data and the edge's error metric) past the budget.
func (c *ServerConn) spendControlAs(reason string) error {
	c.roll(&c.control)
	if c.control.count++; c.control.count > c.control.max {
		return c.connError(http2.ErrCodeEnhanceYourCalm, reason)
	}
	return nil
}

// spendReset counts a stream reset by the client, or by us because of it.
// Past the window's budget the connection ends only while resets are at
// least half of the streams the client opened in the window, Envoy's rule
// for premature resets: a busy gRPC channel that cancels a minority of
// its calls (deadlines, hedging) is not an attack and must not lose its
// connection every few seconds, while a rapid-reset attacker (CVE-2023-
// 44487) would have to pay a complete request, held against the
// concurrency limit, for every stream it resets past the budget. At ten
// times the budget the connection ends whatever the share: cheap streams
// (404s) opened only to dilute the share buy no unbounded resets.
func (c *ServerConn) spendReset() error {
	fc := &c.resets
	c.roll(fc)
	if fc.count++; fc.count > fc.max && (2*fc.count >= fc.opened || fc.count > resetCeiling*fc.max) {
		return c.connError(http2.ErrCodeEnhanceYourCalm, "rapid_reset")
	}
	return nil
}

// checkControlRoom ends a connection whose peer keeps provoking replies
// (PING/SETTINGS ACKs, RST_STREAM) while not reading them.
func (c *ServerConn) checkControlRoom() error {
	if c.pending() > c.cfg.MaxPendingOutput+controlSlack {
		return c.connError(http2.ErrCodeEnhanceYourCalm, "output_not_drained")
	}
	return nil
}

// Frame writers: everything goes straight into c.out.

func (c *ServerConn) appendFrameHeader(length int, typ http2.FrameType, flags http2.Flags, id uint32) {
	if c.outOff > 0 && c.outOff >= len(c.out)/2 && len(c.out)+9+length > cap(c.out) {
		// Reclaim the sent prefix instead of growing.
		n := copy(c.out, c.out[c.outOff:])
		c.out = c.out[:n]
		c.outOff = 0
	}
	c.out = append(c.out, byte(length>>16), byte(length>>8), byte(length), byte(typ), byte(flags),
		byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
}

func (c *ServerConn) appendSetting(id http2.SettingID, v uint32) {
	c.out = binary.BigEndian.AppendUint16(c.out, uint16(id))
	c.out = binary.BigEndian.AppendUint32(c.out, v)
}

func (c *ServerConn) writeWindowUpdate(id, inc uint32) {
	c.appendFrameHeader(4, http2.FrameWindowUpdate, 0, id)
	c.out = binary.BigEndian.AppendUint32(c.out, inc)
}

func (c *ServerConn) writeRST(id uint32, code http2.ErrCode) {
	c.stats.ResetsSent++
	if code != http2.ErrCodeStreamClosed {
		// STREAM_CLOSED answers a frame on a stream the client had
		// already ended: nothing of it can still be in flight, and
		// further frames on it stay errors.
		c.recordReset(id)
	}
	c.appendFrameHeader(4, http2.FrameRSTStream, 0, id)
	c.out = binary.BigEndian.AppendUint32(c.out, uint32(code))
}

func (c *ServerConn) writeGoAway(last uint32, code http2.ErrCode, debug string) {
	c.appendFrameHeader(8+len(debug), http2.FrameGoAway, 0, 0)
	c.out = binary.BigEndian.AppendUint32(c.out, last)
	c.out = binary.BigEndian.AppendUint32(c.out, uint32(code))
	c.out = append(c.out, debug...)
}

// setPeerTableSize takes the peer's SETTINGS_HEADER_TABLE_SIZE: our next
// block starts with the size update(s) it owes (startBlock).
func (c *ServerConn) setPeerTableSize(v uint32) {
	c.peerTableSize = int(min(v, encTableMax))
	c.tableSizeLow = min(c.tableSizeLow, c.peerTableSize)
	c.tableSizeChanged = true
}

// startBlock begins a response header block in c.hbuf, with the dynamic
// table size updates owed (RFC 7541 §4.2) after SETTINGS changed the
// peer's table size: when it went under ours since the last block, an
// update to 0 (x/net's decoder refuses a second update while entries
// remain, so the smaller size is signalled by emptying the table), then
// the size we use now, min(encTableMax, the peer's). The first block
// always says it, as the peer's table starts at 4096.
func (c *ServerConn) startBlock() {
	c.hbuf = c.hbuf[:0]
	if !c.tableSizeChanged {
		return
	}
	c.tableSizeChanged = false
	if c.tableSizeLow < c.tbl.max {
		c.tbl.resize(0)
		c.hbuf = append(c.hbuf, 0x20)
	}
	if size := c.peerTableSize; size != c.tbl.max || !c.tableSizeSent {
		c.tbl.resize(size)
		c.hbuf = appendHpackInt(c.hbuf, 5, 0x20, uint64(size))
		c.tableSizeSent = true
	}
	c.tableSizeLow = c.peerTableSize
}

// writeHeaderBlock writes block as HEADERS plus CONTINUATIONs, each within
// the peer's max frame size, back to back (nothing may interleave).
func (c *ServerConn) writeHeaderBlock(id uint32, block []byte, endStream bool) {
	typ := http2.FrameHeaders
	var flags http2.Flags
	if endStream {
		flags = http2.FlagHeadersEndStream
	}
	for {
		chunk := min(len(block), c.peerMaxFrame)
		if chunk == len(block) {
			flags |= http2.FlagHeadersEndHeaders
		}
		c.appendFrameHeader(chunk, typ, flags, id)
		c.out = append(c.out, block[:chunk]...)
		block = block[chunk:]
		if len(block) == 0 {
			return
		}
		typ, flags = http2.FrameContinuation, 0
	}
}
