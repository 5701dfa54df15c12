package edge

import (
	"context"
	"net/netip"
	"reflect"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Stopping to accept on drain (SPEC §1: "stop accepting"). gnet has no API
// to close one listener while its loops keep serving, so, as pause.go does
// for read interest, Portico reaches into gnet's state (pinned v2.9.7:
// Engine.eng.eventLoops, a load balancer over []*eventloop, each with its
// poller's fd and its listeners keyed by fd; with SO_REUSEPORT every loop
// has its own listening sockets). On each loop, as a task of that loop,
// the listening sockets leave the epoll set and are shut down: the kernel
// then refuses new connections (RST to the SYN) instead of completing
// handshakes nobody will serve. It must run on the loop: a listener event
// already taken from epoll and handled after the shutdown would fail its
// accept, and gnet stops a loop whose accept fails. gnet still closes the
// descriptors when the engine stops.

// engineLoop is one gnet event loop as stopAccepting needs it.
type engineLoop struct {
	el        gnet.EventLoop
	epfd      int
	listeners []int
}

// engineLoops reads eng's loops; ok is false if gnet's layout is not the
// expected one, and draining then falls back to closing at accept.
func engineLoops(eng gnet.Engine) (loops []engineLoop, ok bool) {
	defer func() {
		if recover() != nil {
			loops, ok = nil, false
		}
	}()
	e := reflect.ValueOf(eng).FieldByName("eng")
	if e.Kind() != reflect.Pointer || e.IsNil() {
		return nil, false
	}
	lb := e.Elem().FieldByName("eventLoops")
	if lb.Kind() != reflect.Interface || lb.IsNil() {
		return nil, false
	}
	lb = lb.Elem()
	if lb.Kind() != reflect.Pointer || lb.IsNil() {
		return nil, false
	}
	els := lb.Elem().FieldByName("eventLoops")
	if els.Kind() != reflect.Slice {
		return nil, false
	}
	for i := 0; i < els.Len(); i++ {
		v := els.Index(i)
		if v.Kind() != reflect.Pointer || v.IsNil() {
			return nil, false
		}
		// A value read through unexported fields cannot be turned into an
		// interface; one made at the same address can.
		el, isLoop := reflect.NewAt(v.Type().Elem(), v.UnsafePointer()).Interface().(gnet.EventLoop)
		if !isLoop {
			return nil, false
		}
		poller := v.Elem().FieldByName("poller")
		if poller.Kind() != reflect.Pointer || poller.IsNil() {
			return nil, false
		}
		epfd := poller.Elem().FieldByName("fd")
		lns := v.Elem().FieldByName("listeners")
		if epfd.Kind() != reflect.Int || lns.Kind() != reflect.Map {
			return nil, false
		}
		l := engineLoop{el: el, epfd: int(epfd.Int())}
		for _, k := range lns.MapKeys() {
			if k.Kind() != reflect.Int {
				return nil, false
			}
			l.listeners = append(l.listeners, int(k.Int()))
		}
		loops = append(loops, l)
	}
	return loops, len(loops) > 0
}

// stopAccepting shuts every loop's listening sockets bound to one of only
// (all of them when only is nil) and reports how many it shut; it waits at
// most a second for the loops to run the task.
func (s *Server) stopAccepting(only map[netip.AddrPort]bool) int {
	// gnet registers its loops before it starts them, and every loop that
	// has served a connection took loopsMu since: taking it here orders
	// that registration before the read.
	s.loopsMu.Lock()
	//lint:ignore SA2001 the empty critical section is the point: ordering
	s.loopsMu.Unlock()
	loops, ok := engineLoops(s.eng)
	if !ok {
		s.log.Warn("cannot stop accepting on drain (gnet layout changed); connections are closed at accept instead")
		return 0
	}
	done := make(chan int, len(loops))
	for _, l := range loops {
		l := l
		err := l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			n := 0
			for _, fd := range l.listeners {
				if only != nil && !only[boundAddr(fd)] {
					continue
				}
				if unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil) == nil && unix.Shutdown(fd, unix.SHUT_RD) == nil {
					n++
				}
			}
			done <- n
			return nil
		}))
		if err != nil {
			done <- 0
		}
	}
	total := 0
	timeout := time.After(time.Second)
	for range loops {
		select {
		case n := <-done:
			total += n
		case <-timeout:
			return total
		}
	}
	return total
}

// boundAddr is the local address of the socket fd (IPv4 unmapped, as
// boundListener.addr is), or the zero AddrPort.
func boundAddr(fd int) netip.AddrPort {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	return netip.AddrPort{}
}
