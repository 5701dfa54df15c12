package edge

import (
	"reflect"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Bounded buffering (DESIGN.md principle 8). When the side we write to has
// more than highWater bytes queued in gnet's outbound buffer, we stop
// reading the side we copy from, and start again below lowWater. gnet has no
// pause API, so pausing changes the connection's epoll interest set directly:
// the loop's epoll fd is read once per loop from gnet's poller (pinned gnet
// v2.9.7, default poller build, which stores the fd in epoll_event.Fd).
// While paused, unread bytes stay in the kernel socket buffer and TCP flow
// control slows the sender. gnet re-arms EPOLLIN by itself after it flushes a
// paused connection's own outbound buffer; onTraffic then re-pauses at a cost
// of at most one read (64 KiB) into gnet's inbound buffer.
//
// The alternative DESIGN.md describes (Dup the fd, Close the gnet conn,
// Enroll the dup later) costs three syscalls plus a goroutine hand-off per
// pause and changes the connection's identity; an epoll_ctl per transition
// is one syscall and keeps every pointer valid.
const (
	highWater = 1 << 20
	lowWater  = 256 << 10
)

// pipelineSlack is what a client may pipeline beyond one full head while
// its current exchange waits: dozens of ordinary requests, but not the
// megabyte per connection that let a few hundred pipelining clients hold
// hundreds of MiB (HAProxy holds two 16 KiB buffers, nginx a few 8 KiB
// ones). Reading resumes below half of it.
const pipelineSlack = 64 << 10

// epollFD digs the loop's epoll descriptor out of gnet's unexported poller:
// conn.loop.poller.fd. It returns -1 if the layout is not what we expect, in
// which case pausing is disabled and buffering falls back to gnet's growth.
func epollFD(c gnet.Conn) int {
	defer func() { _ = recover() }()
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer {
		return -1
	}
	loop := v.Elem().FieldByName("loop")
	if !loop.IsValid() || loop.Kind() != reflect.Pointer || loop.IsNil() {
		return -1
	}
	poller := loop.Elem().FieldByName("poller")
	if !poller.IsValid() || poller.Kind() != reflect.Pointer || poller.IsNil() {
		return -1
	}
	fd := poller.Elem().FieldByName("fd")
	if !fd.IsValid() || fd.Kind() != reflect.Int {
		return -1
	}
	return int(fd.Int())
}

// setReadInterest turns EPOLLIN on or off for c, keeping EPOLLOUT while gnet
// still has bytes to flush for it.
func (lp *loop) setReadInterest(c gnet.Conn, read bool) bool {
	if lp.epfd == 0 {
		lp.epfd = epollFD(c)
	}
	if lp.epfd < 0 {
		return false
	}
	var ev uint32
	if read {
		ev = unix.EPOLLIN | unix.EPOLLPRI
	}
	if c.OutboundBuffered() > 0 {
		ev |= unix.EPOLLOUT
	}
	fd := c.Fd()
	return unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Fd: int32(fd), Events: ev}) == nil
}

// pauseUpstream stops reading uc until its client drains (slow reader).
func (lp *loop) pauseUpstream(uc *upConn) {
	if uc.paused || uc.gc == nil || !lp.setReadInterest(uc.gc, false) {
		return
	}
	uc.paused = true
	uc.stallSince = time.Time{}
	lp.pausedUp = append(lp.pausedUp, uc)
	lp.pausedN.Add(1)
	lp.wakeBy(lp.nanos() + int64(pausedTick))
}

// pauseClient stops reading cc until its upstream drains (slow upstream), or
// until its current exchange ends (pipelined bytes piling up).
func (lp *loop) pauseClient(cc *clientConn) {
	if cc.paused || cc.closed {
		return
	}
	// An HTTP/2 stream needs no syscall: while paused its DATA stays
	// unconsumed, so no WINDOW_UPDATE goes out and flow control holds the
	// client back.
	if cc.raw != nil && !lp.setReadInterest(cc.raw, false) {
		return
	}
	cc.paused = true
	lp.pausedClients = append(lp.pausedClients, cc)
	lp.pausedN.Add(1)
	lp.wakeBy(lp.nanos() + int64(pausedTick))
}

// resumePaused runs on every tick: connections whose sink drained read again.
func (lp *loop) resumePaused() {
	if len(lp.stalledH2) > 0 {
		kept := lp.stalledH2[:0]
		for _, h := range lp.stalledH2 {
			if !h.closed && h.gc.OutboundBuffered() >= lowWater {
				kept = append(kept, h)
				continue
			}
			h.stalled = false
			h.markDirty()
		}
		clear(lp.stalledH2[len(kept):])
		lp.stalledH2 = kept
	}
	lp.stalledN.Store(int32(len(lp.stalledH2)))
	// Each list is detached while it is walked: resuming one entry can
	// pause it (or another) again, which appends to a fresh list that is
	// merged back after the walk instead of being overwritten by it.
	if len(lp.pausedUp) > 0 {
		list := lp.pausedUp
		lp.pausedUp = nil
		kept := list[:0]
		for _, uc := range list {
			cc := uc.cc
			switch {
			case uc.dead || cc == nil || cc.closed:
				uc.paused = false
				lp.pausedN.Add(-1)
			case cc.gc.OutboundBuffered() < lowWater:
				uc.paused = false
				lp.pausedN.Add(-1)
				lp.setReadInterest(uc.gc, true)
				switch {
				case !uc.readAndPump(): // bytes already in gnet's inbound buffer raise no event
					uc.dead, uc.broken = true, true // onClose ends the exchange
					_ = uc.gc.Close()
				case uc.dead:
					uc.discard()
				}
			case cc.clientStalled(uc, sendStallTimeout(cc.listener().idleTimeout)):
				// The client has read nothing of the answer for that
				// long: the connection (and the upstream one) must not
				// be held for ever (nginx's send_timeout).
				uc.paused = false
				lp.pausedN.Add(-1)
				cc.cutAnswer(errClientStalled)
			default:
				kept = append(kept, uc)
			}
		}
		clear(list[len(kept):])
		lp.pausedUp = append(kept, lp.pausedUp...)
	}
	if len(lp.pausedClients) > 0 {
		list := lp.pausedClients
		lp.pausedClients = nil
		kept := list[:0]
		for _, cc := range list {
			switch {
			case cc.closed:
				cc.paused = false
				lp.pausedN.Add(-1)
			case cc.canResume():
				cc.paused = false
				lp.pausedN.Add(-1)
				if cc.raw != nil {
					lp.setReadInterest(cc.raw, true)
				}
				cc.process()
			default:
				kept = append(kept, cc)
			}
		}
		clear(list[len(kept):])
		lp.pausedClients = append(kept, lp.pausedClients...)
	}
}

// clientStalled reports whether the client behind a paused upstream has
// taken none of its queued answer for timeout. While uc is paused nothing
// is added to that queue, so any shrinking is the client reading. The
// queue counts the socket's kernel send queue too: a client reading
// slowly drains the kernel buffers (megabytes) long before gnet's own
// queue moves, and judged on gnet's queue alone it looked stalled.
//
// Paused connections are visited every few milliseconds; the look (an
// ioctl) is taken at most once a second per connection.
func (cc *clientConn) clientStalled(uc *upConn, timeout time.Duration) bool {
	now := cc.lp.now()
	if !uc.stallSince.IsZero() && now.Sub(uc.stallLook) < time.Second {
		return false
	}
	uc.stallLook = now
	out := cc.gc.OutboundBuffered() + kernelSendQueue(cc.socket())
	if uc.stallSince.IsZero() || out < uc.stallOut {
		uc.stallSince, uc.stallOut = now, out
		return false
	}
	return now.Sub(uc.stallSince) >= timeout
}

// sendStallTimeout is how long a client may read nothing of an answer:
// idle_timeout, but at least a minute (nginx's send_timeout), since the
// kernel reports a slow reader's progress only as its receive window
// reopens, which can take tens of seconds at low rates.
func sendStallTimeout(idle time.Duration) time.Duration {
	return max(idle, time.Minute)
}

// socket is the client's TCP socket: its own, or its HTTP/2 connection's.
func (cc *clientConn) socket() gnet.Conn {
	if cc.raw != nil {
		return cc.raw
	}
	if sio, ok := cc.gc.(*streamIO); ok {
		switch c := sio.h.gc.(type) {
		case gnet.Conn:
			return c
		case *tlsSession:
			return c.raw
		}
	}
	return nil
}

// kernelSendQueue is what c's socket holds unsent or unacknowledged.
func kernelSendQueue(c gnet.Conn) int {
	if c == nil {
		return 0
	}
	n, err := unix.IoctlGetInt(c.Fd(), unix.SIOCOUTQ)
	if err != nil {
		return 0
	}
	return n
}

// canResume: the upstream we feed has drained, or the exchange that made us
// hold pipelined bytes is over.
func (cc *clientConn) canResume() bool {
	switch cc.state {
	case stateBody:
		uc := cc.uc
		if uc == nil {
			return true
		}
		resume := cc.upstreamBacklogLimit() / (highWater / lowWater)
		if uc.gc == nil {
			return len(uc.pending) < resume
		}
		return uc.gc.OutboundBuffered() < resume
	case stateAwait, stateKeyWait:
		// Paused for pipelined bytes: read again once they are mostly
		// served, without waiting for a gap between exchanges.
		return cc.gc.InboundBuffered() < pipelineSlack/2
	case stateIdle, stateHead:
		// Paused for answers the client had not read (processBuffered).
		return cc.gc.OutboundBuffered() < lowWater
	}
	return true
}

// upstreamBacklogged reports whether the upstream leg has more queued than
// upstreamBacklogLimit, so the client should stop being read.
func (cc *clientConn) upstreamBacklogged() bool {
	uc := cc.uc
	if uc == nil {
		return false
	}
	if uc.gc == nil {
		return len(uc.pending) > cc.upstreamBacklogLimit()
	}
	return uc.gc.OutboundBuffered() > cc.upstreamBacklogLimit()
}

// upstreamBacklogLimit is how much request body may wait for the upstream
// before the client stops being read: highWater, or for an HTTP/2 stream
// its share of the connection's budget, the share that bounds its
// buffered response too (streamShare): many uploads on one connection to
// slow upstreams hold no more than that connection's budget.
func (cc *clientConn) upstreamBacklogLimit() int {
	if cc.raw == nil {
		if sio, ok := cc.gc.(*streamIO); ok {
			return sio.h.streamShare()
		}
	}
	return highWater
}
