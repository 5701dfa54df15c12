package tls

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func requireOpenSSL(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is not installed; `make test` installs it (make test-tools)")
	}
	return path
}

func TestOpenSSLClient(t *testing.T) {
	openssl := requireOpenSSL(t)
	f := newFixture(t)
	ts := startTestServer(t, mustServer(t, ServerConfig{Certificates: f.certs, ALPN: []string{"h2", "http/1.1"}}, nil), nil, 0)
	tests := []struct {
		version, alpn string
		wantProto     string
	}{
		{"-tls1_3", "h2", "TLSv1.3"},
		{"-tls1_2", "http/1.1", "TLSv1.2"},
		{"-tls1_2", "h2", "TLSv1.2"},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		// Not -brief: it omits the ALPN line.
		cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", ts.addr(), "-servername", "b.example.com",
			"-alpn", tt.alpn, tt.version, "-CAfile", f.ca.file, "-verify_return_error")
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		cancel()
		s := string(out)
		if err != nil {
			t.Fatalf("%v: %v\n%s", tt, err, s)
		}
		for _, want := range []string{"New, " + tt.wantProto + ",", "ALPN protocol: " + tt.alpn, "Verify return code: 0 (ok)", "subject=CN = b"} {
			if !strings.Contains(s, want) {
				t.Fatalf("%v: output lacks %q:\n%s", tt, want, s)
			}
		}
	}
	// TLS 1.1 is refused.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, openssl, "s_client", "-connect", ts.addr(), "-tls1_1", "-brief").CombinedOutput()
	if err == nil && strings.Contains(string(out), "Protocol version: TLSv1.1") {
		t.Fatalf("TLS 1.1 accepted:\n%s", out)
	}
}

// A client KeyUpdate (update_requested) is answered: the server's own
// KeyUpdate comes out of Read into the output buffer, and the echo after
// it, under the new keys, decrypts at the client.
func TestOpenSSLKeyUpdate(t *testing.T) {
	openssl := requireOpenSSL(t)
	f := newFixture(t)
	ts := startTestServer(t, mustServer(t, ServerConfig{Certificates: f.certs}, nil), nil, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", ts.addr(), "-servername", "a.example.com", "-tls1_3")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	// One pipe for both streams: KEYUPDATE goes to stderr, echoes to stdout.
	stdout, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	defer func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	}()
	lines := make(chan string, 256)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var seen []string
	waitLine := func(want string) {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("openssl exited before %q; output:\n%s", want, strings.Join(seen, "\n"))
				}
				seen = append(seen, l)
				if strings.Contains(l, want) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("timeout waiting for %q; output:\n%s", want, strings.Join(seen, "\n"))
			}
		}
	}
	io.WriteString(stdin, "first-line\n")
	waitLine("first-line")
	for i := 0; i < 3; i++ {
		io.WriteString(stdin, "K\n") // KeyUpdate, update_requested
		waitLine("KEYUPDATE")
		io.WriteString(stdin, "after-update\n")
		waitLine("after-update")
	}
}
