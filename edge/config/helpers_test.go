package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeKeyPair writes a self-signed ECDSA certificate and its key as PEM.
func writeKeyPair(t testing.TB, certPath, keyPath string, names ...string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, certPath, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	if keyPath != "" {
		writeFile(t, keyPath, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})))
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// fixtures creates the files route files in tests refer to:
//
//	certs/api.crt, certs/api.key     a matching pair (api.example.com)
//	certs/other.crt, certs/other.key another pair; other.key does not fit api.crt
//	certs/ca.crt                     a CA bundle
//	certs/notpem.crt                 text that is not PEM
//	certs/cut.crt                    api.crt then a CA certificate cut short (a file caught mid-write)
//	certs/corrupt.crt                a CA certificate with broken base64, then api.crt
//	jwks.json                        a JWK set
//	secrets/hs256.key                a 32-byte secret
//	empty.txt                        an empty file
func fixtures(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	j := func(p string) string { return filepath.Join(dir, p) }
	writeKeyPair(t, j("certs/api.crt"), j("certs/api.key"), "api.example.com")
	writeKeyPair(t, j("certs/other.crt"), j("certs/other.key"), "other.example.com")
	writeKeyPair(t, j("certs/ca.crt"), "", "Test CA")
	writeFile(t, j("certs/notpem.crt"), "hello\n")
	api, _ := os.ReadFile(j("certs/api.crt"))
	ca, _ := os.ReadFile(j("certs/ca.crt"))
	writeFile(t, j("certs/cut.crt"), string(api)+string(ca[:len(ca)/2]))
	writeFile(t, j("certs/corrupt.crt"), strings.Replace(string(ca), "\n", "\n!", 3)+string(api))
	writeFile(t, j("jwks.json"), `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`)
	writeFile(t, j("secrets/hs256.key"), "0123456789abcdef0123456789abcdef")
	writeFile(t, j("empty.txt"), "")
	return dir
}
