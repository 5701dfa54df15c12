package parser

import "errors"

// ErrNeedMore reports that buf does not yet hold a complete head. Call again
// with the same bytes plus whatever arrives next. It is never returned once
// the buffer already holds more than maxHeaderBytes: then the head is too
// large and an *Error says so.
var ErrNeedMore = errors.New("parser: need more data")

// Error is a rejection of malformed or unsupported input. Every *Error
// returned by this package is a pre-allocated sentinel, so rejecting costs no
// allocation; compare them by their fields, never mutate them.
//
// After an *Error from ParseRequest, ParseResponse or ChunkedDecoder the
// framing of the stream can no longer be trusted: answer (or fail) and close
// the connection.
type Error struct {
	// Status is the HTTP status to answer with: 400, 414, 431, 501, 505
	// for a client's request (413 for ErrBodyTooLarge); 502 for everything that ParseResponse
	// rejects (see UpstreamError).
	Status int
	// Code is the stable error code of SPEC §4 ("bad_request",
	// "uri_too_long", "header_too_large", "payload_too_large",
	// "bad_gateway") or, for statuses
	// SPEC §4 does not list, "not_implemented" (501) and
	// "http_version_not_supported" (505).
	Code string
	// Reason is a short human-readable cause, stable enough to count as a
	// metric label (e.g. "both Content-Length and Transfer-Encoding").
	Reason string

	kind errKind
	text string
}

func (e *Error) Error() string { return e.text }

// UpstreamError maps a rejection of bytes that came from an upstream (a
// response head or a response body's chunked framing) to its 502 twin, so
// the caller can answer bad_gateway. It returns nil when err is not an
// *Error of this package. The result is a pre-allocated sentinel.
func UpstreamError(err error) *Error {
	e, ok := err.(*Error)
	if !ok {
		// Slow path for wrapped errors, kept apart so that the fast path's
		// e does not escape.
		if e = asError(err); e == nil {
			return nil
		}
	}
	return respErrs[e.kind]
}

func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// errKind names one rejection; internal scanners return it and the exported
// entry points map it to the request (client) or response (upstream) table.
type errKind uint8

const (
	errNone errKind = iota
	errNeedMore
	errLineTooLong
	errHeadTooLarge
	errTooManyFields
	errBadRequestLine
	errBadMethod
	errBadTarget
	errBadVersion
	errVersionNotSupported
	errBareCR
	errBareLF
	errObsFold
	errSpaceBeforeColon
	errBadFieldName
	errBadFieldValue
	errMissingHost
	errMultipleHost
	errBadHost
	errCLAndTE
	errBadContentLength
	errContentLengthMismatch
	errTEUnsupported
	errTEChunkedNotLast
	errTEChunkedTwice
	errBadTE
	errTEOnHTTP10
	errAsteriskNotOptions
	errConnect
	errBadAbsoluteTarget
	errBadStatusLine
	errBadStatus
	errBadChunkSize
	errChunkSizeOverflow
	errChunkLineTooLong
	errBadChunkExt
	errMissingChunkCRLF
	errTrailerTooLarge
	errBadTrailer
	errPathNoSlash
	errPathEncodedSlash
	errPathNUL
	errPathBackslash
	errPathBadPercent
	errPathBadByte
	errBodyTooLarge
	errChunkOverhead
	numErrKinds
)

type errDesc struct {
	status int
	code   string
	reason string
}

const (
	codeBadRequest     = "bad_request"
	codeURITooLong     = "uri_too_long"
	codeHeaderTooLarge = "header_too_large"
	codeNotImplemented = "not_implemented"
	codeVersion        = "http_version_not_supported"
	codeBadGateway     = "bad_gateway"
	codeTooLarge       = "payload_too_large"
)

var errDescs = [numErrKinds]errDesc{
	errNeedMore:              {400, codeBadRequest, "incomplete head"},
	errLineTooLong:           {414, codeURITooLong, "request line too long"},
	errHeadTooLarge:          {431, codeHeaderTooLarge, "head too large"},
	errTooManyFields:         {431, codeHeaderTooLarge, "too many header fields"},
	errBadRequestLine:        {400, codeBadRequest, "malformed request line"},
	errBadMethod:             {400, codeBadRequest, "invalid method"},
	errBadTarget:             {400, codeBadRequest, "invalid request target"},
	errBadVersion:            {400, codeBadRequest, "malformed HTTP version"},
	errVersionNotSupported:   {505, codeVersion, "HTTP version not supported"},
	errBareCR:                {400, codeBadRequest, "bare CR"},
	errBareLF:                {400, codeBadRequest, "bare LF line ending"},
	errObsFold:               {400, codeBadRequest, "obsolete line folding"},
	errSpaceBeforeColon:      {400, codeBadRequest, "whitespace before header colon"},
	errBadFieldName:          {400, codeBadRequest, "invalid header field name"},
	errBadFieldValue:         {400, codeBadRequest, "control byte in header field value"},
	errMissingHost:           {400, codeBadRequest, "missing Host header"},
	errMultipleHost:          {400, codeBadRequest, "multiple Host headers"},
	errBadHost:               {400, codeBadRequest, "invalid Host"},
	errCLAndTE:               {400, codeBadRequest, "both Content-Length and Transfer-Encoding"},
	errBadContentLength:      {400, codeBadRequest, "invalid Content-Length"},
	errContentLengthMismatch: {400, codeBadRequest, "differing Content-Length values"},
	errTEUnsupported:         {501, codeNotImplemented, "unsupported transfer coding"},
	errTEChunkedNotLast:      {400, codeBadRequest, "chunked is not the final transfer coding"},
	errTEChunkedTwice:        {400, codeBadRequest, "chunked applied more than once"},
	errBadTE:                 {400, codeBadRequest, "invalid Transfer-Encoding"},
	errTEOnHTTP10:            {400, codeBadRequest, "Transfer-Encoding in an HTTP/1.0 message"},
	errAsteriskNotOptions:    {400, codeBadRequest, "asterisk-form target with a method other than OPTIONS"},
	errConnect:               {501, codeNotImplemented, "CONNECT is not supported"},
	errBadAbsoluteTarget:     {400, codeBadRequest, "invalid absolute-form target"},
	errBadStatusLine:         {400, codeBadRequest, "malformed status line"},
	errBadStatus:             {400, codeBadRequest, "invalid status code"},
	errBadChunkSize:          {400, codeBadRequest, "invalid chunk size"},
	errChunkSizeOverflow:     {400, codeBadRequest, "chunk size too large"},
	errChunkLineTooLong:      {400, codeBadRequest, "chunk size line too long"},
	errBadChunkExt:           {400, codeBadRequest, "invalid chunk extension"},
	errMissingChunkCRLF:      {400, codeBadRequest, "missing CRLF after chunk data"},
	errTrailerTooLarge:       {400, codeBadRequest, "trailer section too large"},
	errBadTrailer:            {400, codeBadRequest, "invalid trailer field"},
	errPathNoSlash:           {400, codeBadRequest, "path does not start with /"},
	errPathEncodedSlash:      {400, codeBadRequest, "encoded / or \\ in path"},
	errPathNUL:               {400, codeBadRequest, "NUL in path"},
	errPathBackslash:         {400, codeBadRequest, "backslash in path"},
	errPathBadPercent:        {400, codeBadRequest, "invalid percent-encoding in path"},
	errPathBadByte:           {400, codeBadRequest, "control byte in path"},
	errBodyTooLarge:          {413, codeTooLarge, "body too large"},
	errChunkOverhead:         {400, codeBadRequest, "chunked framing far larger than its data"},
}

// reqErrs holds the sentinels for input that came from a client;
// respErrs the 502 twins for input that came from an upstream.
var reqErrs, respErrs = buildErrs()

func buildErrs() (req, resp [numErrKinds]*Error) {
	for k := errKind(1); k < numErrKinds; k++ {
		d := errDescs[k]
		req[k] = &Error{Status: d.status, Code: d.code, Reason: d.reason, kind: k,
			text: "parser: " + d.reason}
		resp[k] = &Error{Status: 502, Code: codeBadGateway, Reason: "upstream: " + d.reason, kind: k,
			text: "parser: upstream: " + d.reason}
	}
	return req, resp
}

// ErrBodyTooLarge is the 413 (payload_too_large) sentinel for a body over
// the route's max_body_bytes. The parser never returns it (it does not
// know the limit); it is here so that the caller counting body bytes
// answers with the same kind of error as every other rejection.
var ErrBodyTooLarge = reqErrs[errBodyTooLarge]
