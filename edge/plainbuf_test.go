package edge

import (
	"bytes"
	"testing"
	"unsafe"
)

func inScratch(lp *loop, b []byte) bool {
	if cap(b) == 0 {
		return false
	}
	s := lp.plainScratch[:cap(lp.plainScratch)]
	start, end := uintptr(unsafe.Pointer(&s[0])), uintptr(unsafe.Pointer(&s[0]))+uintptr(len(s))
	p := uintptr(unsafe.Pointer(&b[:cap(b)][0]))
	return p >= start && p < end
}

// The plaintext of a callback lives in the loop's scratch only until the
// callback ends: fully read, the connection keeps no buffer; partly read,
// the rest moves to the connection's own small buffer and the scratch is
// free for the next connection.
func TestPlainBufSettle(t *testing.T) {
	lp := &loop{plainScratch: make([]byte, 0, plainScratchSize)}

	var a plainBuf
	a.acquireScratch(lp)
	if !inScratch(lp, a.b) || lp.plainHolder != &a {
		t.Fatal("an empty plainBuf did not take the scratch")
	}
	a.b = append(a.b, "GET / HTTP/1.1\r\n\r\n"...)
	a.consume(a.len())
	a.settle()
	if cap(a.b) != 0 || a.own != nil || lp.plainHolder != nil {
		t.Fatalf("fully read: kept cap %d, own %v, holder %v", cap(a.b), a.own != nil, lp.plainHolder != nil)
	}

	var b plainBuf
	b.acquireScratch(lp)
	b.b = append(b.b, "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next HT"...)
	b.consume(len("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	b.settle()
	if !bytes.Equal(b.bytes(), []byte("GET /next HT")) || inScratch(lp, b.b) || lp.plainHolder != nil {
		t.Fatalf("leftover %q, in scratch %v, holder %v", b.bytes(), inScratch(lp, b.b), lp.plainHolder != nil)
	}
	if cap(b.own) != plainKeepCap {
		t.Errorf("own buffer cap %d, want %d", cap(b.own), plainKeepCap)
	}
	// A plainBuf with leftovers keeps appending to its own buffer.
	b.acquireScratch(lp)
	if lp.plainHolder != nil || inScratch(lp, b.b) {
		t.Fatal("a plainBuf with unread bytes took the scratch")
	}

	// Nested use: while one holds the scratch, another stays on its own.
	var c, d plainBuf
	c.acquireScratch(lp)
	d.acquireScratch(lp)
	if lp.plainHolder != &c || d.lp != nil {
		t.Fatal("a second plainBuf took a held scratch")
	}
	c.settle()
	d.settle() // no-op: d never held it
	if lp.plainHolder != nil {
		t.Fatal("scratch still held after settle")
	}

	// A large own buffer (a paused upload's backlog) is freed once drained.
	var e plainBuf
	e.own = make([]byte, 0, 64<<10)
	e.b = append(e.own, make([]byte, 40<<10)...)
	e.consume(e.len())
	if e.own != nil || cap(e.b) != 0 {
		t.Fatalf("drained 64 KiB own buffer kept (cap %d)", cap(e.b))
	}
}
