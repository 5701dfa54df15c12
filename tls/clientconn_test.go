package tls

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestClientHandshakeThenLoopDriven: Client does the handshake on the
// calling goroutine; afterwards the connection is driven like the loop does
// (Feed/Read/Write/TakeOutput) against a crypto/tls echo server, for TLS
// 1.2 and 1.3, with a 300 KiB message each way.
func TestClientHandshakeThenLoopDriven(t *testing.T) {
	ca := newTestCA(t, "upstream-ca")
	leaf := ca.issue(t, leafOpts{cn: "orders.internal", dns: []string{"orders.internal"}})
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{leaf.tlsCert}, MinVersion: v, MaxVersion: v})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			io.Copy(c, bufio.NewReader(c)) // echo
		}()
		cfg, err := NewClientConfig("orders.internal", ca.file)
		if err != nil {
			t.Fatal(err)
		}
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c, err := Client(nc, cfg, 5*time.Second)
		if err != nil {
			t.Fatalf("version %x: %v", v, err)
		}
		if !c.HandshakeDone() || c.State().Version != v {
			t.Fatalf("state %+v", c.State())
		}
		msg := bytes.Repeat([]byte("portico upstream tls "), 300<<10/21)
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		go func(out []byte) { nc.Write(out) }(append([]byte(nil), c.TakeOutput()...))
		var got []byte
		buf := make([]byte, 32<<10)
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		for len(got) < len(msg) {
			n, err := nc.Read(buf)
			if err != nil {
				t.Fatalf("read after %d bytes: %v", len(got), err)
			}
			if err := c.Feed(buf[:n]); err != nil {
				t.Fatal(err)
			}
			for {
				plain := make([]byte, 16<<10)
				k, err := c.Read(plain)
				got = append(got, plain[:k]...)
				if errors.Is(err, ErrNeedMore) || (err == nil && k == 0) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if out := c.TakeOutput(); len(out) > 0 {
				nc.Write(out)
			}
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("version %x: echo differs (%d vs %d bytes)", v, len(got), len(msg))
		}
		nc.Close()
		ln.Close()
	}
}

func TestClientRejectsWrongName(t *testing.T) {
	ca := newTestCA(t, "upstream-ca")
	leaf := ca.issue(t, leafOpts{cn: "a.internal", dns: []string{"a.internal"}})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{leaf.tlsCert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	cfg, _ := NewClientConfig("b.internal", ca.file)
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := Client(nc, cfg, 5*time.Second); err == nil {
		t.Fatal("a certificate for another name was accepted")
	}
}
