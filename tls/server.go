package tls

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CertFiles names one certificate chain and its private key, both PEM.
type CertFiles struct {
	CertFile string
	KeyFile  string
}

// Client authentication modes (SPEC §2 listeners[].tls.client_auth.mode).
const (
	ClientAuthNone    = "none"
	ClientAuthRequest = "request"
	ClientAuthRequire = "require"
)

// Defaults used when the matching ServerConfig field is zero.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultTicketRotation   = time.Hour
	DefaultTicketKeys       = 3
	// MaxHandshakeBuffered bounds the ciphertext a Conn buffers before its
	// handshake completes. It leaves room for a client's first flight of
	// application data (an h2 preface, headers and a first window of body)
	// that legitimately follows its Finished without waiting.
	MaxHandshakeBuffered = 256 << 10
)

// ServerConfig is the TLS part of one listener. edge maps the route file's
// listeners[].tls onto it.
type ServerConfig struct {
	// Certificates: the first is the default; the others are picked by SNI
	// from their SANs. At least one is required.
	Certificates []CertFiles
	// MinVersion is "1.2" (default when empty) or "1.3"; nothing older.
	MinVersion string
	// ALPN protocols in preference order, e.g. {"h2", "http/1.1"}. Empty
	// means no ALPN extension in the ServerHello.
	ALPN []string
	// ClientAuthMode is none (default when empty), request or require.
	ClientAuthMode string
	// ClientCAFile is the PEM bundle client certificates are verified
	// against; required for request and require.
	ClientCAFile string

	// HandshakeTimeout bounds a handshake from its first complete record to
	// completion, queueing included. Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// TicketRotation is how often a new session ticket key is made; zero
	// means DefaultTicketRotation.
	TicketRotation time.Duration
	// TicketKeys is how many keys (the newest encrypts, all decrypt) are
	// kept; zero means DefaultTicketKeys. A ticket is therefore accepted
	// for between (TicketKeys-1) and TicketKeys rotation periods.
	TicketKeys int
}

// Server is an immutable TLS configuration built from files, shared by all
// event loops. Reload builds a new Server and swaps it in; connections keep
// the Server they started with.
type Server struct {
	cfg     *tls.Config
	certs   []*tls.Certificate
	exact   map[string][]*tls.Certificate // lower-case DNS SAN
	wild    map[string][]*tls.Certificate // "example.com" for "*.example.com"
	ips     map[string][]*tls.Certificate // net.IP.String() of IP SANs
	timeout time.Duration

	tickets    *ticketRing
	keysMu     sync.Mutex
	appliedGen atomic.Uint64
}

// NewServer loads the certificate, key and CA files named by cfg and builds
// a Server. When prev is not nil the new Server shares prev's session
// ticket keys, so sessions resume across a reload. On error nothing
// changes: the caller keeps using prev.
func NewServer(cfg ServerConfig, prev *Server) (*Server, error) {
	if len(cfg.Certificates) == 0 {
		return nil, errors.New("cannot build TLS server: no certificates configured")
	}
	s := &Server{
		exact:   make(map[string][]*tls.Certificate),
		wild:    make(map[string][]*tls.Certificate),
		ips:     make(map[string][]*tls.Certificate),
		timeout: cfg.HandshakeTimeout,
	}
	if s.timeout <= 0 {
		s.timeout = DefaultHandshakeTimeout
	}
	for _, cf := range cfg.Certificates {
		c, err := LoadCertificate(cf.CertFile, cf.KeyFile)
		if err != nil {
			return nil, err
		}
		s.addCert(c)
	}

	minVersion, err := parseMinVersion(cfg.MinVersion)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{
		MinVersion: minVersion,
		MaxVersion: tls.VersionTLS13,
		// Only consulted for TLS 1.2; 1.3 suites are all AEAD and fixed.
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384},
		NextProtos:       append([]string(nil), cfg.ALPN...),
		GetCertificate:   s.getCertificate,
	}
	tc.GetConfigForClient = s.beforeHello

	switch cfg.ClientAuthMode {
	case "", ClientAuthNone:
		tc.ClientAuth = tls.NoClientCert
	case ClientAuthRequest, ClientAuthRequire:
		if cfg.ClientCAFile == "" {
			return nil, fmt.Errorf("cannot build TLS server: client_auth mode %q needs a ca_file", cfg.ClientAuthMode)
		}
		pool, err := LoadCAPool(cfg.ClientCAFile)
		if err != nil {
			return nil, err
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
		if cfg.ClientAuthMode == ClientAuthRequire {
			tc.ClientAuth = tls.RequireAndVerifyClientCert
		}
	default:
		return nil, fmt.Errorf("cannot build TLS server: unknown client_auth mode %q (want none, request or require)", cfg.ClientAuthMode)
	}
	s.cfg = tc

	if prev != nil && prev.tickets != nil {
		s.tickets = prev.tickets
	} else {
		rot, keep := cfg.TicketRotation, cfg.TicketKeys
		if rot <= 0 {
			rot = DefaultTicketRotation
		}
		if keep <= 0 {
			keep = DefaultTicketKeys
		}
		s.tickets = newTicketRing(rot, keep)
	}
	if err := s.syncTicketKeys(time.Now()); err != nil {
		return nil, err
	}
	return s, nil
}

// TLSConfig returns the server's crypto/tls configuration, for tests and
// for the rare caller that terminates TLS with a blocking net.Conn. It must
// not be modified.
func (s *Server) TLSConfig() *tls.Config { return s.cfg }

// HandshakeTimeout reports the configured handshake timeout.
func (s *Server) HandshakeTimeout() time.Duration { return s.timeout }

// Certificates returns the loaded certificates in configuration order
// (Leaf is set). They must not be modified.
func (s *Server) Certificates() []*tls.Certificate { return s.certs }

func parseMinVersion(v string) (uint16, error) {
	switch v {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("cannot build TLS server: min_version %q is not allowed (want \"1.2\" or \"1.3\")", v)
}

func (s *Server) addCert(c *tls.Certificate) {
	s.certs = append(s.certs, c)
	for _, name := range c.Leaf.DNSNames {
		name = strings.TrimSuffix(strings.ToLower(name), ".")
		if rest, ok := strings.CutPrefix(name, "*."); ok {
			s.wild[rest] = append(s.wild[rest], c)
		} else {
			s.exact[name] = append(s.exact[name], c)
		}
	}
	for _, ip := range c.Leaf.IPAddresses {
		k := ip.String()
		s.ips[k] = append(s.ips[k], c)
	}
}

// beforeHello runs first for every ClientHello, before any session ticket
// is decrypted or issued, which makes it the place to rotate ticket keys
// lazily (see ticketRing).
func (s *Server) beforeHello(*tls.ClientHelloInfo) (*tls.Config, error) {
	if err := s.syncTicketKeys(time.Now()); err != nil {
		return nil, err
	}
	return nil, nil
}

// getCertificate picks by SNI: exact DNS SAN, then a wildcard matching
// exactly one label, then an IP SAN (SNI holding an IP literal, or no SNI
// and the local address), else the first certificate. Among several
// candidates the first the client supports (key type, signature
// algorithms) wins.
func (s *Server) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	var cands []*tls.Certificate
	if name != "" {
		if ip := net.ParseIP(name); ip != nil {
			cands = s.ips[ip.String()]
		} else if cands = s.exact[name]; cands == nil {
			if i := strings.IndexByte(name, '.'); i > 0 {
				cands = s.wild[name[i+1:]]
			}
		}
	} else if hello.Conn != nil {
		if ta, ok := hello.Conn.LocalAddr().(*net.TCPAddr); ok && len(s.ips) > 0 {
			cands = s.ips[ta.IP.String()]
		}
	}
	if len(cands) == 0 {
		cands = s.certs
	}
	if len(cands) > 1 {
		for _, c := range cands {
			if hello.SupportsCertificate(c) == nil {
				return c, nil
			}
		}
	}
	return cands[0], nil
}

// LoadCertificate reads a PEM certificate chain and its PEM private key and
// checks that they match. Errors name the offending file. edge's validate
// uses it too.
func LoadCertificate(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read certificate file %q: %w", certFile, err)
	}
	if _, err := parsePEMCertificates(certPEM); err != nil {
		return nil, fmt.Errorf("cannot load certificate file %q: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read key file %q: %w", keyFile, err)
	}
	if !hasPEMBlock(keyPEM, func(t string) bool { return t == "PRIVATE KEY" || strings.HasSuffix(t, " PRIVATE KEY") }) {
		return nil, fmt.Errorf("cannot load key file %q: no PEM PRIVATE KEY block", keyFile)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("cannot load key pair %q / %q: %w", certFile, keyFile, err)
	}
	if c.Leaf == nil {
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("cannot parse certificate in %q: %w", certFile, err)
		}
		c.Leaf = leaf
	}
	return &c, nil
}

// LoadCAPool reads a PEM bundle of CA certificates.
func LoadCAPool(caFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read CA file %q: %w", caFile, err)
	}
	certs, err := parsePEMCertificates(b)
	if err != nil {
		return nil, fmt.Errorf("cannot load CA file %q: %w", caFile, err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// parsePEMCertificates reads every CERTIFICATE block of a PEM file and
// insists that each parses and that no block is cut short: a file caught
// mid-write (a chain missing its intermediate, a CA bundle missing a CA)
// must fail the load, and the reload with it, not load partly. Text
// between blocks (bundles often carry comments) is allowed.
func parsePEMCertificates(b []byte) ([]*x509.Certificate, error) {
	// pem.Decode skips a block whose base64 is broken and returns the
	// next good one: every BEGIN line must yield a block.
	begins := bytes.Count(b, []byte("-----BEGIN "))
	decoded := 0
	var certs []*x509.Certificate
	for i := 1; ; i++ {
		blk, rest := pem.Decode(b)
		if blk == nil {
			if bytes.Contains(b, []byte("-----BEGIN")) {
				return nil, fmt.Errorf("PEM block %d is incomplete or malformed (file cut short?)", i)
			}
			break
		}
		b = rest
		decoded++
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", i, err)
		}
		certs = append(certs, c)
	}
	if decoded != begins {
		return nil, fmt.Errorf("%d of %d PEM blocks are malformed", begins-decoded, begins)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return certs, nil
}

func hasPEMBlock(b []byte, want func(string) bool) bool {
	for len(bytes.TrimSpace(b)) > 0 {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return false
		}
		if want(blk.Type) {
			return true
		}
	}
	return false
}
