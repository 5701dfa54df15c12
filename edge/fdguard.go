package edge

import (
	"errors"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The descriptor guard. gnet treats a failed accept(2) other than EAGAIN
// as fatal: its engine stops, and the gateway with it. So a flood of
// connections past what the open-file limit (ulimit -n) allows must never
// reach accept. Two measures keep it from there:
//
//   - the listening sockets' accept queues are left room for: gnet
//     accepts a whole queue in one go before any of it reaches OnOpen, so
//     the queues are the burst the guard must allow for. Where they would
//     take more than a quarter of the table, they are shortened (listen(2)
//     on a socket already listening only changes its backlog);
//   - OnOpen refuses a client connection, and a dial fails, once the
//     gateway's sockets reach the ceiling: the limit less the queues and a
//     reserve for the admin listener, health checks, JWKS fetches and the
//     second descriptor a dial holds while gnet takes it over. Clients get
//     at most half of it, so a flood of them leaves room to reach
//     upstreams (HAProxy sizes its limit at twice maxconn for the same
//     reason).
//
// nginx answers an EMFILE by pausing accept for 500 ms; gnet gives no such
// hook, hence refusing at OnOpen instead.
type fdGuard struct {
	// Set once by setup, before armed; the loops read them only after
	// seeing armed (they already run while the gateway starts).
	limit   int64 // RLIMIT_NOFILE
	ceiling int64 // descriptors the gateway's sockets may bring the process to
	base    int64 // descriptors open once the listeners were set up
	backlog int   // accept queue per listening socket
	sockets int   // listening sockets found (listeners x loops)
	armed   atomic.Bool

	upstreams atomic.Int64
	warnedAt  atomic.Int64
}

// fdReserve is kept free for what the guard does not count: admin
// connections, health checks, JWKS fetches, log files reopened on reload,
// dials being taken over by gnet. Under a small limit it shrinks to an
// eighth of it, so a gateway started with ulimit -n 100 still serves.
const fdReserve = 64

func reserveFor(limit int64) int64 { return min(fdReserve, max(limit/8, 4)) }

// defaultSomaxconn is Linux's accept-queue cap since 5.4, for when
// /proc/sys/net/core/somaxconn cannot be read.
const defaultSomaxconn = 4096

var errFDLimit = errors.New("open-file limit reached (ulimit -n): no descriptor left for an upstream connection")

// setup finds the listening sockets bound to addrs, sizes their accept
// queues, sets the ceiling and arms the guard. Without /proc (or a limit
// it cannot read) the guard stays off.
// gnet binds the loops' sockets after OnBoot: setup waits (up to a
// second) until there are want of them.
func (g *fdGuard) setup(addrs []netip.AddrPort, want int) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY {
		return
	}
	var entries []os.DirEntry
	var listening []int
	for try := 0; try < 100 && len(listening) < want; try++ {
		if try > 0 {
			time.Sleep(10 * time.Millisecond)
		}
		var err error
		if entries, err = os.ReadDir("/proc/self/fd"); err != nil {
			return
		}
		listening = listeningSockets(entries, addrs)
	}
	g.limit = int64(min(rl.Cur, 1<<40))
	g.sockets = len(listening)
	// gnet listens with the kernel's maximum queue (somaxconn); it is
	// lowered only where the queues together would take more than a
	// quarter of the table.
	somaxconn := defaultSomaxconn
	if b, err := os.ReadFile("/proc/sys/net/core/somaxconn"); err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && v > 0 {
			somaxconn = v
		}
	}
	g.backlog = somaxconn
	if n := len(listening); n > 0 && g.limit/4/int64(n) < int64(somaxconn) {
		g.backlog = int(max(g.limit/4/int64(n), 1))
		for _, fd := range listening {
			_ = unix.Listen(fd, g.backlog)
		}
	}
	g.base = int64(len(entries))
	g.ceiling = g.limit - int64(g.sockets*(g.backlog+1)) - reserveFor(g.limit)
	g.armed.Store(true)
}

// listeningSockets returns the descriptors among entries (of
// /proc/self/fd) that are listening sockets bound to one of addrs.
func listeningSockets(entries []os.DirEntry, addrs []netip.AddrPort) []int {
	var listening []int
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || v != 1 {
			continue
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			continue
		}
		if local, ok := sockaddrAddrPort(sa); ok && containsAddrPort(addrs, local) {
			listening = append(listening, fd)
		}
	}
	return listening
}

// room is how many descriptors the gateway's sockets may hold beyond base.
func (g *fdGuard) room() int64 { return g.ceiling - g.base }

// clientRoom reports whether a client connection, already counted in
// clients, may stay open.
func (g *fdGuard) clientRoom(clients int64) bool {
	if !g.armed.Load() {
		return true
	}
	return clients <= g.room()/2 && g.base+clients+g.upstreams.Load() <= g.ceiling
}

// takeUpstream counts a dial about to start, or reports that none may.
func (g *fdGuard) takeUpstream(clients int64) bool {
	n := g.upstreams.Add(1)
	if !g.armed.Load() || g.base+clients+n <= g.ceiling {
		return true
	}
	g.upstreams.Add(-1)
	return false
}

// dropUpstream uncounts an upstream connection that closed, or a dial
// that failed.
func (g *fdGuard) dropUpstream() { g.upstreams.Add(-1) }

func sockaddrAddrPort(sa unix.Sockaddr) (netip.AddrPort, bool) {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)), true
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port)), true
	}
	return netip.AddrPort{}, false
}

func containsAddrPort(list []netip.AddrPort, a netip.AddrPort) bool {
	for _, x := range list {
		if x.Port() == a.Port() && x.Addr().Unmap() == a.Addr().Unmap() {
			return true
		}
	}
	return false
}
