package tls

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"strings"
)

// ClientCertSHA256 returns the lowercase hex SHA-256 of the certificate's
// DER, the value of X-Portico-Client-Cert-Sha256 (SPEC §3).
func ClientCertSHA256(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// rdnNames are the attribute type names written by name: RFC 2253 §2.3's
// table, plus the OpenSSL short names of other common attributes so the
// result equals OpenSSL's XN_FLAG_RFC2253 output (nginx's $ssl_client_s_dn),
// which upstreams migrating from nginx already parse. Any other type is
// written as its dotted OID with the value as '#' and the hex of its DER,
// as RFC 2253 §2.4 requires.
var rdnNames = map[string]string{
	"1.2.840.113549.1.9.1":       "emailAddress",
	"2.5.4.4":                    "SN",
	"2.5.4.5":                    "serialNumber",
	"2.5.4.12":                   "title",
	"2.5.4.13":                   "description",
	"2.5.4.15":                   "businessCategory",
	"2.5.4.17":                   "postalCode",
	"2.5.4.41":                   "name",
	"2.5.4.42":                   "GN",
	"2.5.4.43":                   "initials",
	"2.5.4.44":                   "generationQualifier",
	"2.5.4.46":                   "dnQualifier",
	"2.5.4.65":                   "pseudonym",
	"2.5.4.97":                   "organizationIdentifier",
	"1.3.6.1.4.1.311.60.2.1.1":   "jurisdictionL",
	"1.3.6.1.4.1.311.60.2.1.2":   "jurisdictionST",
	"1.3.6.1.4.1.311.60.2.1.3":   "jurisdictionC",
	"2.5.4.3":                    "CN",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.6":                    "C",
	"2.5.4.9":                    "STREET",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}

type rawATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// The SET suffix makes encoding/asn1 expect a SET OF.
type rawRDNSET []rawATV

// ClientCertSubject returns the certificate's subject in RFC 2253 form, the
// value of X-Portico-Client-Cert-Subject (SPEC §3): RDNs in reverse order of
// the DER (most specific first), ',' between RDNs and '+' inside a
// multi-valued one, the attributes as encoded in the certificate (crypto/x509's
// pkix.Name.String() reorders attributes and flattens multi-valued RDNs, so
// it is not used). Values escape ,+"\<>; a leading '#' or space and a
// trailing space with a backslash; bytes below 0x20, 0x7f and non-ASCII are
// written as \XX so the result is always a safe HTTP header value.
func ClientCertSubject(cert *x509.Certificate) string {
	var rdns []rawRDNSET
	if rest, err := asn1.Unmarshal(cert.RawSubject, &rdns); err != nil || len(rest) != 0 {
		// Unreachable for a certificate crypto/x509 parsed; stay total.
		return "#" + hex.EncodeToString(cert.RawSubject)
	}
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if i != len(rdns)-1 {
			b.WriteByte(',')
		}
		// Within a multi-valued RDN the order does not matter (RFC 2253
		// §2.2); reversed like OpenSSL's printer.
		for j := len(rdns[i]) - 1; j >= 0; j-- {
			if j != len(rdns[i])-1 {
				b.WriteByte('+')
			}
			writeATV(&b, rdns[i][j])
		}
	}
	return b.String()
}

func writeATV(b *strings.Builder, atv rawATV) {
	oid := atv.Type.String()
	name, known := rdnNames[oid]
	if !known {
		b.WriteString(oid)
		b.WriteByte('=')
		writeHexValue(b, atv.Value.FullBytes)
		return
	}
	b.WriteString(name)
	b.WriteByte('=')
	var s string
	if atv.Value.Class != asn1.ClassUniversal || !isStringTag(atv.Value.Tag) {
		writeHexValue(b, atv.Value.FullBytes)
		return
	}
	if _, err := asn1.Unmarshal(atv.Value.FullBytes, &s); err != nil {
		writeHexValue(b, atv.Value.FullBytes)
		return
	}
	escapeValue(b, s)
}

func isStringTag(tag int) bool {
	switch tag {
	case asn1.TagUTF8String, asn1.TagPrintableString, asn1.TagIA5String,
		asn1.TagT61String, asn1.TagNumericString, asn1.TagBMPString:
		return true
	}
	return false
}

// writeHexValue writes #HEX in upper case, as OpenSSL's RFC2253 printer
// (and so nginx's $ssl_client_s_dn) does.
func writeHexValue(b *strings.Builder, der []byte) {
	b.WriteByte('#')
	b.WriteString(strings.ToUpper(hex.EncodeToString(der)))
}

const hexDigits = "0123456789ABCDEF"

func escapeValue(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 || c >= 0x7f:
			b.WriteByte('\\')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
			continue
		case c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';':
			b.WriteByte('\\')
		case c == '#' && i == 0:
			b.WriteByte('\\')
		case c == ' ' && (i == 0 || i == len(s)-1):
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
}
