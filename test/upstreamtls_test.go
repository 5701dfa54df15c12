//go:build integration

package test

import (
	"bytes"
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUpstreamTLS: upstreams[].tls verifies the upstream's certificate
// against ca_file with server_name, keeps connections alive, and carries
// bodies both ways; a wrong CA answers 502.
func TestUpstreamTLS(t *testing.T) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/big" {
			w.Write(bytes.Repeat([]byte("0123456789abcdef"), (1<<20)/16))
			return
		}
		fmt.Fprintf(w, "tls upstream saw %s %s %x proto=%s", r.Method, r.URL.Path, sha256.Sum256(body), r.Header.Get("X-Forwarded-Proto"))
	}))
	defer up.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "up-ca.crt")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw}), 0o644)
	wrongCA := filepath.Join(newPKI(t, "some-other-ca").dir, "ca.crt") // did not sign the upstream's certificate
	addr := strings.TrimPrefix(up.URL, "https://")
	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: secure
    targets: [{address: "`+addr+`"}]
    tls: {server_name: example.com, ca_file: "`+ca+`"}
  - name: wrong
    targets: [{address: "`+addr+`"}]
    tls: {server_name: example.com, ca_file: "`+wrongCA+`"}
routes:
  - name: wrong
    match: {path_prefix: /wrong}
    upstream: wrong
  - name: secure
    match: {path_prefix: /}
    upstream: secure
`)
	for i := 0; i < 3; i++ { // the second and third reuse the pooled TLS connection
		resp, body := g.get("/hello")
		empty := sha256.Sum256(nil)
		if resp.StatusCode != 200 || body != fmt.Sprintf("tls upstream saw GET /hello %x proto=http", empty) {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	payload := bytes.Repeat([]byte("x"), 1<<20)
	resp, err := client.Post("http://"+g.addr+"/upload", "application/octet-stream", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("tls upstream saw POST /upload %x proto=http", sha256.Sum256(payload)); string(b) != want {
		t.Fatalf("1 MiB upload over upstream TLS: %q", b)
	}
	resp, body := g.get("/big")
	if resp.StatusCode != 200 || len(body) != 1<<20 {
		t.Fatalf("1 MiB download over upstream TLS: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = g.get("/wrong/x")
	checkEnvelope(t, resp, body, 502, "bad_gateway")
}
