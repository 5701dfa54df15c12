package tls

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// Client runs a TLS client handshake over the established connection nc on
// the calling goroutine, which must not be an event loop (it blocks up to
// timeout), and returns a Conn that the loop then drives exactly like a
// server Conn whose handshake is done: Feed, Read, Write, TakeOutput,
// Close. Bytes crypto/tls read past the handshake stay inside the Conn.
// nc stays the caller's (gnet enrolls a duplicate of its descriptor).
// cfg is typically from NewClientConfig.
func Client(nc net.Conn, cfg *tls.Config, timeout time.Duration) (*Conn, error) {
	c := &Conn{}
	c.t.c = c
	c.t.remote, c.t.local = nc.RemoteAddr(), nc.LocalAddr()
	c.t.cond.L = &c.t.mu
	c.t.maxRecord = maxCiphertextRecord
	c.t.direct = nc
	c.tc = tls.Client(&c.t, cfg)
	if timeout > 0 {
		_ = nc.SetDeadline(time.Now().Add(timeout))
	}
	err := c.tc.Handshake()
	_ = nc.SetDeadline(time.Time{})
	c.t.setMaxRecord(c.tc, err)
	c.t.mu.Lock()
	c.t.direct = nil
	c.t.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("cannot complete TLS handshake with %s: %w", nc.RemoteAddr(), err)
	}
	c.state.Store(stateDone)
	return c, nil
}
