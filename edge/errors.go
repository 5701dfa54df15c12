package edge

import "strconv"

// errorKind is one row of SPEC §4: a status Portico itself answers with, its
// stable code (also the access log's error_code) and a fixed message.
type errorKind struct {
	status  int
	code    string
	message string
}

var (
	errBadRequest      = &errorKind{400, "bad_request", "malformed request"}
	errBadPath         = &errorKind{400, "bad_request", "malformed request path"}
	errUnauthorized    = &errorKind{401, "unauthorized", "missing or invalid credentials"}
	errInvalidToken    = &errorKind{401, "unauthorized", "invalid credentials"}
	errForbidden       = &errorKind{403, "forbidden", "missing scope or tenant"}
	errAuthUnavailable = &errorKind{503, "unavailable", "authentication keys unavailable"}
	errNotFound        = &errorKind{404, "not_found", "no route matches"}
	errRequestTimeout  = &errorKind{408, "request_timeout", "request head not received in time"}
	errPayloadTooLarge = &errorKind{413, "payload_too_large", "request body too large"}
	errURITooLong      = &errorKind{414, "uri_too_long", "request line too long"}
	errRateLimited     = &errorKind{429, "rate_limited", "rate limit exceeded"}
	errHeaderTooLarge  = &errorKind{431, "header_too_large", "request head too large"}
	errNotImplemented  = &errorKind{501, "not_implemented", "transfer coding or method not supported"}
	errBadGateway      = &errorKind{502, "bad_gateway", "upstream failed to answer"}
	errUnavailable     = &errorKind{503, "unavailable", "no healthy upstream target"}
	errOverloaded      = &errorKind{503, "unavailable", "upstream overloaded"}
	errGatewayTimeout  = &errorKind{504, "gateway_timeout", "upstream timed out"}
	errVersion         = &errorKind{505, "bad_request", "HTTP version not supported"}
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

// statusText covers every status Portico writes itself plus the common ones it
// may need to re-emit; unknown codes get an empty reason, which RFC 9112 allows.
func statusText(code int) string {
	switch code {
	case 100:
		return "Continue"
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 204:
		return "No Content"
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 304:
		return "Not Modified"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	}
	return ""
}

// appendStatusLine appends "HTTP/1.1 <code> <reason>\r\n".
func appendStatusLine(dst []byte, code int) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, ' ')
	dst = append(dst, statusText(code)...)
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
