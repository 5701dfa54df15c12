//go:build integration

package test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// jwks_ca_file is read by content on reload, as an upstream's ca_file is:
// a CA bundle replaced in place (a distrusted CA taken out, the IdP's new
// CA put in) takes effect at the next SIGHUP. The JWKS is served over
// https with a certificate of CA B; the bundle holds CA A, so no key set
// can be fetched (503, auth fails closed); the bundle is overwritten with
// CA B, same path, and SIGHUP brings the keys (200).
func TestJWKSCAFileReloadedByContent(t *testing.T) {
	up := newUpstream(t, nil)
	caA, caB := newPKI(t, "CA A"), newPKI(t, "CA B")
	_, _, pair := caB.issue(t, "idp", false, "localhost")

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := key.PublicKey.Bytes()
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "k1", "x": b64(pub[1:33]), "y": b64(pub[33:65]),
	}}})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	idp := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwks)
	}), ErrorLog: log.New(io.Discard, "", 0)} // the refused handshakes are the point
	go idp.Serve(ln)
	t.Cleanup(func() { idp.Close() })
	jwksURL := "https://" + ln.Addr().(*net.TCPAddr).String() + "/jwks"

	const iss = "https://idp.test/"
	h, _ := json.Marshal(map[string]string{"alg": "ES256", "kid": "k1", "typ": "JWT"})
	c, _ := json.Marshal(map[string]any{"iss": iss, "aud": "api", "sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	signing := b64(h) + "." + b64(c)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	bearer := map[string]string{"Authorization": "Bearer " + signing + "." + b64(sig)}

	bundle := filepath.Join(t.TempDir(), "idp-ca.crt")
	copyFile := func(from string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bundle, b, 0o600); err != nil { // in place: same path, same inode
			t.Fatal(err)
		}
	}
	copyFile(filepath.Join(caA.dir, "ca.crt"))

	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: app
    targets: [{address: "`+up.addr()+`"}]
auth:
  - name: users
    type: jwt
    jwks_url: "`+jwksURL+`"
    jwks_ca_file: "`+bundle+`"
    issuer: "`+iss+`"
    audiences: [api]
    algorithms: [ES256]
routes:
  - name: private
    match: {path_prefix: /}
    auth: [users]
    upstream: app
`)
	base := "http://" + g.addr + "/x"
	if resp, body := doReq(t, "GET", base, bearer); resp.StatusCode != 503 {
		t.Fatalf("JWKS server's CA not trusted: %d %s, want 503", resp.StatusCode, body)
	}

	// waitStatus polls until the token gets want, for up to 5 s.
	waitStatus := func(want int, what string) {
		t.Helper()
		var last int
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			resp, _ := doReq(t, "GET", base, bearer)
			if last = resp.StatusCode; last == want {
				return
			}
		}
		t.Fatalf("%s: %d, want %d within 5 s", what, last, want)
	}
	copyFile(filepath.Join(caB.dir, "ca.crt"))
	g.signal(syscall.SIGHUP)
	waitStatus(200, "after the CA bundle was replaced and SIGHUP")

	// And back: CA B distrusted. The keys fetched under it are not carried
	// into the new verifier (as stale-if-error would keep them): 503.
	copyFile(filepath.Join(caA.dir, "ca.crt"))
	g.signal(syscall.SIGHUP)
	waitStatus(503, "after CA B was dropped from the bundle and SIGHUP")
}
