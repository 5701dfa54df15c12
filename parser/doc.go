// Package parser owns Portico's HTTP/1.1 wire format: request and response
// heads, the chunked transfer coding, and request-path normalisation. It is
// sans-I/O: it takes bytes, returns lengths and sub-slices of those bytes,
// never reads a socket and does not allocate on the hot path. It imports
// only the standard library.
//
// # Ownership and lifetime
//
// Every []byte that the package returns (Request and Response fields,
// Field.Name/Value, ChunkedDecoder data) is a sub-slice of the caller's
// input, except Request.Path of an absolute-form target without a path,
// which is a shared read-only "/". None is copied: they are valid exactly as
// long as the input buffer is neither modified nor reused (under gnet: until
// the bytes are Discarded or the OnTraffic callback returns). Copy what must
// outlive that. Never write through them. Request and Response values are
// meant to be reused per connection; parsing resets them and keeps the
// capacity of Fields, so after the first request of a connection parsing
// allocates nothing. Errors are pre-allocated *Error sentinels.
//
// # Strictness (SPEC §3, RFC 9112)
//
// A malformed head is rejected, never repaired; every *Error means "answer
// with Error.Status and close the connection". Rejected with 400:
//
//   - both Content-Length and Transfer-Encoding; an invalid Content-Length
//     (anything but 1*DIGIT, at most 18 digits: no sign, no inner space, no
//     empty list element) or differing values across fields or within a
//     list ("5, 5" and repeated identical fields are accepted);
//   - Transfer-Encoding in an HTTP/1.0 message; chunked not last ("chunked,
//     identity"), chunked twice, an empty or malformed coding. A coding
//     other than chunked ("gzip, chunked", "identity") is 501;
//   - obs-fold, whitespace between a field name and its colon, whitespace
//     before the first field line, an invalid field-name byte, a control
//     byte (NUL..US except HTAB, DEL) in a field value;
//   - a bare CR anywhere in the head; a bare LF line ending (RFC 9112 §2.2
//     allows accepting it, but lenient line endings are a request smuggling
//     vector when two parsers disagree, so only CRLF is accepted);
//   - a method that is not a token; a request-target with bytes outside
//     VCHAR (so no control bytes, no non-ASCII, no '#'); anything but a
//     single SP between the three request-line parts;
//   - a missing Host on HTTP/1.1, more than one Host, an empty one (an
//     http URI with an empty host is invalid, RFC 9110 §4.2.1), a Host
//     whose name has bytes other than unreserved ones (e.g. '@', '/', ',',
//     '%', space) or whose brackets hold more than an IPv6 address, or
//     whose port is not digits;
//   - the asterisk-form with a method other than OPTIONS (OPTIONS * parses;
//     the gateway answers it 400 itself, as no route covers it); an absolute-form
//     target that is not http(s)://, has an empty authority or userinfo.
//
// CONNECT (authority-form) is 501: the gateway does not tunnel. A
// well-formed HTTP version with a major version other than 1 (e.g.
// "HTTP/2.0") is 505; a later HTTP/1 minor version ("HTTP/1.2") is handled
// as HTTP/1.1 (RFC 9110 §2.5); a malformed one ("http/1.1", "HTTP/1.1x")
// is 400.
// A request line that does not end within maxHeaderBytes is 414; a head
// that does not, or that has more than MaxFields field lines, is 431.
//
// ParseResponse applies the same rules to upstream heads (no Host rules; a
// Transfer-Encoding must be exactly "chunked") and reports every failure as
// 502 bad_gateway. The chunked decoder's bounds are MaxChunkLineBytes,
// MaxTrailerBytes and MaxChunkSize; trailers are validated and discarded.
//
// Accepted leniencies, all harmless to framing: empty lines before the
// request line (RFC 9112 §2.2), a status line without the SP before an
// empty reason, obs-text (0x80-0xFF) in field values, unknown Expect
// values (only "100-continue" is reported).
package parser
