package tls

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type fixture struct {
	ca    *testCA
	pool  *x509.CertPool
	def   issued // default: a.example.com
	exact issued // b.example.com
	wild  issued // *.w.example.com
	ip    issued // 127.0.0.1
	certs []CertFiles
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	f := &fixture{ca: newTestCA(tb, "server")}
	f.def = f.ca.issue(tb, leafOpts{cn: "a", dns: []string{"a.example.com"}})
	f.exact = f.ca.issue(tb, leafOpts{cn: "b", dns: []string{"b.example.com"}})
	f.wild = f.ca.issue(tb, leafOpts{cn: "w", dns: []string{"*.w.example.com"}})
	f.ip = f.ca.issue(tb, leafOpts{cn: "ip", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	for _, is := range []issued{f.def, f.exact, f.wild, f.ip} {
		f.certs = append(f.certs, CertFiles{CertFile: is.certFile, KeyFile: is.keyFile})
	}
	f.pool = x509.NewCertPool()
	f.pool.AddCert(f.ca.cert)
	return f
}

func (f *fixture) client(serverName string) *tls.Config {
	return &tls.Config{ServerName: serverName, RootCAs: f.pool}
}

func TestHandshakeVersions(t *testing.T) {
	f := newFixture(t)
	ts := startTestServer(t, mustServer(t, ServerConfig{Certificates: f.certs}, nil), NewHandshakeLimiter(HandshakeLimits{}), 0)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := f.client("a.example.com")
		cfg.MaxVersion = v
		cc, err := dial(t, ts.addr(), cfg)
		if err != nil {
			t.Fatalf("version %x: %v", v, err)
		}
		if got := cc.ConnectionState().Version; got != v {
			t.Fatalf("client version %x, want %x", got, v)
		}
		ev := ts.event(t)
		if ev.err != nil || ev.state.Version != v || ev.state.ServerName != "a.example.com" {
			t.Fatalf("server state %+v err %v", ev.state, ev.err)
		}
		cc.Close()
	}
}

func TestOldVersionsRefused(t *testing.T) {
	f := newFixture(t)
	f2 := func(min string, clientMax uint16) {
		t.Helper()
		ts := startTestServer(t, mustServer(t, ServerConfig{Certificates: f.certs, MinVersion: min}, nil), nil, 0)
		cfg := f.client("a.example.com")
		cfg.MinVersion = tls.VersionTLS10
		cfg.MaxVersion = clientMax
		if cc, err := dial(t, ts.addr(), cfg); err == nil {
			cc.Close()
			t.Fatalf("min %q: client max %x accepted", min, clientMax)
		}
	}
	f2("1.2", tls.VersionTLS11)
	f2("1.2", tls.VersionTLS10)
	f2("1.3", tls.VersionTLS12)
	f2("", tls.VersionTLS11)
}

func TestSNI(t *testing.T) {
	f := newFixture(t)
	ts := startTestServer(t, mustServer(t, ServerConfig{Certificates: f.certs}, nil), nil, 0)
	tests := []struct {
		sni  string
		want issued
	}{
		{"a.example.com", f.def},
		{"b.example.com", f.exact},
		{"B.Example.COM", f.exact},
		{"x.w.example.com", f.wild},
		{"y.x.w.example.com", f.def}, // a wildcard matches one label only
		{"w.example.com", f.def},
		{"unknown.org", f.def},
		{"", f.ip}, // no SNI: the local address 127.0.0.1 matches the IP SAN
	}
	for _, tt := range tests {
		cfg := &tls.Config{ServerName: tt.sni, InsecureSkipVerify: true}
		cc, err := dial(t, ts.addr(), cfg)
		if err != nil {
			t.Fatalf("sni %q: %v", tt.sni, err)
		}
		got := cc.ConnectionState().PeerCertificates[0]
		if !got.Equal(tt.want.cert) {
			t.Errorf("sni %q: got cert %q, want %q", tt.sni, got.Subject.CommonName, tt.want.cert.Subject.CommonName)
		}
		cc.Close()
	}
	// Verified end to end, not only picked.
	cc, err := dial(t, ts.addr(), f.client("z.w.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	cc.Close()

	// Without an IP SAN, no SNI gets the default.
	ts2 := startTestServer(t, mustServer(t, ServerConfig{Certificates: f.certs[:3]}, nil), nil, 0)
	cc, err = dial(t, ts2.addr(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if !cc.ConnectionState().PeerCertificates[0].Equal(f.def.cert) {
		t.Fatal("no SNI did not get the default certificate")
	}
	cc.Close()
}

func TestALPN(t *testing.T) {
	f := newFixture(t)
	ts := startTestServer(t, mustServer(t, ServerConfig{Certificates: f.certs, ALPN: []string{"h2", "http/1.1"}}, nil), nil, 0)
	tests := []struct {
		offer []string
		want  string
		vers  uint16
	}{
		{[]string{"h2", "http/1.1"}, "h2", tls.VersionTLS13},
		{[]string{"http/1.1", "h2"}, "h2", tls.VersionTLS12}, // server preference
		{[]string{"http/1.1"}, "http/1.1", tls.VersionTLS13},
		{nil, "", tls.VersionTLS13},
	}
	for _, tt := range tests {
		cfg := f.client("a.example.com")
		cfg.NextProtos = tt.offer
		cfg.MaxVersion = tt.vers
		cc, err := dial(t, ts.addr(), cfg)
		if err != nil {
			t.Fatalf("%v: %v", tt.offer, err)
		}
		if got := cc.ConnectionState().NegotiatedProtocol; got != tt.want {
			t.Errorf("%v: client got %q, want %q", tt.offer, got, tt.want)
		}
		if ev := ts.event(t); ev.state.NegotiatedProtocol != tt.want {
			t.Errorf("%v: server got %q, want %q", tt.offer, ev.state.NegotiatedProtocol, tt.want)
		}
		cc.Close()
	}
	// No overlap fails the handshake (no_application_protocol).
	cfg := f.client("a.example.com")
	cfg.NextProtos = []string{"spdy/3"}
	if cc, err := dial(t, ts.addr(), cfg); err == nil {
		cc.Close()
		t.Fatal("ALPN without overlap accepted")
	}
}

func TestResumption(t *testing.T) {
	f := newFixture(t)
	cfg := ServerConfig{Certificates: f.certs}
	srv := mustServer(t, cfg, nil)
	lim := NewHandshakeLimiter(HandshakeLimits{})
	ts := startTestServer(t, srv, lim, 0)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		ccfg := f.client("a.example.com")
		ccfg.MaxVersion = v
		ccfg.ClientSessionCache = tls.NewLRUClientSessionCache(8)
		resumed := func() bool {
			t.Helper()
			cc, err := dial(t, ts.addr(), ccfg)
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			ev := ts.event(t)
			if ev.state.DidResume != cc.ConnectionState().DidResume {
				t.Fatal("client and server disagree on DidResume")
			}
			return cc.ConnectionState().DidResume
		}
		if resumed() {
			t.Fatalf("%x: first connection resumed", v)
		}
		if !resumed() {
			t.Fatalf("%x: second connection (another Conn, same Server) did not resume", v)
		}
		// Reload with prev: tickets survive.
		ts.srv.Store(mustServer(t, cfg, ts.srv.Load()))
		if !resumed() {
			t.Fatalf("%x: no resumption after NewServer(cfg, prev)", v)
		}
		// Control: a fresh lineage has other keys.
		ts.srv.Store(mustServer(t, cfg, nil))
		if resumed() {
			t.Fatalf("%x: resumed with unrelated ticket keys", v)
		}
	}
	if st := lim.Stats(); st.Completed < 8 || st.InFlight != 0 || st.Queued != 0 {
		t.Fatalf("limiter stats %+v", st)
	}
}

func TestTicketRotation(t *testing.T) {
	r := newTicketRing(time.Hour, 3)
	t0 := time.Unix(1_000_000, 0)
	if err := r.maybeRotate(t0); err != nil {
		t.Fatal(err)
	}
	keys, gen := r.snapshot()
	if len(keys) != 1 || gen != 1 {
		t.Fatalf("keys %d gen %d", len(keys), gen)
	}
	first := keys[0]
	r.maybeRotate(t0.Add(30 * time.Minute)) // not due
	if _, g := r.snapshot(); g != 1 {
		t.Fatal("rotated early")
	}
	r.maybeRotate(t0.Add(time.Hour))
	r.maybeRotate(t0.Add(2 * time.Hour))
	keys, _ = r.snapshot()
	if len(keys) != 3 || keys[2] != first {
		t.Fatalf("want 3 keys, oldest first key; got %d", len(keys))
	}
	r.maybeRotate(t0.Add(3 * time.Hour))
	keys, _ = r.snapshot()
	if len(keys) != 3 || keys[2] == first {
		t.Fatal("oldest key not dropped")
	}
	// After a long idle period only the new key remains.
	r.maybeRotate(t0.Add(100 * time.Hour))
	if keys, _ = r.snapshot(); len(keys) != 1 {
		t.Fatalf("after idle: %d keys", len(keys))
	}
}

// A ticket issued before a rotation still resumes (an older key decrypts).
func TestResumptionAcrossRotation(t *testing.T) {
	f := newFixture(t)
	srv := mustServer(t, ServerConfig{Certificates: f.certs}, nil)
	ts := startTestServer(t, srv, nil, 0)
	ccfg := f.client("a.example.com")
	ccfg.ClientSessionCache = tls.NewLRUClientSessionCache(8)
	cc, err := dial(t, ts.addr(), ccfg)
	if err != nil {
		t.Fatal(err)
	}
	cc.Close()
	srv.tickets.next.Store(0) // force a rotation at the next ClientHello
	cc, err = dial(t, ts.addr(), ccfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if !cc.ConnectionState().DidResume {
		t.Fatal("no resumption after a rotation")
	}
	if keys, _ := srv.tickets.snapshot(); len(keys) != 2 {
		t.Fatalf("keys %d, want 2", len(keys))
	}
}

func TestClientAuth(t *testing.T) {
	f := newFixture(t)
	clientCA := newTestCA(t, "clients")
	foreignCA := newTestCA(t, "foreign")
	good := clientCA.issue(t, leafOpts{cn: "alice", client: true})
	foreign := foreignCA.issue(t, leafOpts{cn: "mallory", client: true})

	tests := []struct {
		mode   string
		cert   *issued
		ok     bool
		verify bool // server sees a verified client cert
	}{
		{"none", &good, true, false},
		{"none", nil, true, false},
		{"none", &foreign, true, false},
		{"request", &good, true, true},
		{"request", nil, true, false},
		{"request", &foreign, false, false},
		{"require", &good, true, true},
		{"require", nil, false, false},
		{"require", &foreign, false, false},
	}
	for _, tt := range tests {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			name := tt.mode + "/none"
			if tt.cert != nil {
				name = tt.mode + "/" + tt.cert.cert.Subject.CommonName
			}
			srv := mustServer(t, ServerConfig{Certificates: f.certs, ClientAuthMode: tt.mode, ClientCAFile: clientCA.file}, nil)
			ts := startTestServer(t, srv, nil, 0)
			cfg := f.client("a.example.com")
			cfg.MaxVersion = v
			if tt.cert != nil {
				// Sent even when not issued by a CA the server lists, as a
				// hostile client would.
				tc := tt.cert.tlsCert
				cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tc, nil }
			}
			cc, err := dial(t, ts.addr(), cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("%s %x: err %v, want ok=%v", name, v, err, tt.ok)
			}
			ev := ts.event(t)
			if !tt.ok {
				if ev.err == nil {
					t.Fatalf("%s %x: server saw no handshake error", name, v)
				}
				ts.close()
				continue
			}
			cc.Close()
			if (ev.cert != nil) != tt.verify {
				t.Fatalf("%s %x: verified cert %v, want %v", name, v, ev.cert != nil, tt.verify)
			}
			if tt.verify {
				if got := ClientCertSubject(ev.cert); got != "CN=alice" {
					t.Fatalf("subject %q", got)
				}
				if got, want := ClientCertSHA256(ev.cert), ClientCertSHA256(good.cert); got != want || len(got) != 64 {
					t.Fatalf("sha256 %q want %q", got, want)
				}
			}
			ts.close()
		}
	}
}

func TestReload(t *testing.T) {
	f := newFixture(t)
	cfgA := ServerConfig{Certificates: []CertFiles{{CertFile: f.def.certFile, KeyFile: f.def.keyFile}}}
	ts := startTestServer(t, mustServer(t, cfgA, nil), nil, 0)
	old, err := dial(t, ts.addr(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()

	// Rewrite the same files with a new certificate, then reload.
	next := f.ca.issue(t, leafOpts{cn: "a2", dns: []string{"a.example.com"}})
	copyFile(t, next.certFile, f.def.certFile)
	copyFile(t, next.keyFile, f.def.keyFile)
	s2, err := NewServer(cfgA, ts.srv.Load())
	if err != nil {
		t.Fatal(err)
	}
	ts.srv.Store(s2)
	cc, err := dial(t, ts.addr(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if !cc.ConnectionState().PeerCertificates[0].Equal(next.cert) {
		t.Fatal("new handshake did not see the reloaded certificate")
	}
	cc.Close()
	// The established connection carries on.
	if err := echo(old, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	// A broken file fails the reload; the caller keeps s2.
	os.WriteFile(f.def.keyFile, []byte("garbage"), 0o600)
	if _, err := NewServer(cfgA, s2); err == nil || !strings.Contains(err.Error(), f.def.keyFile) {
		t.Fatalf("bad reload error %v", err)
	}
	cc, err = dial(t, ts.addr(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	cc.Close()
}

func copyFile(tb testing.TB, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

func TestNewServerErrors(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	noPEM := filepath.Join(dir, "nopem.crt")
	os.WriteFile(noPEM, []byte("hello"), 0o600)
	missing := filepath.Join(dir, "missing.crt")
	other := f.ca.issue(t, leafOpts{cn: "other", dns: []string{"o.example.com"}})
	good := CertFiles{CertFile: f.def.certFile, KeyFile: f.def.keyFile}

	check := func(cfg ServerConfig, wantSub ...string) {
		t.Helper()
		_, err := NewServer(cfg, nil)
		if err == nil {
			t.Fatalf("no error for %+v", cfg)
		}
		for _, s := range wantSub {
			if !strings.Contains(err.Error(), s) {
				t.Fatalf("error %q does not mention %q", err, s)
			}
		}
	}
	check(ServerConfig{}, "no certificates")
	check(ServerConfig{Certificates: []CertFiles{{CertFile: missing, KeyFile: f.def.keyFile}}}, "cannot read certificate file", missing)
	check(ServerConfig{Certificates: []CertFiles{{CertFile: f.def.certFile, KeyFile: missing}}}, "cannot read key file", missing)
	check(ServerConfig{Certificates: []CertFiles{{CertFile: noPEM, KeyFile: f.def.keyFile}}}, "no PEM CERTIFICATE", noPEM)
	check(ServerConfig{Certificates: []CertFiles{{CertFile: f.def.certFile, KeyFile: noPEM}}}, "no PEM PRIVATE KEY", noPEM)
	check(ServerConfig{Certificates: []CertFiles{{CertFile: f.def.keyFile, KeyFile: f.def.keyFile}}}, "no PEM CERTIFICATE")
	check(ServerConfig{Certificates: []CertFiles{good, {CertFile: f.def.certFile, KeyFile: other.keyFile}}}, "does not match", other.keyFile)
	check(ServerConfig{Certificates: []CertFiles{good}, MinVersion: "1.1"}, "min_version")
	check(ServerConfig{Certificates: []CertFiles{good}, MinVersion: "1.0"}, "min_version")
	check(ServerConfig{Certificates: []CertFiles{good}, ClientAuthMode: "optional"}, "client_auth")
	check(ServerConfig{Certificates: []CertFiles{good}, ClientAuthMode: "require"}, "ca_file")
	check(ServerConfig{Certificates: []CertFiles{good}, ClientAuthMode: "require", ClientCAFile: missing}, "cannot read CA file", missing)
	check(ServerConfig{Certificates: []CertFiles{good}, ClientAuthMode: "request", ClientCAFile: noPEM}, "no PEM CERTIFICATE", noPEM)
	// A file caught mid-write: a chain missing the end of its second
	// certificate, a CA bundle missing the end of its second CA. Neither
	// may load partly; text between blocks (bundle comments) is fine.
	leafPEM, _ := os.ReadFile(f.def.certFile)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.ca.cert.Raw})
	cut := filepath.Join(dir, "cut.crt")
	os.WriteFile(cut, append(append([]byte{}, leafPEM...), caPEM[:len(caPEM)/2]...), 0o600)
	check(ServerConfig{Certificates: []CertFiles{{CertFile: cut, KeyFile: f.def.keyFile}}}, "incomplete", cut)
	check(ServerConfig{Certificates: []CertFiles{good}, ClientAuthMode: "request", ClientCAFile: cut}, "incomplete", cut)
	// A block with intact BEGIN/END lines but broken base64, followed by
	// a good one: pem.Decode would skip it silently.
	corrupt := filepath.Join(dir, "corrupt.crt")
	os.WriteFile(corrupt, append(bytes.Replace(caPEM, []byte("\n"), []byte("\n!"), 3), leafPEM...), 0o600)
	check(ServerConfig{Certificates: []CertFiles{good}, ClientAuthMode: "request", ClientCAFile: corrupt}, "malformed", corrupt)
	commented := filepath.Join(dir, "commented.crt")
	os.WriteFile(commented, append(append([]byte("# Issuer: CN=test\n"), caPEM...), "# end\n"...), 0o600)
	if _, err := LoadCAPool(commented); err != nil {
		t.Fatalf("bundle with comments: %v", err)
	}

	s := mustServer(t, ServerConfig{Certificates: []CertFiles{good}, MinVersion: "1.3", ALPN: []string{"h2"}}, nil)
	c := s.TLSConfig()
	if c.MinVersion != tls.VersionTLS13 || c.NextProtos[0] != "h2" || len(c.CipherSuites) != 6 {
		t.Fatalf("config %+v", c)
	}
	for _, id := range c.CipherSuites {
		name := tls.CipherSuiteName(id)
		if !strings.HasPrefix(name, "TLS_ECDHE_") || !(strings.Contains(name, "GCM") || strings.Contains(name, "CHACHA20")) {
			t.Fatalf("non-modern suite %s", name)
		}
	}
}

func TestNewClientConfig(t *testing.T) {
	f := newFixture(t)
	if _, err := NewClientConfig("", ""); err == nil {
		t.Fatal("empty server name accepted")
	}
	if _, err := NewClientConfig("x", filepath.Join(t.TempDir(), "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("err %v", err)
	}
	sys, err := NewClientConfig("example.com", "")
	if err != nil || sys.RootCAs != nil || sys.ServerName != "example.com" {
		t.Fatalf("system roots config %+v %v", sys, err)
	}
	ts := startTestServer(t, mustServer(t, ServerConfig{Certificates: f.certs}, nil), nil, 0)
	cfg, err := NewClientConfig("b.example.com", f.ca.file)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := dial(t, ts.addr(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cc.Close()
	// A server name the certificate does not cover fails verification.
	cfg, _ = NewClientConfig("nothere.example.org", f.ca.file)
	if cc, err := dial(t, ts.addr(), cfg); err == nil {
		cc.Close()
		t.Fatal("wrong server name verified")
	}
}

func TestMiBBothWays(t *testing.T) {
	f := newFixture(t)
	ts := startTestServer(t, mustServer(t, ServerConfig{Certificates: f.certs}, nil), nil, 0)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := f.client("a.example.com")
		cfg.MaxVersion = v
		cc, err := dial(t, ts.addr(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		body := make([]byte, 1<<20)
		rand.Read(body)
		var wg sync.WaitGroup
		var werr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, werr = cc.Write(body)
		}()
		got := make([]byte, len(body))
		if _, err := io.ReadFull(cc, got); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if werr != nil || !bytes.Equal(got, body) {
			t.Fatalf("%x: body differs (write err %v)", v, werr)
		}
		cc.Close()
	}
}

// The server closes gracefully with close_notify; the client sees io.EOF.
func TestCloseNotify(t *testing.T) {
	f := newFixture(t)
	srv := mustServer(t, ServerConfig{Certificates: f.certs}, nil)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := f.client("a.example.com")
		cfg.MaxVersion = v
		ms := handshakenSession(t, srv, cfg)
		if _, err := ms.conn.Write([]byte("bye")); err != nil {
			t.Fatal(err)
		}
		ms.conn.Close()
		ms.mc.down.write(ms.conn.TakeOutput())
		ms.mc.down.close()
		b, err := io.ReadAll(ms.client)
		if err != nil || string(b) != "bye" {
			t.Fatalf("%x: got %q err %v", v, b, err)
		}
		if _, err := ms.conn.Read(make([]byte, 1)); err != ErrConnClosed {
			t.Fatalf("read after close: %v", err)
		}
		if err := ms.conn.Close(); err != nil {
			t.Fatal("second close", err)
		}
	}
}
