package edge

import (
	"errors"
	"io"

	edgetls "github.com/portico-gw/portico/tls"
)

// plainBuf holds decrypted bytes of a TLS session until the parser on top
// consumes them; the client side (tlsSession) and the upstream side
// (upConn) share it.
//
// A callback decrypts into its loop's shared scratch (one plainBuf holds
// it at a time), and settle, at the end of the callback, moves what the
// owner left unread into the connection's own small buffer, as gnet does
// with its read buffer. So an idle TLS connection keeps no plaintext
// buffer: it used to keep the 32 KiB its first read grew, which was most
// of an idle TLS connection's memory.
type plainBuf struct {
	b   []byte // unread plaintext is b[off:]
	off int
	own []byte // the connection's storage for leftovers, reused; nil when none was needed
	lp  *loop  // set while b is lp.plainScratch
}

// plainKeepCap is the largest own buffer a drained plainBuf keeps for
// reuse; a larger one (a paused upload's backlog) is freed once drained.
const plainKeepCap = 4 << 10

// plainScratchSize holds what one event can decrypt (gnet reads at most
// 64 KiB per event) plus the 16 KiB of room readRecords wants per record.
const plainScratchSize = 96 << 10

func (p *plainBuf) bytes() []byte { return p.b[p.off:] }
func (p *plainBuf) len() int      { return len(p.b) - p.off }

func (p *plainBuf) consume(n int) {
	p.off += n
	if p.off >= len(p.b) {
		p.b, p.off = p.b[:0], 0
		if p.lp == nil && cap(p.own) > plainKeepCap {
			p.b, p.own = nil, nil
		}
	}
}

// readRecords decrypts every complete record the session holds. ok is
// false when the session failed (anything but "need more ciphertext" or the
// peer's close_notify); eof reports the close_notify, after which no more
// comes: the plaintext that arrived before it, often in the same read (a
// request or a response followed by the peer's close), is kept for the
// owner to read before the connection closes.
func (p *plainBuf) readRecords(tc *edgetls.Conn, lp *loop) (ok, eof bool) {
	p.acquireScratch(lp)
	for {
		if cap(p.b)-len(p.b) < 16<<10 {
			if p.off > 0 { // compact before growing
				p.b = p.b[:copy(p.b, p.b[p.off:])]
				p.off = 0
			}
			if cap(p.b)-len(p.b) < 16<<10 {
				grown := make([]byte, len(p.b), 2*cap(p.b)+32<<10)
				copy(grown, p.b)
				p.releaseScratch()
				p.b, p.own = grown, grown
			}
		}
		n, err := tc.Read(p.b[len(p.b):cap(p.b)])
		p.b = p.b[:len(p.b)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return true, true
			}
			return errors.Is(err, edgetls.ErrNeedMore), false
		}
	}
}

// settle ends the callback's use of the loop's scratch: what the owner
// left unread moves to the connection's own buffer. Call it before the
// callback that decrypted returns.
func (p *plainBuf) settle() {
	if p.lp == nil {
		return
	}
	rest := p.b[p.off:]
	p.releaseScratch()
	p.off = 0
	if len(rest) == 0 {
		if cap(p.own) > plainKeepCap {
			p.own = nil
		}
		p.b = p.own[:0]
		return
	}
	if cap(p.own) < len(rest) {
		p.own = make([]byte, 0, max(len(rest), plainKeepCap))
	}
	p.b = append(p.own[:0], rest...)
}

// acquireScratch switches an empty plainBuf to the loop's scratch, unless
// another plainBuf holds it (a callback nested in another's, such as a
// paused upstream resumed from a client's callback): that one keeps
// using its own buffer.
func (p *plainBuf) acquireScratch(lp *loop) {
	if p.len() == 0 && p.lp == nil && lp.plainHolder == nil {
		p.b, p.off, p.lp = lp.plainScratch[:0], 0, lp
		lp.plainHolder = p
	}
}

func (p *plainBuf) releaseScratch() {
	if p.lp != nil {
		p.lp.plainHolder, p.lp = nil, nil
	}
}
