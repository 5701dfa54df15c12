package h2

import "time"

// Defaults for Config fields left zero. README.md explains each value.
const (
	// DefaultMaxConcurrentStreams matches SPEC.md's h2_max_concurrent_streams default.
	DefaultMaxConcurrentStreams = 256
	// DefaultMaxHeaderBytes matches SPEC.md's max_header_bytes default.
	DefaultMaxHeaderBytes = 64 << 10
	// DefaultInitialWindowSize is our per-stream receive window: 1 MiB lets one
	// upload fill a ~1 Gbit/s x 8 ms path without waiting for WINDOW_UPDATE.
	DefaultInitialWindowSize = 1 << 20
	// DefaultConnWindowSize is our connection receive window: 4 streams at
	// full speed; it also bounds what the owner may have to buffer per
	// connection for request bodies it has not yet forwarded upstream.
	DefaultConnWindowSize = 4 << 20
	// DefaultMaxFrameSize is the largest frame we accept (the RFC minimum,
	// which every peer supports; larger frames buy little).
	DefaultMaxFrameSize = 16 << 10
	// DefaultMaxResetsPerSecond: 20/s, i.e. 200 per 10 s window (CVE-2023-44487).
	DefaultMaxResetsPerSecond = 20
	// DefaultMaxControlFramesPerSecond: 100/s, i.e. 1000 per 10 s window.
	DefaultMaxControlFramesPerSecond = 100
	// DefaultFloodWindow is the interval over which the two rates above are counted.
	DefaultFloodWindow = 10 * time.Second
	// DefaultMaxStreamsPerConn: after this many streams the connection is
	// drained with GOAWAY(NO_ERROR) and the client reconnects.
	DefaultMaxStreamsPerConn = 1 << 20
	// DefaultMaxPendingOutput bounds the bytes queued for a peer that does
	// not read: DATA stops at this mark, control replies at this + 64 KiB.
	DefaultMaxPendingOutput = 1 << 20
	// DefaultMaxDiscardBytes bounds the request body read and dropped per
	// stream after a complete early response: 1 MiB, our default stream
	// window, so whatever a client had in flight when the answer left
	// (at most its window) still lands and its request ends cleanly;
	// bodies larger than that get RST_STREAM(NO_ERROR) rather than
	// costing us their full upload. README.md explains the trade-off.
	DefaultMaxDiscardBytes = 1 << 20
	// DefaultMaxHeaderBytesPerConn bounds the request headers all of one
	// connection's open streams hold together, with headerBytesPerStream
	// per allowed stream when that is more: 2 MiB keeps 256 streams of
	// 8 KiB of stored fields (large cookies included) and 32 at the 64 KiB
	// limit, where per stream alone 256 × 64 KiB let one client pin tens
	// of MiB with a few KiB of HPACK references and streams it never ends.
	DefaultMaxHeaderBytesPerConn = 2 << 20
	headerBytesPerStream         = 8 << 10

	// controlSlack is how far past MaxPendingOutput control replies (PING
	// and SETTINGS ACKs, RST_STREAM) may queue before the connection is
	// closed with ENHANCE_YOUR_CALM: the peer sends them but never reads.
	controlSlack = 64 << 10

	maxWindow       = 1<<31 - 1
	minMaxFrameSize = 1 << 14
	maxMaxFrameSize = 1<<24 - 1
)

// Config holds the limits of one HTTP/2 server connection. Zero fields take
// the Default* values above. A Config is copied by NewServerConn.
type Config struct {
	// MaxConcurrentStreams is advertised in SETTINGS; HEADERS opening a
	// stream beyond it get RST_STREAM(REFUSED_STREAM).
	MaxConcurrentStreams uint32
	// MaxHeaderBytes bounds one request header block (advertised as
	// SETTINGS_MAX_HEADER_LIST_SIZE). Decoded size (RFC 9113 header list
	// size: name+value+32 per field) over this: decoding goes on to keep
	// the HPACK state but stores nothing more, and a block opening a new
	// stream goes to HeadersTooLargeHandler (else a bare 431, or 414 when
	// :method and :path alone are over it); the connection lives. A
	// trailer block over it resets its stream (PROTOCOL_ERROR). Hard caps
	// that end the connection with GOAWAY(ENHANCE_YOUR_CALM): the encoded
	// block (HEADERS + CONTINUATION payloads) over twice this
	// (CONTINUATION flood; checked before decoding, so memory stays
	// bounded), or one HPACK string over twice this (only a Huffman string
	// can be: the block cap bounds the others). A new stream whose block
	// hits a hard cap is answered as above first, then the GOAWAY.
	MaxHeaderBytes int
	// MaxHeaderBytesPerConn bounds the header storage (the streams' field
	// arenas) held by all open streams of the connection together. A new
	// stream whose block would pass it while others hold headers is
	// refused (RST_STREAM(REFUSED_STREAM), counted like a reset: the
	// client may retry it once others end); trailers that would pass it
	// reset their stream (ENHANCE_YOUR_CALM). Refusals count as control
	// frames (MaxControlFramesPerSecond), not resets: a client cannot see
	// this limit coming. Streams answered 431 count with what they stored.
	// Default: DefaultMaxHeaderBytesPerConn, or 8 KiB per allowed stream
	// when that is more, up to 32 MiB; at least 2×MaxHeaderBytes.
	MaxHeaderBytesPerConn int
	// InitialWindowSize is our per-stream receive window (SETTINGS_INITIAL_WINDOW_SIZE).
	InitialWindowSize uint32
	// ConnWindowSize is our connection receive window.
	ConnWindowSize uint32
	// MaxFrameSize is SETTINGS_MAX_FRAME_SIZE: the largest frame payload we accept.
	MaxFrameSize uint32
	// MaxResetsPerSecond caps streams reset by the client (RST_STREAM) plus
	// streams we reset or refuse because of the client, averaged over
	// FloodWindow; past it: GOAWAY(ENHANCE_YOUR_CALM).
	MaxResetsPerSecond int
	// MaxControlFramesPerSecond caps SETTINGS, PING, PRIORITY, unknown-type
	// frames, empty DATA without END_STREAM, empty CONTINUATION, frames on
	// closed streams and WINDOW_UPDATEs beyond what the DATA sent explains
	// (updateAllowance), averaged over FloodWindow; past it:
	// GOAWAY(ENHANCE_YOUR_CALM).
	MaxControlFramesPerSecond int
	// FloodWindow is the fixed window the two rates are counted over.
	FloodWindow time.Duration
	// MaxStreamsPerConn is the total number of streams one connection may
	// open; the stream reaching it is served, then GOAWAY(NO_ERROR).
	MaxStreamsPerConn uint32
	// MaxPendingOutput bounds Output's length for DATA (see controlSlack).
	MaxPendingOutput int
	// MaxDiscardBytes: when the owner completes a response while the
	// request is still arriving (an early 413/401/404, a direct
	// response), the stream stays open and the rest of the request body
	// is read and dropped until the client's END_STREAM closes the stream
	// normally: some clients (curl 7.88 with nghttp2) lose a complete
	// response when the stream is reset instead, even with NO_ERROR. At
	// most MaxDiscardBytes of DATA (payload plus padding) is dropped per
	// stream; past it, or when the rest cannot come without more window
	// than it was granted before END_STREAM, the stream gets
	// RST_STREAM(NO_ERROR) (RFC 9113 §8.1). README.md has the rules.
	// Negative: reset at once, no draining.
	MaxDiscardBytes int64
	// Now returns the current time for the flood counters; nil means time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxHeaderBytesPerConn <= 0 {
		// Counted on at most 4096 streams: 32 MiB at most, whatever a
		// listener allows (validate takes up to 2^31-1 streams).
		c.MaxHeaderBytesPerConn = max(DefaultMaxHeaderBytesPerConn, int(min(c.MaxConcurrentStreams, 4096))*headerBytesPerStream)
	}
	if c.MaxHeaderBytesPerConn < 2*c.MaxHeaderBytes {
		c.MaxHeaderBytesPerConn = 2 * c.MaxHeaderBytes
	}
	if c.InitialWindowSize == 0 {
		c.InitialWindowSize = DefaultInitialWindowSize
	}
	if c.InitialWindowSize > maxWindow {
		c.InitialWindowSize = maxWindow
	}
	if c.ConnWindowSize == 0 {
		c.ConnWindowSize = DefaultConnWindowSize
	}
	if c.ConnWindowSize < 65535 {
		// The connection window starts at 65535 and can only be raised.
		c.ConnWindowSize = 65535
	}
	if c.ConnWindowSize > maxWindow {
		c.ConnWindowSize = maxWindow
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = DefaultMaxFrameSize
	}
	if c.MaxFrameSize < minMaxFrameSize {
		c.MaxFrameSize = minMaxFrameSize
	}
	if c.MaxFrameSize > maxMaxFrameSize {
		c.MaxFrameSize = maxMaxFrameSize
	}
	if c.MaxResetsPerSecond <= 0 {
		c.MaxResetsPerSecond = DefaultMaxResetsPerSecond
	}
	if c.MaxControlFramesPerSecond <= 0 {
		c.MaxControlFramesPerSecond = DefaultMaxControlFramesPerSecond
	}
	if c.FloodWindow <= 0 {
		c.FloodWindow = DefaultFloodWindow
	}
	if c.MaxStreamsPerConn == 0 {
		c.MaxStreamsPerConn = DefaultMaxStreamsPerConn
	}
	if c.MaxPendingOutput <= 0 {
		c.MaxPendingOutput = DefaultMaxPendingOutput
	}
	if c.MaxDiscardBytes == 0 {
		c.MaxDiscardBytes = DefaultMaxDiscardBytes
	}
	if c.MaxDiscardBytes > maxWindow {
		// What prepareDrain grants must fit a flow-control window.
		c.MaxDiscardBytes = maxWindow
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// budget returns how many events a per-second rate allows in one window.
func (c *Config) budget(perSecond int) int {
	n := int(int64(perSecond) * int64(c.FloodWindow) / int64(time.Second))
	if n < 1 {
		n = 1
	}
	return n
}
