package edge

import (
	"strconv"

	"github.com/portico-gw/portico/parser"
)

// errorKind is one row of SPEC §4: a status Portico itself answers with, its
// stable code (also the access log's error_code) and a fixed message.
type errorKind struct {
	status  int
	code    string
	message string
}

var (
	errBadRequest = &errorKind{400, "bad_request", "malformed request"}
	errBadPath    = &errorKind{400, "bad_request", "malformed request path"}
	// OPTIONS * asks about the server as a whole; behind a gateway that is
	// no one upstream in particular.
	errAsteriskTarget  = &errorKind{400, "bad_request", "OPTIONS * is not routed; ask about a path"}
	errUnauthorized    = &errorKind{401, "unauthorized", "missing or invalid credentials"}
	errInvalidToken    = &errorKind{401, "unauthorized", "invalid credentials"}
	errForbidden       = &errorKind{403, "forbidden", "missing scope or tenant"}
	errAuthUnavailable = &errorKind{503, "unavailable", "authentication keys unavailable"}
	errNotFound        = &errorKind{404, "not_found", "no route matches"}
	errRequestTimeout  = &errorKind{408, "request_timeout", "request head not received in time"}
	errBodyTimeout     = &errorKind{408, "request_timeout", "request body not received in time"}
	// errClientStalled only ever cuts an answer under way (its code is
	// logged): the client stopped reading it for idle_timeout.
	errClientStalled   = &errorKind{408, "client_timeout", "client stopped reading"}
	errPayloadTooLarge = &errorKind{413, "payload_too_large", "request body too large"}
	errURITooLong      = &errorKind{414, "uri_too_long", "request line too long"}
	errRateLimited     = &errorKind{429, "rate_limited", "rate limit exceeded"}
	errHeaderTooLarge  = &errorKind{431, "header_too_large", "request head too large"}
	errNotImplemented  = &errorKind{501, "not_implemented", "transfer coding or method not supported"}
	errBadGateway      = &errorKind{502, "bad_gateway", "upstream failed to answer"}
	errUnavailable     = &errorKind{503, "unavailable", "no healthy upstream target"}
	errOverloaded      = &errorKind{503, "unavailable", "upstream overloaded"}
	errDescriptorLimit = &errorKind{503, "unavailable", "gateway at its open-file limit"}
	errGatewayTimeout  = &errorKind{504, "gateway_timeout", "upstream timed out"}
	errShuttingDown    = &errorKind{503, "unavailable", "gateway shutting down (drain_timeout expired)"}
	errVersion         = &errorKind{505, "http_version_not_supported", "HTTP version not supported"}
)

// errorForStatus maps a parser rejection status onto the SPEC §4 row.
func errorForStatus(status int) *errorKind {
	switch status {
	case 408:
		return errRequestTimeout
	case 413:
		return errPayloadTooLarge
	case 414:
		return errURITooLong
	case 431:
		return errHeaderTooLarge
	case 501:
		return errNotImplemented
	case 505:
		return errVersion
	default:
		return errBadRequest
	}
}

// appendStatusLine appends "HTTP/1.1 <code> <reason>\r\n".
func appendStatusLine(dst []byte, code int) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, ' ')
	dst = append(dst, parser.StatusText(code)...)
	return append(dst, "\r\n"...)
}

// appendErrorBody appends the SPEC §4 JSON envelope. The message and code are
// fixed strings of ours; the request id is a validated token, so nothing here
// needs JSON escaping.
func appendErrorBody(dst []byte, e *errorKind, requestID []byte) []byte {
	dst = append(dst, `{"error":{"status":`...)
	dst = strconv.AppendInt(dst, int64(e.status), 10)
	dst = append(dst, `,"code":"`...)
	dst = append(dst, e.code...)
	dst = append(dst, `","message":"`...)
	dst = append(dst, e.message...)
	dst = append(dst, `","request_id":"`...)
	dst = append(dst, requestID...)
	return append(dst, "\"}}\n"...)
}
