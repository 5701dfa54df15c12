//go:build integration

package test

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestUnreadStderrDoesNotBlock: the process log goes to stderr, and a log
// reader that stops reading (a stalled journald or container log driver)
// must not stop the gateway. Before, once the pipe was full, POST /reload
// never answered and SIGTERM never drained: the logging call blocked.
func TestUnreadStderrDoesNotBlock(t *testing.T) {
	client := &http.Client{Timeout: 3 * time.Second}
	// A port picked free can be taken before portico binds it (as
	// startGateway knows): a start that exits is retried on new ports.
	var p *unreadStderrProcess
	for attempt := 1; ; attempt++ {
		var started bool
		if p, started = startUnreadStderr(t, client); started {
			break
		}
		// It exited at start: its stderr (unread so far) says why.
		_ = p.r.SetReadDeadline(time.Now().Add(time.Second))
		why, _ := io.ReadAll(p.r)
		if !strings.Contains(string(why), "address already in use") || attempt == 3 {
			t.Fatalf("portico did not become ready:\n%s", why)
		}
		t.Logf("portico exited at start, retrying on new ports:\n%s", why)
	}
	addr, admin, file, good, cmd, r, done := p.addr, p.admin, p.file, p.good, p.cmd, p.r, p.done
	// Each failed reload logs its problems: 60 of them are several times
	// what the pipe holds.
	bad := good + "bogus: 1\nmore_bogus: [1, 2]\n"
	if err := os.WriteFile(file, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		resp, err := client.Post("http://"+admin+"/reload", "", nil)
		if err != nil {
			t.Fatalf("POST /reload %d with stderr unread: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatalf("POST /reload %d of a bad file answered 200", i)
		}
	}
	if resp, err := client.Get("http://" + addr + "/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("serving with stderr unread: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	since := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
		// The log flush waits at most 2 s for the reader at exit.
		if d := time.Since(since); d > 5*time.Second {
			t.Fatalf("drain took %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not end the process within 10 s while stderr was unread")
	}
	// What was kept is whole JSON lines, and the drop is reported.
	out, _ := io.ReadAll(r)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 5 || !strings.HasPrefix(lines[0], "{") {
		t.Fatalf("stderr kept %d lines: %.300q", len(lines), out)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "{") || !strings.HasSuffix(l, "}") {
			t.Fatalf("broken log line %q", l)
		}
	}
}

// TestAccessLogWriteFailureLogged: a destination that fails every write
// (/dev/full: a full disk) loses lines; that is counted and said in the
// process log, not only in a metric.
func TestAccessLogWriteFailureLogged(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full here")
	}
	g := startGateway(t, `version: 1
listeners: [{name: web, address: "{{LISTEN}}"}]
admin: {address: "{{ADMIN}}"}
access_log: {path: /dev/full}
routes:
  - {name: ok, direct_response: {status: 200, body: "ok"}}
`)
	for i := range 3 {
		if resp, body := g.get("/"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if strings.Contains(g.stderr.String(), `"msg":"access log lines lost"`) && strings.Contains(g.stderr.String(), "no space left on device") {
			return
		}
	}
	t.Fatalf("no log line about the failing access log:\n%s", g.stderr.String())
}

// startUnreadStderr starts portico on new ports with its stderr a one-page
// pipe nobody reads, and waits until it is ready; started is false when
// it exited first.
func startUnreadStderr(t *testing.T, client *http.Client) (*unreadStderrProcess, bool) {
	t.Helper()
	addr := freePort(t)
	admin := freePortNotIn(t, "", addr)
	file := filepath.Join(t.TempDir(), "portico.yaml")
	good := `version: 1
listeners: [{name: web, address: "` + addr + `"}]
admin: {address: "` + admin + `"}
access_log: {path: "off"}
routes:
  - {name: ok, direct_response: {status: 200, body: "ok"}}
`
	if err := os.WriteFile(file, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	// The smallest pipe (one page) fills after a few dozen lines.
	if _, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, 4096); err != nil {
		t.Fatalf("F_SETPIPE_SZ: %v", err)
	}
	cmd := exec.Command(bin(t), "run", "-c", file)
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		go io.Copy(io.Discard, r) // unblock it, whatever state it is in
		err := <-done
		done <- err
	})
	p := &unreadStderrProcess{addr: addr, admin: admin, file: file, good: good, cmd: cmd, r: r, done: done}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if resp, err := client.Get("http://" + admin + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, true
			}
		}
		select {
		case err := <-done:
			done <- err // for the cleanup
			return p, false
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("portico did not become ready within 10 s (it is still running)")
	return nil, false
}

// unreadStderrProcess is a portico whose stderr is a pipe the test does
// not read (r is its read end).
type unreadStderrProcess struct {
	addr, admin, file, good string
	cmd                     *exec.Cmd
	r                       *os.File
	done                    chan error
}

// TestAccessLogFIFOWithoutReader: an access log that is a FIFO nobody
// reads yet (a log shipper started after the gateway) does not stop the
// gateway from starting (validate accepted it, run refused it); the lines
// wait in the pipe for the reader that comes.
func TestAccessLogFIFOWithoutReader(t *testing.T) {
	up := newUpstream(t, nil)
	fifo := filepath.Join(t.TempDir(), "access.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(basicConfig(up.addr()), `access_log: {path: stdout}`, `access_log: {path: "`+fifo+`"}`, 1)
	if !strings.Contains(cfg, fifo) {
		t.Fatalf("no access log to replace in:\n%s", cfg)
	}
	g := startGateway(t, cfg)
	resp, _ := g.get("/through-the-fifo")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_ = r.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for !strings.Contains(string(got), `"path":"/through-the-fifo"`) {
		n, err := r.Read(buf)
		if err != nil {
			t.Fatalf("reading the FIFO: %v (got %q)", err, got)
		}
		got = append(got, buf[:n]...)
	}
}

// TestExitPromptWithStalledAccessLog: SPEC §1 has the drain end in exit 0
// after drain_timeout at most; a log sink that stopped reading (a FIFO
// whose pipe is full) may cost the lines still buffered, not the exit:
// an idle gateway exits within about a second and a half of SIGTERM (it
// waited 5 s for the final flush, past a supervisor's grace period).
func TestExitPromptWithStalledAccessLog(t *testing.T) {
	up := newUpstream(t, nil)
	fifo := filepath.Join(t.TempDir(), "access.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, strings.Replace(basicConfig(up.addr()), `access_log: {path: stdout}`, `access_log: {path: "`+fifo+`"}`, 1))
	long := "/" + strings.Repeat("p", 1000) // ~1.2 KB lines: 150 fill the 64 KiB pipe
	for range 150 {
		if resp, _ := g.get(long); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	time.Sleep(100 * time.Millisecond) // the flusher is blocked on the full pipe
	start := time.Now()
	g.signal(syscall.SIGTERM)
	g.exitsWithin(start, 2*time.Second, 10*time.Second)
}
