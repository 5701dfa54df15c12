//go:build integration

package test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// pki is a throwaway CA with helpers to issue server and client certificates.
type pki struct {
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	dir   string
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &pki{ca: ca, caKey: key, dir: t.TempDir()}
	writePEM(t, filepath.Join(p.dir, "ca.crt"), "CERTIFICATE", der)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

var serial atomic.Int64

// issue writes NAME.crt/NAME.key signed by the CA and returns the pair.
func (p *pki) issue(t *testing.T, name string, client bool, dns ...string) (string, string, tls.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(100 + serial.Add(1)), Subject: pkix.Name{CommonName: name, Organization: []string{"Portico Test"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: dns, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	cf, kf := filepath.Join(p.dir, name+".crt"), filepath.Join(p.dir, name+".key")
	writePEM(t, cf, "CERTIFICATE", der)
	writePEM(t, kf, "PRIVATE KEY", kder)
	pair, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	if err != nil {
		t.Fatal(err)
	}
	return cf, kf, pair
}

// issueSANOnly returns a client certificate with an empty subject and
// one DNS name (its identity is in the SAN alone).
func (p *pki) issueSANOnly(t *testing.T, dns string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(100 + serial.Add(1)),
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{dns}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (p *pki) pool() *x509.CertPool {
	cp := x509.NewCertPool()
	cp.AddCert(p.ca)
	return cp
}

func tlsConfigFile(up, cert, key, cert2, key2, mode, ca string) string {
	return `version: 1
listeners:
  - name: tls
    address: "{{LISTEN}}"
    protocols: [http1, h2]
    tls:
      certificates:
        - {cert_file: "` + cert + `", key_file: "` + key + `"}
        - {cert_file: "` + cert2 + `", key_file: "` + key2 + `"}
      client_auth: {mode: ` + mode + `, ca_file: "` + ca + `"}
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: app
    targets: [{address: "` + up + `"}]
routes:
  - name: all
    match: {path_prefix: /}
    upstream: app
`
}

func tlsGet(t *testing.T, addr string, cfg *tls.Config, path string, hdr map[string]string) (*http.Response, string, tls.ConnectionState, error) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, "", tls.ConnectionState{}, err
	}
	defer c.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", path, "localhost")
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	io.WriteString(c, b.String())
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufioReader(c), nil)
	if err != nil {
		return nil, "", c.ConnectionState(), err
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body), c.ConnectionState(), nil
}

func TestTLSTermination(t *testing.T) {
	up := newUpstream(t, nil)
	srvPKI, clientPKI, foreign := newPKI(t, "server-ca"), newPKI(t, "client-ca"), newPKI(t, "foreign-ca")
	cert, key, _ := srvPKI.issue(t, "default", false, "localhost")
	cert2, key2, _ := srvPKI.issue(t, "other", false, "other.test", "*.wild.test")
	_, _, clientCert := clientPKI.issue(t, "alice", true)
	_, _, foreignCert := foreign.issue(t, "mallory", true)
	g := startGateway(t, tlsConfigFile(up.addr(), cert, key, cert2, key2, "request", filepath.Join(clientPKI.dir, "ca.crt")))

	base := func() *tls.Config { return &tls.Config{RootCAs: srvPKI.pool(), ServerName: "localhost"} }

	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := base()
		cfg.MinVersion, cfg.MaxVersion = v, v
		resp, _, st, err := tlsGet(t, g.addr, cfg, "/v", nil)
		if err != nil || resp.StatusCode != 200 || st.Version != v {
			t.Fatalf("version %x: %v %v", v, err, st.Version)
		}
	}
	old := base()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if _, _, _, err := tlsGet(t, g.addr, old, "/", nil); err == nil {
		t.Fatal("TLS 1.1 was accepted")
	}
	// SNI picks the certificate; no SNI match falls back to the first.
	for name, wantCN := range map[string]string{"other.test": "other", "a.wild.test": "other", "localhost": "default", "unknown.test": "default"} {
		cfg := base()
		cfg.ServerName = name
		cfg.InsecureSkipVerify = true
		_, _, st, err := tlsGet(t, g.addr, cfg, "/", nil)
		if err != nil {
			t.Fatalf("SNI %s: %v", name, err)
		}
		if cn := st.PeerCertificates[0].Subject.CommonName; cn != wantCN {
			t.Errorf("SNI %s got certificate %s, want %s", name, cn, wantCN)
		}
	}
	// Plain HTTP sent to the TLS port: a 400 that says so, then a close.
	if out := g.raw("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 3*time.Second); !strings.HasPrefix(out, "HTTP/1.1 400 ") ||
		!strings.Contains(out, `"code":"bad_request"`) || !strings.Contains(out, "use https") {
		t.Errorf("plain HTTP on the TLS listener got %q", out)
	}
	// ALPN.
	for _, proto := range []string{"h2", "http/1.1"} {
		cfg := base()
		cfg.NextProtos = []string{proto}
		c, err := tls.Dial("tcp", g.addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ConnectionState().NegotiatedProtocol; got != proto {
			t.Errorf("ALPN %s negotiated %q", proto, got)
		}
		c.Close()
	}
	// mTLS request mode: identity headers only for a verified certificate;
	// forged copies are removed; X-Forwarded-Proto is https.
	cfg := base()
	cfg.Certificates = []tls.Certificate{clientCert}
	resp, _, _, err := tlsGet(t, g.addr, cfg, "/mtls", map[string]string{"X-Portico-Client-Cert-Subject": "CN=forged"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("mTLS: %v", err)
	}
	last := up.requests()[len(up.requests())-1]
	sum := sha256.Sum256(clientCert.Certificate[0])
	if got := last.Header.Get("X-Portico-Client-Cert-Subject"); got != "CN=alice,O=Portico Test" {
		t.Errorf("subject header %q", got)
	}
	if got := last.Header.Get("X-Portico-Client-Cert-Sha256"); got != hex.EncodeToString(sum[:]) {
		t.Errorf("sha256 header %q", got)
	}
	if last.Header.Get("X-Forwarded-Proto") != "https" {
		t.Errorf("X-Forwarded-Proto %q", last.Header.Get("X-Forwarded-Proto"))
	}
	// A verified certificate with an empty subject (SAN-only, RFC 5280
	// §4.1.2.6) still gives both headers: the subject empty, the hash set;
	// without them it looked like no certificate at all.
	sanOnly := clientPKI.issueSANOnly(t, "device-7.clients.test")
	cfg = base()
	cfg.Certificates = []tls.Certificate{sanOnly}
	if resp, _, _, err := tlsGet(t, g.addr, cfg, "/mtls-san", nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("SAN-only client certificate: %v", err)
	}
	last = up.requests()[len(up.requests())-1]
	sum = sha256.Sum256(sanOnly.Certificate[0])
	if v, ok := last.Header["X-Portico-Client-Cert-Subject"]; !ok || len(v) != 1 || v[0] != "" {
		t.Errorf("SAN-only certificate: subject header %q (present %v), want present and empty", v, ok)
	}
	if got := last.Header.Get("X-Portico-Client-Cert-Sha256"); got != hex.EncodeToString(sum[:]) {
		t.Errorf("SAN-only certificate: sha256 header %q", got)
	}
	tlsGet(t, g.addr, base(), "/anon", map[string]string{"X-Portico-Client-Cert-Subject": "CN=forged"})
	last = up.requests()[len(up.requests())-1]
	if v := last.Header.Get("X-Portico-Client-Cert-Subject"); v != "" {
		t.Errorf("client-sent cert header reached upstream: %q", v)
	}
	// A certificate from a foreign CA fails the handshake even in request mode.
	cfg = base()
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreignCert, nil }
	if _, _, _, err := tlsGet(t, g.addr, cfg, "/", nil); err == nil {
		t.Error("foreign-CA client certificate accepted")
	}
	// Resumption: with a session cache, later connections resume (whatever
	// loop they land on: ticket keys are shared).
	cfg = base()
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(8)
	resumed := 0
	for i := 0; i < 6; i++ {
		_, _, st, err := tlsGet(t, g.addr, cfg, "/r", nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.DidResume {
			resumed++
		}
	}
	if resumed < 5 {
		t.Errorf("resumed %d of 5 follow-up connections", resumed)
	}
}

func TestTLSRequireClientCert(t *testing.T) {
	up := newUpstream(t, nil)
	srvPKI, clientPKI := newPKI(t, "server-ca"), newPKI(t, "client-ca")
	cert, key, _ := srvPKI.issue(t, "default", false, "localhost")
	_, _, clientCert := clientPKI.issue(t, "bob", true)
	g := startGateway(t, tlsConfigFile(up.addr(), cert, key, cert, key, "require", filepath.Join(clientPKI.dir, "ca.crt")))
	cfg := &tls.Config{RootCAs: srvPKI.pool(), ServerName: "localhost"}
	if resp, _, _, err := tlsGet(t, g.addr, cfg, "/", nil); err == nil && resp != nil {
		t.Fatalf("require mode admitted a client without a certificate: %d", resp.StatusCode)
	}
	cfg.Certificates = []tls.Certificate{clientCert}
	if resp, _, _, err := tlsGet(t, g.addr, cfg, "/", nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("require mode with a good certificate: %v", err)
	}
}

// TestTLSReloadUnderTraffic: new handshakes get the new certificate after
// SIGHUP, open connections carry on, and no request fails meanwhile.
func TestTLSReloadUnderTraffic(t *testing.T) {
	up := newUpstream(t, nil)
	p := newPKI(t, "ca")
	cert, key, _ := p.issue(t, "first", false, "localhost")
	cfgText := tlsConfigFile(up.addr(), cert, key, cert, key, "none", "")
	cfgText = strings.Replace(cfgText, `      client_auth: {mode: none, ca_file: ""}`+"\n", "", 1)
	g := startGateway(t, cfgText)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool(), ServerName: "localhost"}}}
	var failures, ok atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get("https://" + g.addr + "/")
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				ok.Add(1)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	// Rotate: a new certificate in the same files.
	_, _, _ = p.issue(t, "second", false, "localhost")
	os.Rename(filepath.Join(p.dir, "second.crt"), cert)
	os.Rename(filepath.Join(p.dir, "second.key"), key)
	g.signal(syscall.SIGHUP)
	time.Sleep(400 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failures.Load() != 0 || ok.Load() < 20 {
		t.Fatalf("%d ok, %d failed across the certificate reload", ok.Load(), failures.Load())
	}
	_, _, st, err := tlsGet(t, g.addr, &tls.Config{RootCAs: p.pool(), ServerName: "localhost"}, "/", nil)
	if err != nil || st.PeerCertificates[0].Subject.CommonName != "second" {
		t.Fatalf("after reload the certificate is %v (%v)", st.PeerCertificates[0].Subject.CommonName, err)
	}
	// A broken key file fails the reload and keeps serving the old one.
	os.WriteFile(key, []byte("not a key"), 0o600)
	resp, err := http.Post("http://"+g.admin+"/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Error("reload with a broken key file succeeded")
	}
	if _, _, _, err := tlsGet(t, g.addr, &tls.Config{RootCAs: p.pool(), ServerName: "localhost"}, "/", nil); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
}

func TestTLSBodiesAndStalledHandshake(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path == "/down" {
			w.Write(bytes.Repeat([]byte("abcdefgh"), (1<<20)/8))
			return
		}
		sum := sha256.Sum256(body)
		fmt.Fprintf(w, "%x", sum)
	})
	p := newPKI(t, "ca")
	cert, key, _ := p.issue(t, "srv", false, "localhost")
	cfgText := strings.Replace(tlsConfigFile(up.addr(), cert, key, cert, key, "none", ""), `      client_auth: {mode: none, ca_file: ""}`+"\n", "", 1)
	g := startGateway(t, cfgText)
	// A client that sends half a ClientHello and stalls must not hold up others.
	stall, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stall.Close()
	stall.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00})
	for _, proto := range []string{"http/1.1", "h2"} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool(), ServerName: "localhost"}, ForceAttemptHTTP2: proto == "h2"}
		cl := &http.Client{Timeout: 10 * time.Second, Transport: tr}
		payload := bytes.Repeat([]byte("0123456789abcdef"), (1<<20)/16)
		resp, err := cl.Post("https://"+g.addr+"/up", "application/octet-stream", bytes.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		sum := sha256.Sum256(payload)
		if string(b) != hex.EncodeToString(sum[:]) {
			t.Fatalf("%s 1 MiB upload: %q", proto, b)
		}
		if (proto == "h2") != (resp.ProtoMajor == 2) {
			t.Errorf("%s: response protocol %s", proto, resp.Proto)
		}
		resp, err = cl.Get("https://" + g.addr + "/down")
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if len(b) != 1<<20 || !bytes.Equal(b[:8], []byte("abcdefgh")) {
			t.Fatalf("%s 1 MiB download: %d bytes", proto, len(b))
		}
	}
}

// A ClientHello dribbled until header_timeout cuts it is a timed-out
// handshake in the metrics (it was in no handshake counter), and so is a
// handshake the client leaves unfinished; a client that completes its
// handshake and closes at once counts as completed.
func TestTLSHandshakeTimeoutsCounted(t *testing.T) {
	up := newUpstream(t, nil)
	p := newPKI(t, "ca")
	cert, key, _ := p.issue(t, "srv", false, "localhost")
	cfgText := strings.Replace(tlsConfigFile(up.addr(), cert, key, cert, key, "none", ""), `      client_auth: {mode: none, ca_file: ""}`+"\n",
		"    limits: {header_timeout: 1s}\n", 1)
	g := startGateway(t, cfgText)
	stall, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stall.Close()
	stall.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00}) // half a ClientHello
	done, err := tls.Dial("tcp", g.addr, &tls.Config{RootCAs: p.pool(), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	done.Close() // handshake completed, then closed at once
	_ = stall.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(stall); err != nil {
		t.Fatalf("stalled handshake not closed: %v", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	var body string
	for time.Now().Before(deadline) {
		_, body = adminGet(t, g, "GET", "/metrics")
		if strings.Contains(body, "portico_tls_handshakes_timed_out_total 1") && strings.Contains(body, "portico_tls_handshakes_completed_total 1") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("handshake counters:\n%s", grepLines(body, "portico_tls_handshakes_"))
}

// An HTTP/2-only TLS listener and a client that offers only http/1.1: Go's
// crypto/tls completes the handshake without a protocol (no
// no_application_protocol alert), and the client then speaks HTTP/1.1.
// It gets a 505 saying why instead of a silent close.
func TestH2OnlyTLSListenerAnswersHTTP1Client(t *testing.T) {
	up := newUpstream(t, nil)
	p := newPKI(t, "ca")
	cert, key, _ := p.issue(t, "srv", false, "localhost")
	g := startGateway(t, `version: 1
listeners:
  - name: h2only
    address: "{{LISTEN}}"
    protocols: [h2]
    limits: {header_timeout: 1s}
    tls:
      certificates: [{cert_file: "`+cert+`", key_file: "`+key+`"}]
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams: [{name: app, targets: [{address: "`+up.addr()+`"}]}]
routes: [{name: all, upstream: app}]
`)
	cfg := &tls.Config{RootCAs: p.pool(), ServerName: "localhost", NextProtos: []string{"http/1.1"}}
	resp, body, st, err := tlsGet(t, g.addr, cfg, "/x", nil)
	if err != nil {
		t.Fatalf("http/1.1-only client on an h2-only listener: %v", err)
	}
	if st.NegotiatedProtocol != "" || resp.StatusCode != 505 || !strings.Contains(body, `"code":"http_version_not_supported"`) || !strings.Contains(body, "HTTP/2 only") {
		t.Fatalf("ALPN %q: %d %s", st.NegotiatedProtocol, resp.StatusCode, body)
	}
	if len(up.requests()) != 0 {
		t.Fatal("the request reached the upstream")
	}
	// Bytes that are no HTTP/1.x request line, or that stall, are closed
	// in silence (an HTTP/2 client cannot read an HTTP/1.1 answer).
	for _, sent := range []string{"GARBAGE\r\n\r\n", "hello"} {
		c, err := tls.Dial("tcp", g.addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, sent)
		c.SetReadDeadline(time.Now().Add(4 * time.Second))
		got, err := io.ReadAll(c)
		c.Close()
		if len(got) != 0 || err != nil {
			t.Errorf("after %q: got %q, %v; want a silent close", sent, got, err)
		}
	}
}

// Plain HTTP sent to a TLS listener gets its 400 (with Date and
// X-Request-Id, as every answer Portico makes) logged and counted like
// any other: it left no trace, so the request id the client held could
// not be found, and a misconfigured client went unseen.
func TestPlainHTTPOnTLSLoggedAndCounted(t *testing.T) {
	p := newPKI(t, "ca")
	cert, key, _ := p.issue(t, "localhost", false, "localhost")
	cfg := strings.Replace(tlsConfigFile("127.0.0.1:9", cert, key, cert, key, "request", filepath.Join(p.dir, "ca.crt")),
		`access_log: {path: "off"}`, `access_log: {path: stdout}`, 1)
	g := startGateway(t, cfg)
	out := g.raw("GET /plain-on-tls?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", 3*time.Second)
	if !strings.HasPrefix(out, "HTTP/1.1 400 ") || !strings.Contains(out, "\r\nDate: ") || !strings.Contains(out, "\r\nX-Request-Id: ") {
		t.Fatalf("plain HTTP on the TLS listener got %q", out)
	}
	if st, code := logLine(t, g, "/plain-on-tls"); st != 400 || code != "bad_request" {
		t.Errorf("logged %d %q, want 400 bad_request", st, code)
	}
	mresp, err := http.Get("http://" + g.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(mb), `portico_http_requests_total{listener="tls",route="",code="400"} 1`) {
		t.Errorf("metrics:\n%s", grepLines(string(mb), "portico_http_requests_total"))
	}
}
