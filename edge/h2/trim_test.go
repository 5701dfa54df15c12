package h2

import (
	"strings"
	"testing"
)

// A burst of large answers grows the connection's output and header-block
// buffers; once sent, Trim lets them go (an idle connection that had 64
// streams answer 60 KB heads kept 3.3 MiB), and keeps them while bytes are
// still queued.
func TestTrimDropsGrownBuffers(t *testing.T) {
	cl := newClient(t, Config{})
	cl.handshake()
	cl.app.body = []byte(strings.Repeat("b", 100<<10)) // each answer 100 KiB
	cl.noDrain = true
	cl.headers(1, true, reqFields("GET", "/")...)
	cl.sync()
	if cap(cl.c.out) <= outKeepMax {
		t.Fatalf("output buffer only %d bytes after a 100 KiB answer", cap(cl.c.out))
	}
	if !cl.c.Trim() || cap(cl.c.out) <= outKeepMax {
		t.Fatal("Trim dropped an output buffer still holding bytes")
	}
	cl.noDrain = false
	cl.drain()
	if cl.c.Trim() || cap(cl.c.out) > outKeepMax {
		t.Fatalf("after the output left, Trim kept %d bytes", cap(cl.c.out))
	}
	// The connection goes on working with fresh buffers.
	cl.app.body = nil
	cl.headers(3, true, reqFields("GET", "/")...)
	if res, _ := cl.collect(1, 3); res[3].status != "200" || string(res[3].body) != "ok" {
		t.Fatalf("after Trim: %v", res[3])
	}
	// Closed streams pooled beyond streamKeep go too: ten at once, ended.
	cl = newClient(t, Config{})
	cl.handshake()
	for id := uint32(5); id < 25; id += 2 {
		cl.headers(id, true, reqFields("GET", "/hold")...)
	}
	cl.sync()
	for id := uint32(5); id < 25; id += 2 {
		cl.app.release(id)
	}
	cl.drain()
	if len(cl.c.free) < 10 {
		t.Fatalf("%d closed streams pooled after ten at once", len(cl.c.free))
	}
	cl.c.Trim()
	if len(cl.c.free) > streamKeep {
		t.Fatalf("%d closed streams still pooled after Trim, want at most %d", len(cl.c.free), streamKeep)
	}
}
