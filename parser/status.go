package parser

import "strconv"

// AppendStatusLine appends "HTTP/1.1 <status> <reason>\r\n". An empty
// reason is replaced by StatusText(status). status must be 100..999; other
// values are written as 500 to keep the line well-formed.
func AppendStatusLine(dst []byte, status int, reason string) []byte {
	if status < 100 || status > 999 {
		status = 500
	}
	if reason == "" {
		reason = StatusText(status)
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendUint(dst, uint64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, reason...)
	return append(dst, '\r', '\n')
}

// AppendField appends "name: value\r\n". The caller vouches for both (see
// ValidToken and ValidFieldValue for values that come from outside).
func AppendField(dst, name, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ':', ' ')
	dst = append(dst, value...)
	return append(dst, '\r', '\n')
}

// StatusText returns the reason phrase for the statuses a gateway sends
// or relays commonly, or "Status" for others (the reason phrase carries no
// meaning, RFC 9112 §4).
func StatusText(status int) string {
	switch status {
	case 100:
		return "Continue"
	case 101:
		return "Switching Protocols"
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 202:
		return "Accepted"
	case 204:
		return "No Content"
	case 206:
		return "Partial Content"
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 304:
		return "Not Modified"
	case 307:
		return "Temporary Redirect"
	case 308:
		return "Permanent Redirect"
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
	case 411:
		return "Length Required"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 417:
		return "Expectation Failed"
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
	return "Status"
}
