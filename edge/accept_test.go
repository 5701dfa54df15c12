package edge

import (
	"context"
	"io"
	"log/slog"
	"net"
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
// listening socket, and stopAccepting must make the port refuse
// connections while the engine keeps running.
func TestStopAcceptingRefusesNewConnections(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()
	h := &bootCapture{booted: make(chan gnet.Engine, 1), opened: make(chan struct{}, 1)}
	runErr := make(chan error, 1)
	go func() {
		runErr <- gnet.Run(h, "tcp://"+addr, gnet.WithNumEventLoop(2), gnet.WithReusePort(true))
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
		c, _ = net.DialTimeout("tcp", addr, time.Second)
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
		if l.epfd <= 0 || len(l.listeners) != 1 || l.el == nil {
			t.Fatalf("loop %d: %+v", i, l)
		}
	}
	s := &Server{eng: eng, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if n := s.stopAccepting(); n != 2 {
		t.Fatalf("stopAccepting shut %d sockets, want 2", n)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil || !strings.Contains(err.Error(), "refused") {
		if c != nil {
			c.Close()
		}
		t.Fatalf("after: %v, want connection refused", err)
	}
	select {
	case err := <-runErr:
		t.Fatalf("the engine stopped: %v", err)
	default:
	}
}
