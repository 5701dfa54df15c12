//go:build integration

package test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// retireConfig has the listener "public" ({{LISTEN}}, HTTP/1.1 and h2c)
// unless without is set, and always "second" on secondAddr.
func retireConfig(up, secondAddr string, withPublic bool) string {
	public := ""
	if withPublic {
		public = `  - name: public
    address: "{{LISTEN}}"
    protocols: [http1, h2c]
`
	}
	return `version: 1
listeners:
` + public + `  - name: second
    address: "` + secondAddr + `"
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
drain_timeout: 5s
upstreams:
  - name: app
    targets: [{address: "` + up + `"}]
routes:
  - name: all
    match: {path_prefix: /}
    upstream: app
    timeout: 10s
`
}

// TestReloadRetiresListener: a reload that leaves a listener out closes it
// as a drain would (issue 5: the two-phase GOAWAY "when a reload closes the
// listener"), and only it: its port refuses new connections, an idle
// keep-alive connection closes, a request in flight gets its answer with
// Connection: close, one accepted but still silent gets one exchange, an
// HTTP/2 connection gets GOAWAY(NO_ERROR) twice and its open stream
// completes; the other listener serves on. Binding a
// listener again needs a restart, and a reload that tries is refused.
func TestReloadRetiresListener(t *testing.T) {
	const slow = 2 * time.Second // the test polls, dials and reloads within it
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.URL.Path == "/slow" {
			time.Sleep(slow)
		}
		io.WriteString(w, "answer "+r.URL.Path)
	})
	second := freePort(t)
	g := startGateway(t, retireConfig(up.addr(), second, true))

	idle := g.dial(10 * time.Second)
	idleR := bufio.NewReader(idle)
	io.WriteString(idle, "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err := http.ReadResponse(idleR, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("keep-alive request: %v", err)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	busy := g.dial(10 * time.Second)
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	fresh := g.dial(10 * time.Second) // accepted, its request not sent yet
	h2 := dialH2Frames(t, g.addr)
	_ = h2.c.SetDeadline(time.Now().Add(10 * time.Second))
	h2.headers(1, ":method", "GET", ":scheme", "http", ":authority", "x", ":path", "/slow")
	up.waitPath("/slow", 2) // both slow requests reach the upstream
	g.waitActive(4)         // and the silent connection was accepted

	g.reload(retireConfig(up.addr(), second, false))
	reloaded := time.Now()
	// The connection accepted before the reload sends its request now,
	// well within the second a connection not used yet is given.
	io.WriteString(fresh, "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")

	// HTTP/2: GOAWAY(NO_ERROR) with the last stream 2^31-1, then with 1,
	// the stream's answer, and the close.
	var goaways []uint32
	var status, body string
	for {
		f, err := h2.fr.ReadFrame()
		if err != nil {
			if status == "" {
				t.Fatalf("h2: %v before the stream's answer (GOAWAYs %v)", err, goaways)
			}
			break // the connection closed
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				h2.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				h2.fr.WritePing(true, f.Data)
			}
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeNo {
				t.Fatalf("GOAWAY %v, want NO_ERROR", f.ErrCode)
			}
			goaways = append(goaways, f.LastStreamID)
		case *http2.MetaHeadersFrame:
			status = f.PseudoValue("status")
		case *http2.DataFrame:
			body += string(f.Data())
		case *http2.RSTStreamFrame:
			t.Fatalf("stream %d reset: %v", f.StreamID, f.ErrCode)
		}
		if time.Since(reloaded) > 8*time.Second {
			t.Fatal("the HTTP/2 connection did not end")
		}
	}
	if status != "200" || body != "answer /slow" {
		t.Errorf("h2 stream: %s %q, want 200 from the upstream", status, body)
	}
	if len(goaways) != 2 || goaways[0] != 1<<31-1 || goaways[1] != 1 {
		t.Errorf("GOAWAY last stream ids %v, want [2147483647 1]", goaways)
	}

	// HTTP/1.1 in flight: answered, and told the connection ends.
	br := bufio.NewReader(busy)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "answer /slow" || !resp.Close {
		t.Errorf("in-flight request: %d %q close=%v, want 200 with Connection: close", resp.StatusCode, b, resp.Close)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("in-flight connection after its answer: %v, want EOF", err)
	}
	// The idle keep-alive connection was closed.
	if _, err := idleR.ReadByte(); err != io.EOF {
		t.Errorf("idle connection: %v, want EOF", err)
	}
	// The connection accepted before the reload that had not sent its
	// request yet is not dropped: it gets one exchange, then the close.
	fr := bufio.NewReader(fresh)
	if resp, err := http.ReadResponse(fr, nil); err != nil {
		t.Errorf("request on a connection accepted before the reload: %v", err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "answer /fast" || !resp.Close {
			t.Errorf("connection accepted before the reload: %d %q close=%v, want 200 with Connection: close", resp.StatusCode, b, resp.Close)
		}
	}
	// The port refuses; the other listener serves.
	if c, err := net.DialTimeout("tcp", g.addr, time.Second); err == nil {
		c.Close()
		t.Errorf("the retired listener still accepts")
	} else if !strings.Contains(err.Error(), "refused") {
		t.Errorf("dialing the retired listener: %v, want connection refused", err)
	}
	get := func() (int, string) {
		resp, err := http.Get("http://" + second + "/fast")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, b := get(); st != 200 || b != "answer /fast" {
		t.Errorf("second listener: %d %q", st, b)
	}
	if resp, err := http.Get("http://" + g.admin + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("readyz after the reload: %v", err)
	} else {
		resp.Body.Close()
	}

	// Binding it again needs a restart: refused, nothing changes.
	g.writeConfig(retireConfig(up.addr(), second, true))
	resp, err = http.Post("http://"+g.admin+"/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == 200 || !strings.Contains(string(b), "public") || !strings.Contains(string(b), "adding a listener needs a restart") {
		t.Errorf("reload adding the listener back: %d %s, want a refusal naming it", resp.StatusCode, b)
	}
	if st, b := get(); st != 200 {
		t.Errorf("second listener after the refused reload: %d %q", st, b)
	}
}
