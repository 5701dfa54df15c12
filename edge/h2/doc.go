// Package h2 owns Portico's server side of HTTP/2 (RFC 9113) as a sans-I/O
// state machine: no goroutines, no blocking, no sockets. The edge event
// loop drives one ServerConn per downstream connection (h2c with prior
// knowledge, detected with IsPreface, or h2 chosen by ALPN):
//
//	c := h2.NewServerConn(cfg, handler)   // Output now holds our SETTINGS
//	n, err := c.Feed(buf)                 // on every read; keep buf[n:] for the next call
//	out := c.Output()                     // write what the socket takes ...
//	c.ConsumeOutput(written)              // ... and drop it from the queue
//	if err != nil || c.Done() { flush Output, then close the socket }
//
// Feed parses whole frames only: it peeks at the 9-byte frame header and
// waits until the payload is buffered before handing the frame to
// x/net/http2's Framer through a bytes.Reader, so the Framer never blocks.
// It calls the Handler synchronously for stream events (OnRequest, OnData,
// OnTrailers, OnReset, OnWritable, and the optional OnHeadersTooLarge of
// HeadersTooLargeHandler); the owner answers through the Stream's
// write methods, from the callback or later from the same goroutine.
//
// Buffer lifetimes:
//   - Feed's input is not retained; unconsumed bytes stay the owner's.
//   - OnData's data is valid only during the call.
//   - A Stream's request accessors (Method, Path, Field, Trailer, ...)
//     return slices of the stream's own arena, valid until the stream ends
//     for the owner (its final write returns, or OnReset returns); the
//     *Stream itself is reused after that and must be dropped.
//   - Output's slice is valid until the next call of any method.
//   - Write* copy what they are given.
//
// Flow control: the owner calls Stream.Consumed as it forwards request
// bytes upstream, and only then does the client get window back, so a
// slow upstream slows the uploading client and the owner buffers at most
// InitialWindowSize per stream and ConnWindowSize per connection.
// WriteData takes only what the windows and MaxPendingOutput allow; the
// owner keeps the rest until OnWritable.
//
// A response completed while its request is still arriving leaves the
// stream open, with no more callbacks: the connection drops the rest of
// the body until the client's END_STREAM (Config.MaxDiscardBytes), since
// some clients lose a complete response on RST_STREAM(NO_ERROR).
//
// The package also owns HTTP/2's DoS defences (see Config and README.md):
// concurrent and total stream limits, rapid reset, CONTINUATION flood,
// HPACK bomb, control-frame floods and peers that never read.
package h2
