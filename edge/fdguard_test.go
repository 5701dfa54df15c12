package edge

import (
	"net"
	"net/netip"
	"testing"
)

// TestFDGuard sets the guard up on a real listening socket and checks its
// arithmetic: the queue is sized, clients get half the room, dials the
// rest, and a dial refused is not counted.
func TestFDGuard(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var g fdGuard
	if !g.clientRoom(1 << 40) {
		t.Fatal("an unarmed guard refused")
	}
	g.setup([]netip.AddrPort{netip.MustParseAddrPort(ln.Addr().String())}, 1)
	if !g.armed.Load() {
		t.Skip("no /proc or no open-file limit here")
	}
	if g.sockets != 1 || g.backlog < 1 || g.backlog > defaultSomaxconn*16 {
		t.Fatalf("found %d listening sockets, queue %d", g.sockets, g.backlog)
	}
	room := g.room()
	if room <= 0 || g.ceiling != g.limit-int64(g.backlog+1)-reserveFor(g.limit) {
		t.Fatalf("limit %d, ceiling %d, base %d", g.limit, g.ceiling, g.base)
	}
	if !g.clientRoom(room/2) || g.clientRoom(room/2+1) {
		t.Errorf("clients: room %d, half of it must fit and no more", room)
	}
	clients := room / 2
	taken := int64(0)
	for taken < room && g.takeUpstream(clients) {
		taken++
	}
	if taken != room-clients || g.upstreams.Load() != taken {
		t.Errorf("%d dials allowed with %d clients in a room of %d (counted %d)", taken, clients, room, g.upstreams.Load())
	}
	g.dropUpstream()
	if !g.takeUpstream(clients) {
		t.Error("a dial after one closed was refused")
	}
}
