// Package tls owns Portico's TLS termination: certificates loaded from
// files and picked by SNI, ALPN, mTLS verification, session ticket keys
// rotated and shared by all event loops, the event-loop TLS adapter (Conn),
// the SPEC §3 client-certificate identity values, and the upstream client
// configuration. It imports only the standard library. Importers alias it
// edgetls, since it collides with crypto/tls.
//
// # Objects and their lifetimes
//
// A Server is immutable and shared by all loops. A reload builds a new one
// with NewServer(cfg, prev); on error the caller keeps prev. Connections
// keep the Server they were created by.
//
// A HandshakeLimiter caps the handshake goroutines of one loop and counts
// them for metrics. It outlives reloads.
//
// A Conn is one connection. crypto/tls's handshake is straight-line code, so
// it runs on a short-lived goroutine whose transport parks until the loop
// feeds bytes; a handshake holds one of the limiter's CPU slots only while
// computing, not while it waits for the peer. Once the handshake is done no
// goroutine is involved: records are decrypted on the loop from fed
// ciphertext (crypto/tls keeps a partial record when its transport returns
// a Temporary net.Error, which is what ErrNeedMore is) and encrypted into
// an output buffer the loop drains.
//
// # Who may call what
//
//	Conn.Feed, FeedInto, Settle, Read, Write, WriteInto,
//	TakeOutput, Close, State,
//	VerifiedClientCert            the loop that owns the connection only
//	Conn.HandshakeDone, HandshakeErr  any goroutine
//	the wake func given to NewConn    called by the handshake goroutine only
//	Server, HandshakeLimiter methods  any goroutine
//
// # Owner's routine (gnet)
//
// OnOpen: c := srv.NewConn(remote, local, loopLimiter, func() { _ = gc.Wake(nil) }).
// OnTraffic (also run by Wake):
//
//	Feed(all bytes from Peek), then Discard them; on error close.
//	out := TakeOutput(); gc.Write(out) if non-empty.
//	if err := HandshakeErr(); err != nil { close }
//	if !HandshakeDone() { return }  // wait for the next wake or bytes
//	loop Read(buf) until ErrNeedMore; process; Write responses.
//	out = TakeOutput(); gc.Write(out).  // also carries KeyUpdate answers
//
// To keep no per-connection buffers sized for a burst, a loop may pass
// its own scratch buffers once the handshake is done: FeedInto(inScratch,
// b) instead of Feed, then Settle after the Reads (before inScratch is
// used again); and WriteInto(outScratch, p), sending what it returns,
// instead of Write and TakeOutput.
//
// OnClose: Close() (stops a running handshake). For a graceful close call
// Close, send TakeOutput (close_notify), then close the socket.
package tls
