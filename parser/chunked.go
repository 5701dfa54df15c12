package parser

import (
	"bytes"
	"strconv"
)

// Bounds of the chunked decoder. Exceeding one is a 400 (*Error).
const (
	// MaxChunkLineBytes bounds a chunk-size line: the hex size plus any
	// chunk extensions, without the CRLF. Extensions are legal but unused
	// in practice; the bound stops a peer from streaming an endless one.
	MaxChunkLineBytes = 4096
	// MaxTrailerBytes bounds the trailer section after the last chunk,
	// including its final CRLF.
	MaxTrailerBytes = 16 << 10
	// MaxChunkSize bounds one chunk's size (2^62), far above any real
	// chunk and safely below int64 overflow.
	MaxChunkSize = 1 << 62
	// MaxChunkOverhead bounds the framing (size lines, extensions, CRLFs)
	// a body may carry beyond an allowance of 16 bytes plus twice the data
	// of each chunk, as Go's net/http does: max_body_bytes counts data
	// only, and one-byte chunks with long extensions would otherwise
	// stream gigabytes of framing for a small body.
	MaxChunkOverhead = 16 << 10
)

type chunkState uint8

const (
	csSizeStart    chunkState = iota // first byte of a chunk-size line
	csSize                           // in the hex digits
	csExtPre                         // BWS after the digits, before ';'
	csExt                            // in chunk extensions
	csSizeLF                         // CR seen, LF expected
	csData                           // in chunk data
	csDataCR                         // CR expected after data
	csDataLF                         // LF expected after data
	csTrailerStart                   // start of a trailer line (or the final CRLF)
	csTrailerName
	csTrailerValue
	csTrailerLF
	csEndLF // final LF
	csDone
	csError
)

// ChunkedDecoder decodes a chunked message body (RFC 9112 §7.1)
// incrementally, over arbitrary splits of the input, without copying it:
// its whole state is a few integers. The zero value is ready to use; Reset
// makes it ready for the next body.
//
// Trailer fields are validated (field syntax, no obs-fold, at most
// MaxTrailerBytes) and discarded, unless KeepTrailers asked to keep them
// for forwarding (Trailers).
//
// Errors are *Error with Status 400; for a response body from an upstream
// map them with UpstreamError. Once an error or the end is reached, Decode
// keeps returning it.
type ChunkedDecoder struct {
	size    uint64 // chunk size being read, then data bytes left in the chunk
	line    int32  // bytes of the current chunk-size line (<= MaxChunkLineBytes+1)
	excess  int32  // framing beyond the allowance so far (<= MaxChunkOverhead)
	trailer int32  // bytes of the trailer section (<= MaxTrailerBytes+1)
	state   chunkState
	err     errKind
	keep    *[]byte // the caller's buffer for the trailer section; nil: discard it
}

// Reset readies d for a new body; trailers are discarded until
// KeepTrailers is called again.
func (d *ChunkedDecoder) Reset() { *d = ChunkedDecoder{} }

// KeepTrailers makes d append the trailer section to *dst as it is read
// (complete once Done): validated field lines, each ending in CRLF,
// without the final CRLF (ForEachTrailer walks them). Call it after Reset;
// the caller owns and empties *dst.
func (d *ChunkedDecoder) KeepTrailers(dst *[]byte) { d.keep = dst }

// Declared returns the data bytes of the current chunk its size line
// announced and Decode has not returned yet (0 outside chunk data): a
// body limit can refuse a chunk as soon as its size is read.
func (d *ChunkedDecoder) Declared() uint64 {
	if d.state == csData {
		return d.size
	}
	return 0
}

// Done reports whether the last chunk and the trailer section were read.
func (d *ChunkedDecoder) Done() bool { return d.state == csDone }

// Decode consumes framing and body bytes from the start of in. It returns
// how many bytes of in it consumed, and data: the body bytes among them, a
// sub-slice of in (possibly empty), valid as long as in is. At most one
// contiguous run of data is returned per call, so the caller loops with
// in[consumed:] until consumed == len(in) (then wait for more input) or done.
// done is true once the last-chunk and trailer section are consumed;
// in[consumed:] then starts the next message. Bytes that are only part of
// a chunk-size line or trailer are consumed and remembered in d's state.
func (d *ChunkedDecoder) Decode(in []byte) (consumed int, data []byte, done bool, err error) {
	switch d.state {
	case csDone:
		return 0, nil, true, nil
	case csError:
		return 0, nil, false, reqErrs[d.err]
	}
	p := 0
	for p < len(in) {
		c := in[p]
		switch d.state {
		case csSizeStart:
			v := unhex(c)
			if v < 0 {
				return d.fail(p, errBadChunkSize)
			}
			d.size, d.line, d.state = uint64(v), 1, csSize
		case csSize:
			if v := unhex(c); v >= 0 {
				if d.size > MaxChunkSize>>4 {
					return d.fail(p, errChunkSizeOverflow)
				}
				d.size = d.size<<4 | uint64(v)
				if d.size > MaxChunkSize {
					return d.fail(p, errChunkSizeOverflow)
				}
			} else {
				switch c {
				case '\r':
					d.state = csSizeLF
				case ';':
					d.state = csExt
				case ' ', '\t':
					d.state = csExtPre
				case '\n':
					return d.fail(p, errBareLF)
				default:
					return d.fail(p, errBadChunkSize)
				}
			}
			d.line++
		case csExtPre:
			// RFC 9112 §7.1.1: BWS is allowed only before ';'.
			switch c {
			case ' ', '\t':
			case ';':
				d.state = csExt
			default:
				return d.fail(p, errBadChunkExt)
			}
			d.line++
		case csExt:
			if c == '\r' {
				d.state = csSizeLF
			} else if !isValue(c) {
				if c == '\n' {
					return d.fail(p, errBareLF)
				}
				return d.fail(p, errBadChunkExt)
			}
			d.line++
		case csSizeLF:
			if c != '\n' {
				return d.fail(p, errBareCR)
			}
			// The line, its CRLF and the CRLF after the data, against 16
			// bytes plus twice the chunk's data.
			d.excess += d.line + 4 - 16 - 2*int32(min(d.size, MaxChunkOverhead))
			if d.excess < 0 {
				d.excess = 0
			} else if d.excess > MaxChunkOverhead {
				return d.fail(p, errChunkOverhead)
			}
			if d.size == 0 {
				d.state = csTrailerStart
			} else {
				d.state = csData
			}
		case csData:
			if data != nil {
				// One contiguous run per call: stop before the next chunk.
				return p, data, false, nil
			}
			n := uint64(len(in) - p)
			if n > d.size {
				n = d.size
			}
			data = in[p : p+int(n)]
			p += int(n)
			d.size -= n
			if d.size == 0 {
				d.state = csDataCR
			}
			continue
		case csDataCR:
			if c != '\r' {
				return d.fail(p, errMissingChunkCRLF)
			}
			d.state = csDataLF
		case csDataLF:
			if c != '\n' {
				return d.fail(p, errMissingChunkCRLF)
			}
			d.state = csSizeStart
		case csTrailerStart:
			switch {
			case c == '\r':
				d.state = csEndLF // the final CRLF is not part of the kept fields
			case c == ' ' || c == '\t':
				return d.fail(p, errObsFold)
			case isTchar(c):
				d.state = csTrailerName
				d.keepTrailerByte(c)
			case c == '\n':
				return d.fail(p, errBareLF)
			default:
				return d.fail(p, errBadTrailer)
			}
			d.trailer++
		case csTrailerName:
			switch {
			case c == ':':
				d.state = csTrailerValue
			case isTchar(c):
			default:
				return d.fail(p, errBadTrailer)
			}
			d.trailer++
			d.keepTrailerByte(c)
		case csTrailerValue:
			switch {
			case c == '\r':
				d.state = csTrailerLF
			case isValue(c):
			case c == '\n':
				return d.fail(p, errBareLF)
			default:
				return d.fail(p, errBadTrailer)
			}
			d.trailer++
			d.keepTrailerByte(c)
		case csTrailerLF:
			if c != '\n' {
				return d.fail(p, errBareCR)
			}
			d.state = csTrailerStart
			d.trailer++
			d.keepTrailerByte(c)
		case csEndLF:
			if c != '\n' {
				return d.fail(p, errBareCR)
			}
			d.state = csDone
			return p + 1, data, true, nil
		}
		if d.line > MaxChunkLineBytes {
			return d.fail(p, errChunkLineTooLong)
		}
		if d.trailer > MaxTrailerBytes {
			return d.fail(p, errTrailerTooLarge)
		}
		p++
	}
	return p, data, false, nil
}

// ForEachTrailer calls fn with each field of a trailer section as kept by
// KeepTrailers (already validated), the value without surrounding
// whitespace.
func ForEachTrailer(section []byte, fn func(name, value []byte)) {
	for len(section) > 0 {
		line := section
		// A kept section has no CR but the ones ending its lines.
		if i := bytes.IndexByte(section, '\r'); i >= 0 {
			line, section = section[:i], section[min(i+2, len(section)):]
		} else {
			section = nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		fn(line[:colon], trimOWS(line[colon+1:]))
	}
}

// keepTrailerByte collects a byte of a trailer field line when asked to;
// the bound on the section (MaxTrailerBytes) bounds what is kept.
func (d *ChunkedDecoder) keepTrailerByte(c byte) {
	if d.keep != nil {
		*d.keep = append(*d.keep, c)
	}
}

func (d *ChunkedDecoder) fail(p int, k errKind) (int, []byte, bool, error) {
	d.state, d.err = csError, k
	return p, nil, false, reqErrs[k]
}

// AppendChunkHeader appends the chunk-size line for a chunk of n bytes
// ("%x\r\n"). The caller appends the n data bytes, then AppendChunkEnd.
// n <= 0 appends nothing: a zero size would end the body; use
// AppendLastChunk for that.
func AppendChunkHeader(dst []byte, n int) []byte {
	if n <= 0 {
		return dst
	}
	dst = strconv.AppendUint(dst, uint64(n), 16)
	return append(dst, '\r', '\n')
}

// AppendChunkEnd appends the CRLF that closes a chunk's data.
func AppendChunkEnd(dst []byte) []byte { return append(dst, '\r', '\n') }

// AppendChunk appends data as one complete chunk; empty data appends
// nothing.
func AppendChunk(dst, data []byte) []byte {
	if len(data) == 0 {
		return dst
	}
	dst = AppendChunkHeader(dst, len(data))
	dst = append(dst, data...)
	return AppendChunkEnd(dst)
}

// AppendLastChunk appends the last-chunk and an empty trailer section
// ("0\r\n\r\n"), which end a chunked body.
func AppendLastChunk(dst []byte) []byte {
	return append(dst, "0\r\n\r\n"...)
}
