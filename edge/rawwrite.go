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

// writevConn is writeConn for two buffers in one sendmsg(2): what is
// queued for a client (a response head) and a body piece still in the
// upstream's read buffer, which then needs no copy into the queue first.
// b must not be empty.
func writevConn(c gnet.Conn, a, b []byte) {
	if len(a) == 0 {
		writeConn(c, b)
		return
	}
	if c.OutboundBuffered() == 0 {
		iov := [2]unix.Iovec{{Base: unsafe.SliceData(a)}, {Base: unsafe.SliceData(b)}}
		iov[0].SetLen(len(a))
		iov[1].SetLen(len(b))
		msg := unix.Msghdr{Iov: &iov[0]}
		msg.SetIovlen(len(iov))
		n, _, errno := syscall.RawSyscall(unix.SYS_SENDMSG, uintptr(c.Fd()), uintptr(unsafe.Pointer(&msg)), unix.MSG_NOSIGNAL)
		switch {
		case errno == 0 && int(n) == len(a)+len(b):
			return
		case errno == 0 && int(n) < len(a):
			a = a[n:]
		case errno == 0:
			a, b = nil, b[int(n)-len(a):]
		case errno != unix.EAGAIN && errno != unix.EINTR:
			_ = c.Close()
			return
		}
	}
	if len(a) > 0 {
		_, _ = c.Write(a)
	}
	_, _ = c.Write(b)
}
