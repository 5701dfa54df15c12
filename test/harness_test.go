//go:build integration

// Package test holds the integration tests: they start the real portico
// binary (PORTICO_BIN, built by `make test-integration`) on loopback with
// real upstream servers and talk to it over raw TCP and net/http.
package test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// seen is one request as an upstream received it.
type seen struct {
	Method, Path, RawQuery, Host string
	Header                       http.Header
	Body                         []byte
}

// upstream is a recording origin server on loopback.
type upstream struct {
	t      *testing.T
	ln     net.Listener
	srv    *http.Server
	mu     sync.Mutex
	reqs   []seen
	handle func(w http.ResponseWriter, r *http.Request, body []byte)
}

func newUpstream(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, body []byte)) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{t: t, ln: ln, handle: handle}
	u.srv = &http.Server{Handler: u, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = u.srv.Serve(ln) }()
	t.Cleanup(func() { _ = u.srv.Close() })
	return u
}

func (u *upstream) addr() string { return u.ln.Addr().String() }

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.reqs = append(u.reqs, seen{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Host: r.Host, Header: r.Header.Clone(), Body: body})
	u.mu.Unlock()
	if u.handle != nil {
		u.handle(w, r, body)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "upstream saw %s %s", r.Method, r.URL.Path)
}

func (u *upstream) requests() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.reqs...)
}

// waitActive waits (at most 5 s) until the gateway has accepted n client
// connections on listener "public": one a test dialled is not in flight
// until then (a drain or a retiring reload resets it in the accept queue).
func (g *gateway) waitActive(n int) {
	g.t.Helper()
	want := fmt.Sprintf("portico_connections_active{listener=\"public\"} %d\n", n)
	var body []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		resp, err := client.Get("http://" + g.admin + "/metrics")
		if err != nil {
			continue
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if bytes.Contains(body, []byte(want)) {
			return
		}
	}
	g.t.Fatalf("%d connections not accepted within 5 s:\n%s", n, grepLines(string(body), "portico_connections_active"))
}

// waitPath waits (at most 5 s) until the upstream has received n requests
// for path: a request a test means to have in flight when it signals the
// gateway is there, however slowly the machine got it through.
func (u *upstream) waitPath(path string, n int) {
	u.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got := 0
		for _, r := range u.requests() {
			if r.Path == path {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("the upstream got %d requests for %s, want %d", got, path, n)
		}
	}
}

// gateway is a running portico process.
type gateway struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	admin  string
	file   string
	stderr *syncBuffer
	stdout *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines returns the complete lines written so far: a line still being
// written (a log batch split across pipe reads) is left for later.
func (s *syncBuffer) lines() []string {
	l := strings.Split(s.String(), "\n")
	return l[:len(l)-1]
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func bin(t *testing.T) string {
	t.Helper()
	p := os.Getenv("PORTICO_BIN")
	if p == "" {
		t.Fatal("PORTICO_BIN is not set; run `make test-integration`")
	}
	return p
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// freePortNotIn is freePort, drawn again (a few times at most) while the
// port is one of taken or named in text.
func freePortNotIn(t *testing.T, text string, taken ...string) string {
	t.Helper()
	for i := 0; ; i++ {
		p := freePort(t)
		if i == 10 || (!strings.Contains(text, p) && !slices.Contains(taken, p)) {
			return p
		}
	}
}

// startGateway writes the route file (with {{LISTEN}} and {{ADMIN}} filled
// in) and starts portico run on it, waiting until it answers. A port picked
// free can be taken as the ephemeral source port of some other test's
// connection before portico binds it; that start is retried on new ports.
func startGateway(t *testing.T, routeFile string) *gateway {
	t.Helper()
	return startGatewayCmd(t, routeFile, nil)
}

// startGatewayCmd is startGateway with the command made by command (for
// a wrapper such as a shell that sets a limit first; it must exec portico,
// so the process is the gateway's).
func startGatewayCmd(t *testing.T, routeFile string, command func(bin, file string) *exec.Cmd) *gateway {
	t.Helper()
	for attempt := 1; ; attempt++ {
		g, inUse := tryStartGateway(t, routeFile, command)
		if g != nil {
			return g
		}
		if !inUse || attempt == 3 {
			t.Fatal("portico did not start (see the log above)")
		}
	}
}

func tryStartGateway(t *testing.T, routeFile string, command func(bin, file string) *exec.Cmd) (*gateway, bool) {
	t.Helper()
	// The kernel may hand out a port just closed again: the listener and
	// admin ports must differ from each other and from every address the
	// route file names already (a second listener, a target picked free
	// to be refused), or the file is refused as overlapping, or the
	// "dead" target is the gateway itself.
	g := &gateway{t: t, stderr: &syncBuffer{}, stdout: &syncBuffer{}, done: make(chan error, 1)}
	g.addr = freePortNotIn(t, routeFile)
	g.admin = freePortNotIn(t, routeFile, g.addr)
	g.file = filepath.Join(t.TempDir(), "portico.yaml")
	g.writeConfig(routeFile)
	if command != nil {
		g.cmd = command(bin(t), g.file)
	} else {
		g.cmd = exec.Command(bin(t), "run", "-c", g.file)
	}
	g.cmd.Stderr = g.stderr
	g.cmd.Stdout = g.stdout
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.done <- g.cmd.Wait() }()
	t.Cleanup(func() {
		_ = g.cmd.Process.Kill()
		<-g.done
		g.done <- nil // for any later reader
		if t.Failed() {
			t.Logf("portico stderr:\n%s", g.stderr.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + g.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return g, false
			}
		}
		select {
		case err := <-g.done:
			g.done <- err // the cleanup waits for it too
			inUse := strings.Contains(g.stderr.String(), "address already in use")
			t.Logf("portico exited at start: %v\n%s", err, g.stderr.String())
			return nil, inUse
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Logf("portico did not become ready\n%s", g.stderr.String())
	return nil, false
}

// logged reports whether the gateway's stderr holds sub, waiting up to
// three seconds: a log line is written after the event a test saw (a
// GOAWAY, a response) and crosses a pipe before the harness has it.
func (g *gateway) logged(sub string) bool {
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(g.stderr.String(), sub) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func (g *gateway) writeConfig(routeFile string) {
	text := strings.NewReplacer("{{LISTEN}}", g.addr, "{{ADMIN}}", g.admin).Replace(routeFile)
	if err := os.WriteFile(g.file, []byte(text), 0o644); err != nil {
		g.t.Fatal(err)
	}
}

// reload writes routeFile and applies it with POST /reload, which must
// succeed.
func (g *gateway) reload(routeFile string) {
	g.t.Helper()
	g.writeConfig(routeFile)
	resp, err := http.Post("http://"+g.admin+"/reload", "", nil)
	if err != nil {
		g.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		g.t.Fatalf("reload: %d %s", resp.StatusCode, b)
	}
}

func (g *gateway) signal(sig syscall.Signal) {
	if err := g.cmd.Process.Signal(sig); err != nil {
		g.t.Fatal(err)
	}
}

// exitsWithin waits for portico to exit 0 within limit of since; a later
// exit is an error, none after wait is fatal.
func (g *gateway) exitsWithin(since time.Time, limit, wait time.Duration) {
	g.t.Helper()
	select {
	case err := <-g.done:
		g.done <- nil // for the cleanup
		if err != nil {
			g.t.Fatalf("exit: %v, want 0", err)
		}
		if el := time.Since(since); el > limit {
			g.t.Errorf("exited %v after the drain's cue, want within %v", el, limit)
		}
	case <-time.After(wait):
		g.t.Fatalf("portico did not exit %v after the drain's cue", wait)
	}
}

// raw sends bytes on a fresh connection and returns everything read until
// the server closes or the timeout passes.
func (g *gateway) raw(req string, timeout time.Duration) string {
	g.t.Helper()
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		g.t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		g.t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	out, _ := io.ReadAll(c)
	return string(out)
}

// dial opens a raw connection to the gateway's listener with a deadline of
// timeout for the whole exchange; the test's end closes it.
func (g *gateway) dial(timeout time.Duration) net.Conn {
	g.t.Helper()
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(timeout))
	return c
}

// oneRouteConfig is a route file with one listener, one upstream "app" at
// up and one catch-all route "app" to it, access log on stdout (logLine
// reads it). listenerExtra and routeExtra are further YAML lines of the
// listener and the route, each line indented four spaces ("" for none).
func oneRouteConfig(up, listenerExtra, routeExtra string) string {
	return `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
` + listenerExtra + `admin: {address: "{{ADMIN}}"}
access_log: {path: stdout}
upstreams:
  - name: app
    targets: [{address: "` + up + `"}]
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
` + routeExtra
}

// rawResponses sends req and parses the responses that come back in order.
func (g *gateway) rawResponses(req string, n int) []*http.Response {
	g.t.Helper()
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		g.t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		g.t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	var out []*http.Response
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			g.t.Fatalf("response %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		out = append(out, resp)
	}
	return out
}

func (g *gateway) get(path string) (*http.Response, string) {
	g.t.Helper()
	resp, err := client.Get("http://" + g.addr + path)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var client = &http.Client{Timeout: 10 * time.Second}

// getBody fetches url with client in the background; the channel gets
// the body, or the error's text.
func getBody(url string) <-chan string {
	done := make(chan string, 1)
	go func() {
		resp, err := client.Get(url)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	return done
}

func statusOf(resp string) string {
	line, _, _ := strings.Cut(resp, "\r\n")
	return line
}

func netListen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

// rawUpstream is an origin for answers net/http would never send: each
// accepted connection goes to serve on its own goroutine and is closed
// when serve returns. It returns the origin's address.
func rawUpstream(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return rawUpstreamOn(t, ln, serve)
}

// eachRequest reads the requests arriving on an upstream connection, each
// body drained, and hands serve each one with its index on the
// connection, until serve returns false or the gateway stops sending.
func eachRequest(c net.Conn, serve func(n int, req *http.Request) bool) {
	br := bufio.NewReader(c)
	for n := 0; ; n++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		if !serve(n, req) {
			return
		}
	}
}

// rawUpstreamOn is rawUpstream on a listener of the caller's (a TLS one,
// say).
func rawUpstreamOn(t *testing.T, ln net.Listener, serve func(c net.Conn)) string {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}
