//go:build integration

package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// manyRoutesConfig is oneRouteConfig (access log off) with n more routes
// before its catch-all, each its own path prefix.
func manyRoutesConfig(up string, n int) string {
	var b strings.Builder
	b.WriteString(`version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: app
    targets: [{address: "` + up + `"}]
routes:
`)
	for i := range n {
		fmt.Fprintf(&b, "  - {name: r%d, match: {path_prefix: /r%d/}, upstream: app}\n", i, i)
	}
	b.WriteString("  - {name: app, match: {path_prefix: /}, upstream: app}\n")
	return b.String()
}

// holdingUpstream answers /slow only once release is closed (or after 60 s)
// and everything else at once.
func holdingUpstream(t *testing.T) (*upstream, chan struct{}) {
	release := make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-time.After(60 * time.Second):
			}
		}
		io.WriteString(w, "ok")
	})
	return up, release
}

// readyzStatus is /readyz's status, or 0 when the admin listener is gone.
func (g *gateway) readyzStatus() int {
	resp, err := client.Get("http://" + g.admin + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (g *gateway) configSHA() string {
	g.t.Helper()
	resp, err := client.Get("http://" + g.admin + "/config")
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b struct{ SHA256 string }
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		g.t.Fatal(err)
	}
	return b.SHA256
}

// SPEC §1: SIGTERM drains. A reload still reading or compiling its route
// file (a large one takes seconds) must not hold it back: /readyz turns
// 503 at once (a Kubernetes grace period runs meanwhile), the drain lets
// the request in flight finish, and the reload that finishes during the
// drain is dropped: the config drained with stays. The route file is a
// FIFO here, so the reload waits, however fast the machine, until the
// test writes the file.
func TestSIGTERMDuringSlowReload(t *testing.T) {
	up, release := holdingUpstream(t)
	g := startGateway(t, manyRoutesConfig(up.addr(), 0))
	before := g.configSHA()
	// Held open until the dropped reload is seen (getBody gives up after
	// 10 s).
	inFlight := make(chan string, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 90 * time.Second}).Get("http://" + g.addr + "/slow")
		if err != nil {
			inFlight <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		inFlight <- string(b)
	}()
	up.waitPath("/slow", 1)

	if err := os.Remove(g.file); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(g.file, 0o600); err != nil {
		t.Fatal(err)
	}
	g.signal(syscall.SIGHUP)
	time.Sleep(200 * time.Millisecond) // the reload is waiting for its file
	g.signal(syscall.SIGTERM)
	sent := time.Now()
	for g.readyzStatus() == 200 {
		if time.Since(sent) > 200*time.Millisecond {
			t.Fatalf("/readyz still 200 %v after SIGTERM (a reload was reading its file)", time.Since(sent))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !g.logged(`"msg":"draining"`) {
		t.Fatal("no drain began")
	}
	// The file arrives and compiles during the drain (the request in
	// flight holds it open): the result is dropped.
	text := strings.NewReplacer("{{LISTEN}}", g.addr, "{{ADMIN}}", g.admin).Replace(manyRoutesConfig(up.addr(), 50))
	if err := os.WriteFile(g.file, []byte(text), 0o600); err != nil { // opens the FIFO: the reload reads it
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(g.stderr.String(), "its result is dropped") {
		if time.Now().After(deadline) || strings.Contains(g.stderr.String(), "config reloaded") {
			t.Fatal("the reload that finished during the drain was not dropped")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if sha := g.configSHA(); sha != before {
		t.Fatalf("config during the drain %s, want the one it began with %s", sha, before)
	}
	close(release)
	if body := <-inFlight; body != "ok" {
		t.Fatalf("request in flight: %q", body)
	}
	g.exitsWithin(time.Now(), 5*time.Second, 10*time.Second)
}

// During a drain a reload is refused: POST /reload answers 503 with the
// admin's error envelope; SIGHUP still reopens a file access log, so that
// logrotate's rename during a drain loses no lines.
func TestDrainRefusesReloadReopensAccessLog(t *testing.T) {
	up, release := holdingUpstream(t)
	logFile := filepath.Join(t.TempDir(), "access.log")
	g := startGateway(t, strings.Replace(oneRouteConfig(up.addr(), "", ""), "access_log: {path: stdout}", `access_log: {path: "`+logFile+`"}`, 1))
	inFlight := getBody("http://" + g.addr + "/slow")
	up.waitPath("/slow", 1)
	g.signal(syscall.SIGTERM)
	for deadline := time.Now().Add(5 * time.Second); g.readyzStatus() == 200; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("/readyz still 200 after SIGTERM")
		}
	}

	resp, err := client.Post("http://"+g.admin+"/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var env struct {
		Result string
		Error  struct {
			Status    int
			Code      string
			Message   string
			RequestID string `json:"request_id"`
		}
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("POST /reload while draining: %d %s: %v", resp.StatusCode, body, err)
	}
	if resp.StatusCode != 503 || resp.Header.Get("Content-Type") != "application/json" || env.Result != "failure" ||
		env.Error.Status != 503 || env.Error.Code != "unavailable" || env.Error.Message == "" || env.Error.RequestID != resp.Header.Get("X-Request-Id") {
		t.Fatalf("POST /reload while draining: %d %s, want 503 unavailable in the error envelope", resp.StatusCode, body)
	}

	// logrotate: rename, then SIGHUP. The request still in flight is
	// logged in the new file.
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	g.signal(syscall.SIGHUP)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(logFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP during the drain did not reopen the access log")
		}
	}
	close(release)
	if b := <-inFlight; b != "ok" {
		t.Fatalf("request in flight: %q", b)
	}
	g.exitsWithin(time.Now(), 5*time.Second, 10*time.Second)
	got, err := os.ReadFile(logFile)
	if err != nil || !strings.Contains(string(got), `"path":"/slow"`) {
		t.Fatalf("the new access log holds %q (%v), want the line of the request that ended during the drain", got, err)
	}
}

// POST /reload answers 400 invalid_config only when the route file is at
// fault (its content, or a change only a restart applies); a file the
// gateway cannot read is 500 reload_failed (SPEC §5 leaves the status to
// the admin's envelope).
func TestReloadFailureStatus(t *testing.T) {
	up := newUpstream(t, nil)
	good := oneRouteConfig(up.addr(), "", "")
	g := startGateway(t, good)
	post := func() (int, string) {
		t.Helper()
		resp, err := client.Post("http://"+g.admin+"/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var env struct{ Error struct{ Code string } }
		_ = json.Unmarshal(b, &env)
		return resp.StatusCode, env.Error.Code
	}
	for _, tc := range []struct {
		name     string
		prepare  func()
		status   int
		wantCode string
	}{
		{"unknown upstream", func() { g.writeConfig(strings.Replace(good, "upstream: app\n", "upstream: nowhere\n", 1)) }, 400, "invalid_config"},
		{"listener added", func() {
			g.writeConfig(strings.Replace(good, "admin:", "  - name: second\n    address: \""+freePortNotIn(t, good, g.addr, g.admin)+"\"\nadmin:", 1))
		}, 400, "invalid_config"},
		{"file removed", func() {
			if err := os.Remove(g.file); err != nil {
				t.Fatal(err)
			}
		}, 500, "reload_failed"},
		{"file is a directory", func() {
			_ = os.Remove(g.file)
			if err := os.Mkdir(g.file, 0o755); err != nil {
				t.Fatal(err)
			}
		}, 500, "reload_failed"},
	} {
		tc.prepare()
		if status, code := post(); status != tc.status || code != tc.wantCode {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, code, tc.status, tc.wantCode)
		}
		_ = os.Remove(g.file)
		g.writeConfig(good)
	}
	if status, code := post(); status != 200 {
		t.Fatalf("good file again: %d %s", status, code)
	}
}
