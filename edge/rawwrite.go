package edge

import (
	"syscall"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// writeConn writes b to a gnet connection, first trying one raw send(2)
// when gnet has nothing queued for it. gnet's own Write goes through the Go
// scheduler's syscall enter/exit, which on a loop pinned to one core wakes
// sysmon and a futex hand-off per call; a raw send of a few KiB on a
// non-blocking socket returns at once. sendto rather than write: it goes
// straight to the socket layer, skipping the VFS write path and its file
// position handling (fdget_pos, vfs_write: about 1.5% of the proxy's CPU
// in a profile), and MSG_NOSIGNAL spares a SIGPIPE on a peer that has
// gone. Whatever the raw send does not take
// (EAGAIN, a short write) goes through gnet's Write, which queues it.
//
// A send that fails for good (the peer reset, EPIPE) closes the connection
// asynchronously, after the current callback: gnet's Write would close it
// right here, running its OnClose inside whatever pipeline step is writing
// (a request body half forwarded, an answer half written), which then
// carried on with an exchange that had ended under it, and wrote to a
// descriptor already closed (and perhaps reused by another connection).
func writeConn(c gnet.Conn, b []byte) {
	if len(b) == 0 {
		return
	}
	if c.OutboundBuffered() == 0 {
		n, _, errno := syscall.RawSyscall6(unix.SYS_SENDTO, uintptr(c.Fd()), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
			unix.MSG_NOSIGNAL, 0, 0)
		switch {
		case errno == 0 && int(n) == len(b):
			return
		case errno == 0:
			b = b[n:]
		case errno != unix.EAGAIN && errno != unix.EINTR:
			_ = c.Close()
			return
		}
	}
	_, _ = c.Write(b)
}

// writevConn is writeConn for queued bytes (a response head) followed by
// up to three parts (a body piece still in the upstream's read buffer,
// with its chunk framing) in one sendmsg(2): the parts need no copy into
// the queue first. Empty buffers are skipped.
func writevConn(c gnet.Conn, queued []byte, parts ...[]byte) {
	var iov [4]unix.Iovec
	if len(parts) >= len(iov) { // not a caller's case; stay correct anyway
		writeConn(c, queued)
		for _, b := range parts {
			writeConn(c, b)
		}
		return
	}
	n, total := 0, 0
	add := func(b []byte) {
		if len(b) > 0 {
			iov[n].Base = unsafe.SliceData(b)
			iov[n].SetLen(len(b))
			n++
			total += len(b)
		}
	}
	add(queued)
	for _, b := range parts {
		add(b)
	}
	sent := 0
	if n > 0 && c.OutboundBuffered() == 0 {
		msg := unix.Msghdr{Iov: &iov[0]}
		msg.SetIovlen(n)
		k, _, errno := syscall.RawSyscall(unix.SYS_SENDMSG, uintptr(c.Fd()), uintptr(unsafe.Pointer(&msg)), unix.MSG_NOSIGNAL)
		switch {
		case errno == 0 && int(k) == total:
			return
		case errno == 0:
			sent = int(k)
		case errno != unix.EAGAIN && errno != unix.EINTR:
			_ = c.Close()
			return
		}
	}
	// Queue what the socket did not take, in order (gnet copies it).
	queue := func(b []byte) {
		k := min(sent, len(b))
		sent -= k
		if k < len(b) {
			_, _ = c.Write(b[k:])
		}
	}
	queue(queued)
	for _, b := range parts {
		queue(b)
	}
}
