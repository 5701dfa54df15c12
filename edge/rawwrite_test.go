package edge

import (
	"bytes"
	"testing"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// queueConn is the part of a gnet.Conn writevConn uses: a real socket
// for the direct send, and Write as gnet's queue.
type queueConn struct {
	gnet.Conn
	fd     int
	queued bytes.Buffer
	closed bool
}

func (q *queueConn) Fd() int                                     { return q.fd }
func (q *queueConn) OutboundBuffered() int                       { return q.queued.Len() }
func (q *queueConn) Write(b []byte) (int, error)                 { return q.queued.Write(b) }
func (q *queueConn) Close() error                                { q.closed = true; return nil }
func (q *queueConn) AsyncWrite([]byte, gnet.AsyncCallback) error { return nil }

// TestWritevConnPartial: whatever the socket takes, the bytes that reach
// the peer followed by those queued are the queued bytes and the parts, in
// order, and nothing is sent directly once something is queued.
func TestWritevConnPartial(t *testing.T) {
	head := bytes.Repeat([]byte("h"), 300)
	chunk := []byte("4000\r\n")
	body := make([]byte, 1<<20)
	for i := range body {
		body[i] = byte(i % 251)
	}
	want := bytes.Join([][]byte{head, chunk, body, []byte("\r\n")}, nil)
	for _, sndbuf := range []int{0, 4096, 64 << 10} {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		if sndbuf > 0 {
			_ = unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, sndbuf)
		}
		q := &queueConn{fd: fds[0]}
		writevConn(q, head, chunk, body, []byte("\r\n"))
		writevConn(q, nil, []byte("after")) // queued behind, never sent around the queue
		var got bytes.Buffer
		buf := make([]byte, 64<<10)
		for {
			n, err := unix.Read(fds[1], buf)
			if n <= 0 || err != nil {
				break
			}
			got.Write(buf[:n])
		}
		got.Write(q.queued.Bytes())
		unix.Close(fds[0])
		unix.Close(fds[1])
		if !bytes.Equal(got.Bytes(), append(bytes.Clone(want), "after"...)) || q.closed {
			t.Fatalf("SO_SNDBUF %d: %d bytes arrived in order? %v (closed %v)", sndbuf, got.Len(), bytes.HasPrefix(got.Bytes(), want), q.closed)
		}
	}
}
