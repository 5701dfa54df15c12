package edge

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
)

type bootCapture struct {
	gnet.BuiltinEventEngine
	booted chan gnet.Engine
	opened chan struct{}
}

// OnOpen runs on a loop, which gnet starts after registering every loop:
// the signal orders that registration before engineLoops reads it.
func (b *bootCapture) OnOpen(gnet.Conn) ([]byte, gnet.Action) {
	select {
	case b.opened <- struct{}{}:
	default:
	}
	return nil, gnet.None
}

func (b *bootCapture) OnBoot(eng gnet.Engine) gnet.Action {
	b.booted <- eng
	return gnet.None
}

// engineLoops must find every loop of the pinned gnet version with its own
// listening sockets, and stopAccepting must make the ports it is given
// refuse connections (a reload retiring a listener), then all of them (a
// drain), while the engine keeps running.
func TestStopAcceptingRefusesNewConnections(t *testing.T) {
	var addrs [2]string
	var probes [2]net.Listener
	for i := range addrs {
		probe, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i], probes[i] = probe.Addr().String(), probe
	}
	for _, p := range probes {
		p.Close() // both held until now, so they got two ports
	}
	h := &bootCapture{booted: make(chan gnet.Engine, 1), opened: make(chan struct{}, 1)}
	runErr := make(chan error, 1)
	go func() {
		runErr <- gnet.Rotate(h, []string{"tcp://" + addrs[0], "tcp://" + addrs[1]}, gnet.WithNumEventLoop(2), gnet.WithReusePort(true))
	}()
	var eng gnet.Engine
	select {
	case eng = <-h.booted:
	case err := <-runErr:
		t.Fatalf("gnet: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("gnet did not boot")
	}
	defer func() {
		_ = eng.Stop(context.Background())
		<-runErr
	}()
	// OnBoot runs before gnet starts its loops: wait for one to serve.
	var c net.Conn
	for deadline := time.Now().Add(3 * time.Second); c == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c, _ = net.DialTimeout("tcp", addrs[0], time.Second)
	}
	if c == nil {
		t.Fatal("the engine does not accept")
	}
	c.Close()
	select {
	case <-h.opened:
	case <-time.After(3 * time.Second):
		t.Fatal("no OnOpen")
	}
	loops, ok := engineLoops(eng)
	if !ok || len(loops) != 2 {
		t.Fatalf("engineLoops: %d loops, ok %v", len(loops), ok)
	}
	for i, l := range loops {
		if l.epfd <= 0 || len(l.listeners) != 2 || l.el == nil {
			t.Fatalf("loop %d: %+v", i, l)
		}
	}
	refused := func(addr string) bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if c != nil {
			c.Close()
		}
		return err != nil && strings.Contains(err.Error(), "refused")
	}
	s := &Server{eng: eng, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	first := netip.MustParseAddrPort(addrs[0])
	if n := s.stopAccepting(map[netip.AddrPort]bool{first: true}); n != 2 {
		t.Fatalf("stopAccepting(%s) shut %d sockets, want 2 (one per loop)", first, n)
	}
	if !refused(addrs[0]) || refused(addrs[1]) {
		t.Fatalf("after the first: %s refused %v, %s refused %v; want only the first", addrs[0], refused(addrs[0]), addrs[1], refused(addrs[1]))
	}
	if n := s.stopAccepting(nil); n != 2 {
		t.Fatalf("stopAccepting(nil) shut %d more sockets, want 2", n)
	}
	if !refused(addrs[1]) {
		t.Fatalf("after all: %s still accepts", addrs[1])
	}
	select {
	case err := <-runErr:
		t.Fatalf("the engine stopped: %v", err)
	default:
	}
}
