package h2

import (
	"errors"
	"fmt"

	"golang.org/x/net/http2"
)

// Sentinel errors returned by Stream writes.
var (
	// ErrConnClosed: the connection has failed or was closed; nothing more is sent.
	ErrConnClosed = errors.New("h2: connection closed")
	// ErrStreamClosed: the stream was reset or its response already ended.
	ErrStreamClosed = errors.New("h2: stream closed")
	// ErrHeadersSent: a final response header block was already written.
	ErrHeadersSent = errors.New("h2: response headers already written")
	// ErrNoHeaders: DATA or trailers before the final response headers.
	ErrNoHeaders = errors.New("h2: response headers not written yet")
	// ErrBadStatus: status outside 100-999, or 101 (not allowed in HTTP/2).
	ErrBadStatus = errors.New("h2: invalid response status")
)

// ConnError is a connection error (RFC 9113 §5.4.1): Feed returns it after
// queueing GOAWAY with Code; the owner flushes Output and closes the socket.
type ConnError struct {
	Code   http2.ErrCode
	Reason string // stable token, e.g. "rapid_reset", usable as a metric label
}

func (e *ConnError) Error() string {
	return fmt.Sprintf("h2: connection error %v: %s", e.Code, e.Reason)
}
