//go:build integration

package test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// earlyAnswerUpstream answers 200 with a chunked body as soon as it has the
// head, then keeps reading the request body without ending its answer: the
// upstream of a streaming call (gRPC bidi, an echo) that replies before the
// upload is over.
func earlyAnswerUpstream(t *testing.T) string {
	return rawUpstream(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
		_, _ = io.Copy(io.Discard, br)
	})
}

// logLine waits for the access-log line of path and returns its status
// and error_code.
func logLine(t *testing.T, g *gateway, path string) (int, string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		for _, l := range g.stdout.lines() {
			var m struct {
				Path      string `json:"path"`
				Status    int    `json:"status"`
				ErrorCode string `json:"error_code"`
			}
			if json.Unmarshal([]byte(l), &m) == nil && m.Path == path {
				return m.Status, m.ErrorCode
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access-log line for %s", path)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// A request body that turns out too large (or badly framed) after the
// upstream has begun to answer cannot get a 413 or 400 any more: the
// envelope would land inside the answer already under way (it used to be
// written into the chunked 200 body over HTTP/1.1, and over HTTP/2 the
// stream ended with END_STREAM as if the body were complete). The answer
// is cut instead, a close on HTTP/1.1 and RST_STREAM on HTTP/2, and the
// log keeps the 200 the client got, with the reason.
func TestBodyFailureAfterTheAnswerBegan(t *testing.T) {
	up := earlyAnswerUpstream(t)
	g := startGateway(t, oneRouteConfig(up, "    protocols: [http1, h2c]\n", "    max_body_bytes: 4KiB\n    timeout: 10s\n"))
	for _, c := range []struct {
		path, body, code string
	}{
		{"/too-large", strings.Repeat("1000\r\n"+strings.Repeat("x", 4096)+"\r\n", 2) + "0\r\n\r\n", "payload_too_large"},
		{"/bad-chunk", "zz\r\n", "bad_request"},
	} {
		conn := g.dial(5 * time.Second)
		io.WriteString(conn, "PUT "+c.path+" HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: head %v %v", c.path, resp, err)
		}
		first := make([]byte, 5)
		if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "hello" {
			t.Fatalf("%s: first bytes %q %v", c.path, first, err)
		}
		io.WriteString(conn, c.body)
		rest, err := io.ReadAll(resp.Body)
		if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%s: the body ended cleanly (%v) with %q: a cut answer must not look complete", c.path, err, rest)
		}
		if bytes.Contains(rest, []byte("HTTP/1.1")) || bytes.Contains(rest, []byte(c.code)) {
			t.Fatalf("%s: an error envelope inside the answer: %q", c.path, rest)
		}
		conn.Close()
		if st, code := logLine(t, g, c.path); st != 200 || code != c.code {
			t.Fatalf("%s: logged %d %q, want 200 %q", c.path, st, code, c.code)
		}
	}

	// HTTP/2: the upload goes over max_body_bytes after the 200 began.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", "http://"+g.addr+"/h2-too-large", pr)
	req.ContentLength = -1
	type result struct {
		resp *http.Response
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := h2cClient().Do(req)
		got <- result{resp, err}
	}()
	pw.Write([]byte("small"))
	var r result
	select {
	case r = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no HTTP/2 response head")
	}
	if r.err != nil || r.resp.StatusCode != 200 {
		t.Fatalf("h2 head: %v %v", r.resp, r.err)
	}
	go func() {
		chunk := bytes.Repeat([]byte("y"), 1024)
		for i := 0; i < 16; i++ {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	body, err := io.ReadAll(r.resp.Body)
	if err == nil {
		t.Fatalf("h2: the body ended cleanly with %q: a cut answer must be reset", body)
	}
	if bytes.Contains(body, []byte("payload_too_large")) {
		t.Fatalf("h2: an error envelope inside the answer: %q", body)
	}
	if st, code := logLine(t, g, "/h2-too-large"); st != 200 || code != "payload_too_large" {
		t.Fatalf("h2: logged %d %q, want 200 payload_too_large", st, code)
	}
}

// After a complete early answer (here a direct_response) the rest of the
// request body is read away; a body that then goes over max_body_bytes
// ends the connection. It used to get a second answer, a 413 that the
// client took for the answer to its next request.
func TestBodyOverLimitAfterDirectResponse(t *testing.T) {
	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
access_log: {path: stdout}
routes:
  - name: direct
    match: {path_prefix: /}
    max_body_bytes: 4KiB
    direct_response: {status: 200, body: "direct"}
`)
	conn := g.dial(5 * time.Second)
	io.WriteString(conn, "PUT /first HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("direct answer: %v %v", resp, err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "direct" {
		t.Fatalf("direct body %q", b)
	}
	io.WriteString(conn, strings.Repeat("1000\r\n"+strings.Repeat("x", 4096)+"\r\n", 2)+"0\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n")
	rest, _ := io.ReadAll(br)
	if len(rest) != 0 {
		t.Fatalf("a second answer after the direct one: %.120q", rest)
	}
	if st, code := logLine(t, g, "/first"); st != 200 || code != "payload_too_large" {
		t.Fatalf("logged %d %q, want 200 payload_too_large", st, code)
	}
	if n := strings.Count(g.stdout.String(), `"path":"/first"`); n != 1 {
		t.Fatalf("%d log lines for /first", n)
	}
}

// A close-delimited answer (no length, not chunked) ends at the upstream's
// close, but only an orderly one: a reset throws away what the upstream's
// kernel still held, so the body relayed so far is cut short and must
// reach the client as cut (no last chunk), logged as bad_gateway. An
// orderly close still ends the body normally.
func TestCloseDelimitedResetIsTruncation(t *testing.T) {
	up := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n"))
		c.Write(bytes.Repeat([]byte("x"), 4<<20))
		if req.URL.Path == "/reset" {
			c.(*net.TCPConn).SetLinger(0) // RST: the unsent bytes are dropped
		}
	})
	g := startGateway(t, oneRouteConfig(up, "", ""))
	for _, c := range []struct {
		path     string
		complete bool
	}{{"/reset", false}, {"/fin", true}} {
		conn := g.dial(10 * time.Second)
		io.WriteString(conn, "GET "+c.path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		time.Sleep(300 * time.Millisecond) // the upstream's close lands while the gateway still relays
		out, _ := io.ReadAll(conn)
		conn.Close()
		checkCloseDelimitedEnd(t, g, c.path, c.complete, out)
	}
}

// checkCloseDelimitedEnd: a close-delimited answer relayed to an HTTP/1.1
// client (chunked) ends with the last chunk and logs no error only when
// complete; cut, it has no last chunk and is logged bad_gateway.
func checkCloseDelimitedEnd(t *testing.T, g *gateway, path string, complete bool, out []byte) {
	t.Helper()
	ended := bytes.HasSuffix(out, []byte("\r\n0\r\n\r\n"))
	if ended != complete {
		t.Errorf("%s: body ended with the last chunk: %v, want %v (%d bytes)", path, ended, complete, len(out))
	}
	status, code := logLine(t, g, path)
	if wantCode := map[bool]string{true: "", false: "bad_gateway"}[complete]; status != 200 || code != wantCode {
		t.Errorf("%s: logged %d %q, want 200 %q", path, status, code, wantCode)
	}
}

// The same while the gateway has paused reading the upstream for a client
// that reads nothing yet: the reset then comes as an error event on a
// socket with reads off, which gnet reports as a plain io.EOF. It used to
// end the body with the last chunk, losing the bytes still unread
// (a silent truncation); only an orderly close may end it.
func TestCloseDelimitedResetWhilePausedIsTruncation(t *testing.T) {
	up := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n"))
		// Write until the paused gateway stops taking bytes, then close.
		c.SetWriteDeadline(time.Now().Add(time.Second))
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for i := 0; i < 1024; i++ {
			if _, err := c.Write(chunk); err != nil {
				break
			}
		}
		if req.URL.Path == "/reset" {
			c.(*net.TCPConn).SetLinger(0)
		}
	})
	g := startGateway(t, oneRouteConfig(up, "", ""))
	for _, c := range []struct {
		path     string
		complete bool
	}{{"/reset", false}, {"/fin", true}} {
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) {
				// A small window, so the gateway's queue for it fills and
				// it pauses the upstream.
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
			})
		}}
		conn, err := d.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		io.WriteString(conn, "GET "+c.path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		time.Sleep(1500 * time.Millisecond) // the upstream closes meanwhile
		out, _ := io.ReadAll(conn)
		conn.Close()
		if len(out) < 2<<20 {
			t.Fatalf("%s: only %d bytes came: the gateway never paused, the test proves nothing", c.path, len(out))
		}
		checkCloseDelimitedEnd(t, g, c.path, c.complete, out)
	}
}

// An answer that began before the request body was all sent closes its
// upstream connection after it (as nginx does): an upstream that answered
// without reading the body may take the rest of it for its next request,
// whose answer the next exchange on that connection would get. Here the
// body holds a whole request; the next request must get its own answer.
func TestEarlyAnswerConnectionNotReused(t *testing.T) {
	up := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			switch req.URL.Path {
			case "/upload": // answer at once, never read the body
				io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 11\r\n\r\nno")
				time.Sleep(300 * time.Millisecond) // the client's body is all sent meanwhile
				io.WriteString(c, "pe, never")
			case "/smuggled":
				time.Sleep(300 * time.Millisecond) // a reused connection's next request is in by now
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled")
			default:
				io.Copy(io.Discard, req.Body)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nmine")
			}
		}
	})
	t.Setenv("GOMAXPROCS", "1") // one event loop: one upstream pool, whichever client connection asks
	g := startGateway(t, oneRouteConfig(up, "", ""))
	// A body larger than the 64 KiB the gateway waits for before it takes
	// an upstream, so that the answer can begin before it is all sent;
	// it begins with a whole request.
	body := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n" + strings.Repeat("x", 128<<10)
	conn := g.dial(10 * time.Second)
	io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body[:80<<10])
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("early answer: %v %v", resp, err)
	}
	io.WriteString(conn, body[80<<10:]) // the rest, sent once the answer has begun
	if b, _ := io.ReadAll(resp.Body); string(b) != "nope, never" {
		t.Fatalf("early answer body %q", b)
	}
	if resp, body := g.get("/next"); resp.StatusCode != 200 || body != "mine" {
		t.Fatalf("the next request got %d %q: the connection the early answer left was reused", resp.StatusCode, body)
	}
}
