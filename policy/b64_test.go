package policy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// refB64 is the reference strict decoding: encoding/base64 after an
// alphabet check (it would skip '\r' and '\n').
func refB64(s []byte) ([]byte, bool) {
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return nil, false
		}
	}
	out, err := base64.RawURLEncoding.Strict().DecodeString(string(s))
	return out, err == nil
}

func checkB64(t *testing.T, s []byte) {
	t.Helper()
	want, wantOK := refB64(s)
	for _, prefix := range [][]byte{nil, []byte("xy")} {
		got, ok := b64Decode(append([]byte(nil), prefix...), s)
		if ok != wantOK || ok && !bytes.Equal(got[len(prefix):], want) || ok && !bytes.Equal(got[:len(prefix)], prefix) {
			t.Fatalf("b64Decode(%q) = %q, %v; want %q, %v", s, got, ok, want, wantOK)
		}
	}
}

func TestB64Decode(t *testing.T) {
	for _, s := range []string{
		"", "A", "AA", "AB", "AAA", "AAB", "AAAA", "QUJDRA", "QUJDREVGRw", "QUJDREVGR0g",
		"_-_-_-_-", "_-_-_-_-_", "QUJD REVG", "QUJD\nREVG", "QUJD+REV", "QUJD/REV", "QUJD=", "QUJDRA==",
		"eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJIUzI1NiJ9\x00", "\xffAAA", "AAAAAAA\x80",
	} {
		checkB64(t, []byte(s))
	}
	// Random strings over the alphabet plus a few strangers, every length
	// mod 8, so each branch (8-wide, 4-wide, tails) sees bad bytes.
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=\n. "
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		s := make([]byte, r.IntN(40))
		for j := range s {
			if r.IntN(50) == 0 {
				s[j] = chars[64+r.IntN(len(chars)-64)]
			} else {
				s[j] = chars[r.IntN(64)]
			}
		}
		checkB64(t, s)
	}
}

func FuzzB64Decode(f *testing.F) {
	f.Add([]byte("eyJhbGciOiJIUzI1NiJ9"))
	f.Add([]byte("QUJDREVGR0g"))
	f.Add([]byte("QUJD\nREVG"))
	f.Fuzz(func(t *testing.T, s []byte) { checkB64(t, s) })
}

// TestJSONStringScan puts every kind of byte the string scanner must stop
// at (quote, backslash, control, non-ASCII, invalid UTF-8) at every
// offset around the 8-byte fast path, and checks the reader agrees with
// encoding/json on validity.
func TestJSONStringScan(t *testing.T) {
	specials := []string{`"`, `\`, `\"`, `\\`, `\u00e9`, `\u12`, `\x`, "\x00", "\x1f", "\x7f", "é", "\xff", "\xe2\x82", "😀"}
	for _, sp := range specials {
		for pre := 0; pre < 18; pre++ {
			for post := 0; post < 10; post += 3 {
				str := `"` + string(bytes.Repeat([]byte("a"), pre)) + sp + string(bytes.Repeat([]byte("b"), post)) + `"`
				for _, doc := range [][]byte{[]byte(`{"k":` + str + `}`), []byte(`{` + str + `:1}`)} {
					got := eachMember(doc, func(k, v []byte) bool { return true })
					// encoding/json lets invalid UTF-8 through; this reader must not.
					if want := json.Valid(doc) && utf8.Valid(doc); got != want {
						t.Fatalf("%q: reader says %v, encoding/json %v", doc, got, want)
					}
				}
			}
		}
	}
}
