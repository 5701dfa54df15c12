package edge

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/portico-gw/portico/edge/config"
)

// A reload keeps a verifier only while its definition is the same: every
// file the method reads counts by content, the CA bundle for jwks_url too.
func TestAuthDefinitionFollowsFileContents(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	def := func(a *config.Auth) string {
		t.Helper()
		d, _, _, err := authDefinition(a)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	ca := write("ca.pem", "CA A")
	jwks := write("jwks.json", `{"keys":[]}`)
	for _, tc := range []struct {
		name   string
		a      config.Auth
		file   string // rewritten in place between the two definitions
		change bool
	}{
		{"jwks_ca_file rewritten", config.Auth{Name: "u", Type: "jwt", JWKSURL: "https://idp/jwks", JWKSCAFile: ca}, ca, true},
		{"jwks_file rewritten", config.Auth{Name: "u", Type: "jwt", JWKSFile: jwks}, jwks, true},
		{"nothing rewritten", config.Auth{Name: "u", Type: "jwt", JWKSURL: "https://idp/jwks", JWKSCAFile: ca}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := def(&tc.a)
			if tc.file != "" {
				old, _ := os.ReadFile(tc.file)
				write(filepath.Base(tc.file), string(old)+" changed")
			}
			if after := def(&tc.a); (after != before) != tc.change {
				t.Fatalf("definition changed: %v, want %v", after != before, tc.change)
			}
		})
	}
}
