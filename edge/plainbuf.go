package edge

import (
	"errors"

	edgetls "github.com/portico-gw/portico/tls"
)

// plainBuf holds decrypted bytes of a TLS session until the parser on top
// consumes them; the client side (tlsSession) and the upstream side
// (upConn) share it.
type plainBuf struct {
	b   []byte
	off int
}

func (p *plainBuf) bytes() []byte { return p.b[p.off:] }
func (p *plainBuf) len() int      { return len(p.b) - p.off }

func (p *plainBuf) consume(n int) {
	p.off += n
	if p.off >= len(p.b) {
		p.b, p.off = p.b[:0], 0
	}
}

// readRecords decrypts every complete record the session holds. It reports
// false when the session failed (anything but "need more ciphertext").
func (p *plainBuf) readRecords(tc *edgetls.Conn) bool {
	for {
		if cap(p.b)-len(p.b) < 16<<10 {
			if p.off > 0 { // compact before growing
				p.b = p.b[:copy(p.b, p.b[p.off:])]
				p.off = 0
			}
			if cap(p.b)-len(p.b) < 16<<10 {
				grown := make([]byte, len(p.b), 2*cap(p.b)+32<<10)
				copy(grown, p.b)
				p.b = grown
			}
		}
		n, err := tc.Read(p.b[len(p.b):cap(p.b)])
		p.b = p.b[:len(p.b)+n]
		if err != nil {
			return errors.Is(err, edgetls.ErrNeedMore)
		}
	}
}
