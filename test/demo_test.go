//go:build integration

package test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// `portico demo` prints curl lines that work as printed (issues 2, 4, 6):
// each printed line is run here, as curl would run it, and must answer
// what its comment says (404, 401, else 200; the metrics line must list
// portico_ series).
func TestDemoCurlLinesWork(t *testing.T) {
	var curls []string
	for attempt := 1; ; attempt++ {
		var inUse bool
		if curls, inUse = startDemo(t); !inUse || attempt == 3 {
			break
		}
		// A port picked free was handed by the kernel to one of the demo's
		// own in-process upstreams (ephemeral ports) before the demo bound
		// it: start again on new ports.
	}
	if len(curls) < 10 {
		t.Fatalf("only %d curl lines: %q", len(curls), curls)
	}
	for _, line := range curls {
		t.Run(line[:min(len(line), 60)], func(t *testing.T) { runDemoCurl(t, line) })
	}
}

// startDemo starts `portico demo` on free ports and returns the curl lines
// it printed, or reports that a port it was given was taken meanwhile.
func startDemo(t *testing.T) (curls []string, inUse bool) {
	t.Helper()
	listen, tlsListen, admin := freePort(t), freePort(t), freePort(t)
	cmd := exec.Command(bin(t), "demo", "--listen", listen, "--tls-listen", tlsListen, "--admin", admin)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("demo stderr:\n%s", stderr.String())
		}
	})
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 64<<10)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				<-done // stderr is complete once the process has been waited for
				return curls, strings.Contains(stderr.String(), "address already in use")
			}
			if strings.HasPrefix(l, "Press Ctrl-C") {
				return curls, false
			}
			if s := strings.TrimSpace(l); strings.HasPrefix(s, "curl ") {
				curls = append(curls, s)
			}
		case <-deadline:
			t.Fatalf("demo printed no complete list; stderr:\n%s", stderr.String())
		}
	}
}

// runDemoCurl runs one printed curl line with Go's clients: the flags the
// demo prints (-i, -s, -k, -X, --data, -H, --http2-prior-knowledge) and a
// trailing "| grep WORD".
func runDemoCurl(t *testing.T, line string) {
	cmdPart, comment, _ := strings.Cut(line, "#")
	cmdPart, grep, piped := strings.Cut(cmdPart, "|")
	args := shellWords(cmdPart)[1:] // drop "curl"
	method, body, url := "GET", "", ""
	hdr := http.Header{}
	insecure, h2c := false, false
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-i", "-s":
		case "-ik", "-ki":
			insecure = true
		case "-k":
			insecure = true
		case "--http2-prior-knowledge":
			h2c = true
		case "-X":
			i++
			method = args[i]
		case "--data":
			i++
			body = args[i]
		case "-H":
			i++
			k, v, _ := strings.Cut(args[i], ":")
			hdr.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		default:
			if strings.HasPrefix(a, "-") {
				t.Fatalf("flag %q not understood by this test: update it with the demo", a)
			}
			url = a
		}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	switch {
	case h2c:
		client = h2cClient()
	case insecure:
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
		if err := http2.ConfigureTransport(tr); err != nil {
			t.Fatal(err)
		}
		client.Transport = tr
	}
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded") // as curl --data sends
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := 200
	if m := regexp.MustCompile(`\b(4\d\d)\b`).FindStringSubmatch(comment); m != nil {
		want = map[string]int{"401": 401, "404": 404}[m[1]]
	}
	if resp.StatusCode != want {
		t.Fatalf("status %d, want %d (comment %q): %.200s", resp.StatusCode, want, comment, b)
	}
	if insecure && resp.ProtoMajor != 2 && strings.Contains(comment, "HTTP/2") {
		t.Errorf("TLS line: %s, the comment promises HTTP/2 by ALPN", resp.Proto)
	}
	if piped {
		word := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(grep), "grep"))
		if !strings.Contains(string(b), word) {
			t.Errorf("no %q in the output", word)
		}
	}
}

// shellWords splits a command line on spaces, keeping single-quoted words
// whole (the quoting the demo's lines use).
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	in, have := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			in, have = !in, true
		case r == ' ' && !in:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// The demo serves a minted token and an echo of every request: it refuses
// to listen beyond loopback.
func TestDemoLoopbackOnly(t *testing.T) {
	out, err := exec.Command(bin(t), "demo", "--listen", "0.0.0.0:0").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "loopback") {
		t.Fatalf("demo on 0.0.0.0: %v %s", err, out)
	}
}
