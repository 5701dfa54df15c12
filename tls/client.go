package tls

import (
	"crypto/tls"
	"fmt"
)

// NewClientConfig returns the configuration for TLS to an upstream
// (SPEC §2 upstreams[].tls): the server certificate is verified for
// serverName against the CAs in caFile, or against the system roots when
// caFile is empty (Go honours SSL_CERT_FILE and SSL_CERT_DIR). TLS 1.2 is
// the minimum. Sessions are cached (one cache per returned Config, safe to
// share across loops) so reconnects resume. The handshake is meant to be
// a normal blocking one, done off the loop where the upstream is dialled.
// The caller may set NextProtos; it is left empty (HTTP/1.1).
func NewClientConfig(serverName, caFile string) (*tls.Config, error) {
	if serverName == "" {
		return nil, fmt.Errorf("cannot build upstream TLS config: server_name is empty")
	}
	cfg := &tls.Config{
		ServerName:         serverName,
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(256),
	}
	if caFile != "" {
		pool, err := LoadCAPool(caFile)
		if err != nil {
			return nil, fmt.Errorf("cannot build upstream TLS config for %q: %w", serverName, err)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
