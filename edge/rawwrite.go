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
