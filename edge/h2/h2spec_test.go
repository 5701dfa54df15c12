package h2

import (
	"bytes"
	"context"
	"encoding/xml"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// serveH2 runs one ServerConn over a real socket the simple way (one
// goroutine per connection, blocking I/O): the test harness's stand-in for
// the event loop.
func serveH2(t testing.TB, nc net.Conn, cfg Config, body []byte) {
	defer nc.Close()
	app := newApp(t)
	app.body = body
	c := NewServerConn(cfg, app)
	defer c.Close()
	buf := make([]byte, 0, 64<<10)
	rd := make([]byte, 32<<10)
	for {
		if out := c.Output(); len(out) > 0 {
			nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
			n, err := nc.Write(out)
			c.ConsumeOutput(n)
			if err != nil {
				return
			}
		}
		if c.Done() {
			return
		}
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := nc.Read(rd)
		if err != nil {
			return
		}
		buf = append(buf, rd[:n]...)
		used, ferr := c.Feed(buf)
		buf = append(buf[:0], buf[used:]...)
		if ferr != nil {
			// Flush the GOAWAY, then close.
			nc.Write(c.Output())
			return
		}
	}
}

type junitSuites struct {
	Suites []struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Skipped  int `xml:"skipped,attr"`
		Cases    []struct {
			Name    string    `xml:"name,attr"`
			Package string    `xml:"package,attr"`
			Failure *struct{} `xml:"failure"`
			Error   *struct{} `xml:"error"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// TestH2Spec runs every default h2spec case (github.com/summerwind/h2spec,
// a go tool dependency of the module) against ServerConn over h2c.
func TestH2Spec(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go serveH2(t, nc, Config{}, bytes.Repeat([]byte("h2spec ok\n"), 10))
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	report := filepath.Join(t.TempDir(), "report.xml")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{"tool", "h2spec", "-h", "127.0.0.1", "-p", port, "-o", "2", "-j", report}
	if os.Getenv("H2SPEC_STRICT") != "" {
		args = append(args, "-S")
	}
	cmd := exec.CommandContext(ctx, goBin, args...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("h2spec timed out:\n%s", out)
	}
	data, rerr := os.ReadFile(report)
	if rerr != nil {
		t.Fatalf("h2spec produced no report (%v): %v\n%s", err, rerr, out)
	}
	// h2spec copies raw frame bytes into some messages; XML cannot hold
	// control characters, so drop them before parsing.
	data = bytes.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
			return -1
		}
		return r
	}, data)
	var js junitSuites
	if err := xml.Unmarshal(data, &js); err != nil {
		t.Fatalf("cannot parse h2spec report: %v", err)
	}
	total, bad, skipped := 0, 0, 0
	for _, s := range js.Suites {
		for _, c := range s.Cases {
			total++
			switch {
			case c.Failure != nil || c.Error != nil:
				bad++
				t.Errorf("h2spec failed: %s %s", c.Package, c.Name)
			case c.Skipped != nil:
				skipped++
				t.Errorf("h2spec skipped: %s %s", c.Package, c.Name)
			}
		}
	}
	t.Logf("h2spec: %d cases, %d failed, %d skipped", total, bad, skipped)
	if total < 145 {
		t.Errorf("h2spec ran %d cases, want >= 145", total)
	}
	if bad > 0 || err != nil || testing.Verbose() {
		t.Logf("h2spec output:\n%s", out)
	}
}
