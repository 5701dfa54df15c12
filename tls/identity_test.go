package tls

import (
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
)

func atv(oid asn1.ObjectIdentifier, v any) pkix.AttributeTypeAndValue {
	return pkix.AttributeTypeAndValue{Type: oid, Value: v}
}

var (
	oidC     = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidO     = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU    = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidCN    = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidDC    = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
	oidEmail = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	oidOdd   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}
)

func TestClientCertSubject(t *testing.T) {
	ca := newTestCA(t, "id")
	f := func(rdns pkix.RDNSequence, want string) {
		t.Helper()
		raw, err := asn1.Marshal(rdns)
		if err != nil {
			t.Fatal(err)
		}
		is := ca.issue(t, leafOpts{client: true, raw: raw})
		got := ClientCertSubject(is.cert)
		if got != want {
			t.Fatalf("subject\n got %q\nwant %q", got, want)
		}
		if strings.ContainsAny(got, "\r\n\x00") {
			t.Fatalf("unsafe header value %q", got)
		}
		// Cross-check with OpenSSL's RFC 2253 printer when present.
		if path, err := exec.LookPath("openssl"); err == nil {
			out, err := exec.Command(path, "x509", "-in", is.certFile, "-noout", "-subject", "-nameopt", "RFC2253").Output()
			if err != nil {
				t.Fatal(err)
			}
			ossl := strings.TrimSuffix(strings.TrimPrefix(string(out), "subject="), "\n")
			if ossl != got {
				t.Fatalf("openssl says\n %q\nwe say\n %q", ossl, got)
			}
		}
		sum := sha256.Sum256(is.cert.Raw)
		if ClientCertSHA256(is.cert) != hex.EncodeToString(sum[:]) {
			t.Fatal("sha256")
		}
	}
	f(pkix.RDNSequence{{atv(oidCN, "alice")}}, "CN=alice")
	f(pkix.RDNSequence{{atv(oidC, "US")}, {atv(oidO, "Acme, Inc.")}, {atv(oidCN, "bob")}},
		`CN=bob,O=Acme\, Inc.,C=US`)
	// Multi-valued RDN, kept as encoded (DER sorts the SET).
	f(pkix.RDNSequence{{atv(oidDC, "com")}, {atv(oidDC, "example")}, {atv(oidOU, "Dev"), atv(oidCN, "carol")}},
		`CN=carol+OU=Dev,DC=example,DC=com`)
	f(pkix.RDNSequence{{atv(oidCN, `#a"b\c<d>e;f+g `)}}, `CN=\#a\"b\\c\<d\>e\;f\+g\ `)
	f(pkix.RDNSequence{{atv(oidCN, " lead")}}, `CN=\ lead`)
	f(pkix.RDNSequence{{atv(oidCN, "Jöhn")}}, `CN=J\C3\B6hn`)
	f(pkix.RDNSequence{{atv(oidCN, "a\r\nX-Evil: 1")}}, `CN=a\0D\0AX-Evil: 1`)
	f(pkix.RDNSequence{{atv(oidEmail, "dave@example.com")}, {atv(oidCN, "dave")}},
		`CN=dave,emailAddress=dave@example.com`)
	f(pkix.RDNSequence{{atv(oidOdd, "x")}, {atv(oidCN, "erin")}}, `CN=erin,1.3.6.1.4.1.99999.1=#130178`)
	// Hex digits above 9 are upper case, as OpenSSL writes them.
	f(pkix.RDNSequence{{atv(oidOdd, "custom")}}, `1.3.6.1.4.1.99999.1=#1306637573746F6D`)
}
