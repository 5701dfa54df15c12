package tls

import "errors"

// needMoreError is the transport's "no complete record buffered yet" signal.
// It is a net.Error whose Temporary() is true: crypto/tls then keeps the
// partial record in its input buffer and does not make the error sticky
// (crypto/tls conn.go readRecordOrCCS), which is what lets the loop retry
// Read after the next Feed.
type needMoreError struct{}

func (needMoreError) Error() string   { return "tls: need more ciphertext" }
func (needMoreError) Timeout() bool   { return false }
func (needMoreError) Temporary() bool { return true }

// Sentinel errors. Compare with errors.Is.
var (
	// ErrNeedMore is returned by Conn.Read when no complete record is
	// buffered: Feed more ciphertext and call Read again. Nothing is lost.
	ErrNeedMore error = needMoreError{}

	// ErrHandshakeInProgress is returned by Conn.Read and Conn.Write before
	// the handshake has completed.
	ErrHandshakeInProgress = errors.New("tls: handshake in progress")

	// ErrHandshakeRefused is returned by Conn.Feed when the HandshakeLimiter
	// has no room (in flight and queue both full). The owner closes the
	// connection.
	ErrHandshakeRefused = errors.New("tls: handshake refused: too many handshakes in flight")

	// ErrHandshakeTimeout is the handshake error when it did not complete
	// within the Server's HandshakeTimeout (queueing included).
	ErrHandshakeTimeout = errors.New("tls: handshake timed out")

	// ErrNotTLS is returned by Conn.Feed when the first bytes are not a TLS
	// handshake record (for example plaintext HTTP sent to a TLS port).
	ErrNotTLS = errors.New("tls: first record is not a TLS handshake")

	// ErrInputOverflow is returned by Conn.Feed when more than
	// MaxHandshakeBuffered bytes arrive before the handshake has completed.
	ErrInputOverflow = errors.New("tls: too much input buffered during the handshake")

	// ErrConnClosed is returned by Conn methods after Close, and is the
	// handshake error when the owner closed the Conn during the handshake.
	ErrConnClosed = errors.New("tls: connection closed")
)
