//go:build integration

package test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SPEC §3: "Pipelined requests are answered in order", also when the
// request in front fails upstream: a 502 (refused, reset, invalid
// response) or a 504 ends on an upstream or timer event, not on a client
// read, and must still start the requests queued behind it.
func TestPipelinedBehindUpstreamFailure(t *testing.T) {
	up := newUpstream(t, defaultHandler)
	garbage := rawUpstream(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
		_, _ = io.WriteString(c, "NOT HTTP AT ALL\r\n\r\n")
	})
	reset := rawUpstream(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, not FIN
		}
	})
	cfg := strings.Replace(basicConfig(up.addr()), "routes:\n", `  - name: garbage
    targets: [{address: "`+garbage+`"}]
  - name: reset
    targets: [{address: "`+reset+`"}]
routes:
  - name: garbage
    match: {path_prefix: /garbage}
    upstream: garbage
  - name: reset
    match: {path_prefix: /reset}
    upstream: reset
`, 1)
	g := startGateway(t, cfg)
	for _, tc := range []struct {
		first  string
		status int
	}{
		{"/dead/x", 502},
		{"/garbage", 502},
		{"/reset", 502},
		{"/slow", 504},
	} {
		t.Run(tc.first, func(t *testing.T) {
			req := "GET " + tc.first + " HTTP/1.1\r\nHost: a\r\n\r\n" +
				"GET /direct HTTP/1.1\r\nHost: a\r\n\r\n" +
				"GET /three HTTP/1.1\r\nHost: a\r\n\r\n"
			start := time.Now()
			resps := g.rawResponses(req, 3)
			if resps[0].StatusCode != tc.status {
				t.Fatalf("first: %d, want %d", resps[0].StatusCode, tc.status)
			}
			b1, _ := io.ReadAll(resps[1].Body)
			b2, _ := io.ReadAll(resps[2].Body)
			if resps[1].StatusCode != 200 || string(b1) != "direct ok\n" || string(b2) != "upstream saw GET /three" {
				t.Fatalf("behind the %d: %d %q, %q", tc.status, resps[1].StatusCode, b1, b2)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("answers took %v: the queued requests waited for a timer", d)
			}
		})
	}
}

// SPEC §6 "one JSON object per request" and §5 requests_total: a client
// that leaves before its answer is still logged and counted, as 499
// (nginx's "client closed request") with error_code client_closed.
func TestClientGoneIsLoggedAndCounted(t *testing.T) {
	up := newUpstream(t, defaultHandler)
	cfg := strings.Replace(basicConfig(up.addr()), "routes:\n", `routes:
  - name: slowlong
    match: {path_prefix: /slowlong}
    upstream: app
`, 1)
	g := startGateway(t, cfg)
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /slowlong HTTP/1.1\r\nHost: a\r\nX-Request-Id: gone-early-1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	c.Close()
	var line string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && line == ""; time.Sleep(50 * time.Millisecond) {
		for _, l := range strings.Split(g.stdout.String(), "\n") {
			if strings.Contains(l, `"request_id":"gone-early-1"`) {
				line = l
			}
		}
	}
	if !strings.Contains(line, `"status":499`) || !strings.Contains(line, `"error_code":"client_closed"`) || !strings.Contains(line, `"route":"slowlong"`) {
		t.Fatalf("access log line %q", line)
	}
	resp, body := getURL(t, "http://"+g.admin+"/metrics")
	if resp != 200 || !strings.Contains(body, `portico_http_requests_total{listener="public",route="slowlong",code="499"} 1`) {
		t.Fatalf("metrics (%d) lack the 499 count:\n%s", resp, grepLines(body, "portico_http_requests_total"))
	}
}

func getURL(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// An upstream that sends bytes after a bodiless response (a 204 with a
// body) must not have them read as the next request's answer: that
// connection is not reused.
func TestBytesAfterBodilessResponseNotReused(t *testing.T) {
	origin := rawUpstream(t, func(c net.Conn) {
		br := bufioReader(c)
		for i := 0; i < 10; i++ {
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if req.URL.Path == "/n204" {
				_, _ = io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")
				continue
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
		}
	})
	g := startGateway(t, basicConfig(origin))
	for i := 0; i < 3; i++ {
		resp, _ := g.get("/n204")
		if resp.StatusCode != 204 {
			t.Fatalf("204: %d", resp.StatusCode)
		}
		if resp, body := g.get("/after"); resp.StatusCode != 200 || body != "fresh" {
			t.Fatalf("after the 204: %d %q", resp.StatusCode, body)
		}
	}
}

// SPEC §2 header_timeout: "full request head must arrive within; else 408
// and close". A new connection that sends nothing gets its 408 after
// header_timeout (1s here), not kept for idle_timeout (60s default); so
// does one that sent part of a head.
func TestHeaderTimeoutFromAccept(t *testing.T) {
	up := newUpstream(t, defaultHandler)
	g := startGateway(t, basicConfig(up.addr()))
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	out, _ := io.ReadAll(c)
	if d := time.Since(start); d < 800*time.Millisecond || d > 3*time.Second {
		t.Fatalf("silent connection closed after %v, want about the 1s header_timeout", d)
	}
	if !strings.HasPrefix(string(out), "HTTP/1.1 408 ") || !strings.Contains(string(out), `"code":"request_timeout"`) || !strings.Contains(string(out), "Connection: close") {
		t.Fatalf("silent connection got %q, want a 408 envelope and a close", out)
	}
	if resp := g.raw("GET /partial-head HTTP/1.1\r\nHost: a\r\n", 5*time.Second); !strings.HasPrefix(resp, "HTTP/1.1 408") {
		t.Fatalf("partial head: %q", statusOf(resp))
	}
	// Its access-log line names what of the request came, and the time
	// it waited.
	var entry map[string]any
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && entry == nil; time.Sleep(50 * time.Millisecond) {
		for _, l := range strings.Split(g.stdout.String(), "\n") {
			if strings.Contains(l, `"status":408`) && strings.Contains(l, `"path":"/partial-head"`) {
				_ = json.Unmarshal([]byte(l), &entry)
			}
		}
	}
	if entry == nil || entry["method"] != "GET" || entry["path"] != "/partial-head" || entry["error_code"] != "request_timeout" {
		t.Fatalf("408 log entry %v", entry)
	}
	if d, _ := entry["duration_ms"].(float64); d < 800 {
		t.Fatalf("408 logged duration_ms %v, want the ~1s it waited", entry["duration_ms"])
	}
}

// A client pipelining more than the gateway buffers (max_header_bytes +
// 64 KiB) is paused and resumed as its answers drain, and every request
// is answered, in order; none stays stalled on a lost resume. What was
// read is served at the upstream's pace while reading is paused, not one
// request per resume tick (12,000 requests took about 15 s that way; 10 s
// is the bound here, about 3 s the usual time).
func TestPipelineFloodAllAnswered(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { io.WriteString(w, "k") })
	g := startGateway(t, basicConfig(up.addr()))
	const n = 12000 // of about 240 bytes each: 2.9 MB, far past the bound
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	_ = c.SetDeadline(deadline)
	go func() {
		req := []byte("GET /p HTTP/1.1\r\nHost: a\r\nX-Pad: " + strings.Repeat("p", 200) + "\r\n\r\n")
		batch := make([]byte, 0, 500*len(req))
		for i := 0; i < n; i += 500 {
			batch = batch[:0]
			for j := 0; j < 500; j++ {
				batch = append(batch, req...)
			}
			if _, err := c.Write(batch); err != nil {
				return
			}
		}
	}()
	br := bufioReader(c)
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d of %d: %v", i, n, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "k" {
			t.Fatalf("response %d: %d %q", i, resp.StatusCode, b)
		}
	}
}

// The gateway outlives the reader of its stdout (access log) and stderr
// (process log): a log shipper that restarts must not kill the front
// door with SIGPIPE.
func TestSurvivesClosedLogPipes(t *testing.T) {
	up := newUpstream(t, defaultHandler)
	dir := t.TempDir()
	var (
		addr           string
		cmd            *exec.Cmd
		stdout, stderr io.ReadCloser
		done           chan error
	)
	// A port picked free can be taken before portico binds it: a start
	// whose first line says so is retried on new ports.
	for attempt := 1; ; attempt++ {
		addr = freePort(t)
		admin := freePortNotIn(t, "", addr)
		cfg := strings.NewReplacer("{{LISTEN}}", addr, "{{ADMIN}}", admin).Replace(basicConfig(up.addr()))
		file := dir + "/portico.yaml"
		if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(bin(t), "run", "-c", file)
		stdout, _ = cmd.StdoutPipe()
		stderr, _ = cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Read the first stderr line (it is up), then close both readers.
		// Wait only after it: Wait closes the pipes once the process has
		// exited, and a start that failed exits at once ("file already
		// closed" instead of the reason).
		buf := make([]byte, 256)
		_ = stderr.(*os.File).SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := stderr.Read(buf)
		done = make(chan error, 1)
		go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(cmd, done)
		if err != nil {
			_ = cmd.Process.Kill()
			<-done
			t.Fatal(err)
		}
		if !strings.Contains(string(buf[:n]), "address already in use") {
			break
		}
		<-done
		if attempt == 3 {
			t.Fatalf("portico did not start: %s", buf[:n])
		}
	}
	defer func() { _ = cmd.Process.Kill(); <-done }()
	stdout.Close()
	stderr.Close()
	for i := 0; i < 20; i++ {
		resp, err := client.Get("http://" + addr + "/direct")
		if err != nil {
			t.Fatalf("request %d after the log readers left: %v", i, err)
		}
		resp.Body.Close()
	}
	cmd.Process.Signal(syscall.SIGHUP) // a reload logs to the closed stderr
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-done:
		done <- err
		t.Fatalf("portico exited after its log readers left: %v", err)
	default:
	}
	if resp, err := client.Get("http://" + addr + "/direct"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the reload: %v %v", resp, err)
	}
}

// logrotate: the access log file is renamed, then SIGHUP; the next lines
// go to a new file under the configured path.
func TestAccessLogReopenedOnSIGHUP(t *testing.T) {
	up := newUpstream(t, defaultHandler)
	logPath := t.TempDir() + "/access.log"
	g := startGateway(t, strings.Replace(basicConfig(up.addr()), "access_log: {path: stdout}", "access_log: {path: "+logPath+"}", 1))
	waitFor := func(path, id string) bool {
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(30 * time.Millisecond) {
			if b, _ := os.ReadFile(path); strings.Contains(string(b), id) {
				return true
			}
		}
		return false
	}
	resp, _ := g.get("/direct")
	if id := resp.Header.Get("X-Request-Id"); !waitFor(logPath, id) {
		t.Fatalf("first line not in %s", logPath)
	}
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	g.signal(syscall.SIGHUP)
	time.Sleep(300 * time.Millisecond)
	resp, _ = g.get("/direct")
	id := resp.Header.Get("X-Request-Id")
	if !waitFor(logPath, id) {
		b, _ := os.ReadFile(logPath + ".1")
		t.Fatalf("after rotation the line is not in a new %s (rotated file has it: %v)", logPath, strings.Contains(string(b), id))
	}
}

// An upstream that sends informational responses without end gets a 502
// after a few, not an exchange held until the route timeout; the ones
// forwarded carry the request's X-Request-Id.
func TestEndlessInterimResponsesBounded(t *testing.T) {
	origin := rawUpstream(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
		for i := 0; i < 1000; i++ {
			if _, err := io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"); err != nil {
				return
			}
		}
		time.Sleep(3 * time.Second)
	})
	g := startGateway(t, basicConfig(origin))
	start := time.Now()
	out := g.raw("GET /x HTTP/1.1\r\nHost: a\r\nX-Request-Id: interim-1\r\nConnection: close\r\n\r\n", 5*time.Second)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	n103 := strings.Count(out, "HTTP/1.1 103")
	if n103 == 0 || n103 > 8 || !strings.Contains(out, "HTTP/1.1 502") {
		t.Fatalf("%d interim responses, then %q", n103, out[strings.LastIndex(out, "HTTP/1.1"):])
	}
	if strings.Count(out, "X-Request-Id: interim-1") != n103+1 {
		t.Fatalf("interim responses without the request id:\n%s", out)
	}
}

// SPEC §2 max_connections: connections past it are closed at accept, and
// portico_connections_refused_total counts them (they would be invisible
// otherwise: the active gauge stays at the limit).
func TestMaxConnectionsRefusedCounted(t *testing.T) {
	up := newUpstream(t, defaultHandler)
	g := startGateway(t, strings.Replace(basicConfig(up.addr()), "limits: {", "limits: {max_connections: 2, ", 1))
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		// One exchange, so the connection is surely accepted and counted.
		io.WriteString(c, "GET /direct HTTP/1.1\r\nHost: a\r\n\r\n")
		if _, err := http.ReadResponse(bufioReader(c), nil); err != nil {
			t.Fatal(err)
		}
	}
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("third connection not closed at accept: %d %v", n, err)
	}
	_, m := getURL(t, "http://"+g.admin+"/metrics")
	if !strings.Contains(m, `portico_connections_refused_total{listener="public"} 1`) ||
		!strings.Contains(m, `portico_connections_active{listener="public"} 2`) {
		t.Fatalf("metrics:\n%s", grepLines(m, "portico_connections"))
	}
}

// Boundary cases from the fourth audit: a 204 direct response carries no
// Content-Length or Content-Type (RFC 9110 §8.6); a proxied response the
// origin sent without Date gets one (RFC 9110 §6.6.1); an empty client
// X-Forwarded-For does not leave a leading comma; a rejected HTTP/1.1
// request is logged as HTTP/1.1.
func TestAuditBoundaries(t *testing.T) {
	origin := rawUpstream(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufioReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			xff := req.Header.Get("X-Forwarded-For")
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+fmt.Sprint(len(xff))+"\r\n\r\n"+xff)
		}
	})
	cfg := strings.Replace(basicConfig(origin), "routes:\n", `routes:
  - name: nothing
    match: {path: /nothing}
    direct_response: {status: 204}
`, 1)
	g := startGateway(t, cfg)
	out := g.raw("GET /nothing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 3*time.Second)
	head, _, _ := strings.Cut(out, "\r\n\r\n")
	lh := strings.ToLower(head)
	if !strings.HasPrefix(head, "HTTP/1.1 204") || strings.Contains(lh, "content-length") || strings.Contains(lh, "content-type") ||
		!strings.Contains(lh, "x-request-id:") || !strings.Contains(lh, "date:") {
		t.Errorf("204 direct response head:\n%s", head)
	}
	resp, body := doReq(t, "GET", "http://"+g.addr+"/x", map[string]string{"X-Forwarded-For": ""})
	if resp.Header.Get("Date") == "" {
		t.Errorf("proxied response without the origin's Date has none")
	}
	if body != "127.0.0.1" {
		t.Errorf("X-Forwarded-For from an empty client value: %q", body)
	}
	if out := g.raw("GET /x#frag HTTP/1.1\r\nHost: a\r\n\r\n", 3*time.Second); !strings.HasPrefix(out, "HTTP/1.1 400") {
		t.Fatalf("fragment in the target: %q", statusOf(out))
	}
	var line string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && line == ""; time.Sleep(30 * time.Millisecond) {
		for _, l := range strings.Split(g.stdout.String(), "\n") {
			if strings.Contains(l, `"status":400`) {
				line = l
			}
		}
	}
	if !strings.Contains(line, `"proto":"HTTP/1.1"`) {
		t.Errorf("rejected HTTP/1.1 request logged as %q", line)
	}
}

// An upstream body found broken (a bad chunk size, the connection closed
// mid-body) in the same read as its head is answered 502 with SPEC §4's
// envelope: nothing had left yet. Once the head has left, the client sees
// the connection close before the body's end, and the access log keeps the
// status the client got with error_code bad_gateway.
func TestBrokenUpstreamBodyBeforeAndAfterTheHeadLeft(t *testing.T) {
	origin := rawUpstream(t, func(c net.Conn) {
		br := bufioReader(c)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		switch req.URL.Path {
		case "/together", "/together-h2":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
		case "/later":
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
			time.Sleep(300 * time.Millisecond)
			_, _ = io.WriteString(c, "zz\r\n")
			time.Sleep(300 * time.Millisecond)
		}
	})
	g := startGateway(t, basicConfig(origin))

	resp, body := g.get("/together")
	if resp.StatusCode != 502 || !strings.Contains(body, `"code":"bad_gateway"`) {
		t.Fatalf("bad chunk in the head's read: %d %q, want the 502 envelope", resp.StatusCode, body)
	}
	if l := accessLogLine(t, g, resp.Header.Get("X-Request-Id")); l["status"] != float64(502) || l["error_code"] != "bad_gateway" {
		t.Errorf("log: status %v error_code %v", l["status"], l["error_code"])
	}

	// The same over HTTP/2: a 502 stream, not HEADERS 200 then a reset.
	h2resp, err := h2cClient().Get("http://" + g.addr + "/together-h2")
	if err != nil {
		t.Fatalf("h2c: %v", err)
	}
	h2body, _ := io.ReadAll(h2resp.Body)
	h2resp.Body.Close()
	if h2resp.StatusCode != 502 || !strings.Contains(string(h2body), `"code":"bad_gateway"`) {
		t.Errorf("h2c bad chunk in the head's read: %d %q", h2resp.StatusCode, h2body)
	}

	resp, err = client.Get("http://" + g.addr + "/later")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || err == nil {
		t.Fatalf("bad chunk after the head left: %d %q %v, want 200 cut short", resp.StatusCode, b, err)
	}
	if l := accessLogLine(t, g, resp.Header.Get("X-Request-Id")); l["status"] != float64(200) || l["error_code"] != "bad_gateway" {
		t.Errorf("log: status %v error_code %v, want the status sent and bad_gateway", l["status"], l["error_code"])
	}
}

// Over TLS the same holds once the handshake is done: a client silent after
// it gets the 408 (encrypted); one that never finishes the handshake is
// closed without an answer, as there is no channel to answer on.
func TestHeaderTimeoutTLS(t *testing.T) {
	p := newPKI(t, "ca")
	cert, key, _ := p.issue(t, "gw", false, "gw.example")
	tlsAddr := freePort(t)
	startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
  - name: tls
    address: "`+tlsAddr+`"
    limits: {header_timeout: 1s}
    tls:
      certificates: [{cert_file: "`+cert+`", key_file: "`+key+`"}]
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - {name: app, targets: [{address: "127.0.0.1:9"}]}
routes:
  - {name: all, upstream: app}
`)
	conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: "gw.example", RootCAs: p.pool(), NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	out, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(out), "HTTP/1.1 408 ") {
		t.Fatalf("silent after the handshake: %q", out)
	}
	raw, err := net.Dial("tcp", tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	if out, _ := io.ReadAll(raw); len(out) != 0 {
		t.Fatalf("no handshake: got %q, want a plain close", out)
	}
}
