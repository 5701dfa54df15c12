//go:build integration

package test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestAdminOffLoopbackWarns: the admin listener has no authentication, so
// one bound beyond loopback (here every interface) is allowed but never
// silent: a warning at start names its address. On loopback, none.
func TestAdminOffLoopbackWarns(t *testing.T) {
	up := newUpstream(t, nil)
	const warning = `"msg":"the admin listener is not on loopback`
	g := startGatewayCmd(t, basicConfig(up.addr()), func(bin, file string) *exec.Cmd {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(`(admin: \{address: ")127\.0\.0\.1:`)
		if !re.Match(b) {
			t.Fatalf("no admin address to move in:\n%s", b)
		}
		if err := os.WriteFile(file, re.ReplaceAll(b, []byte("${1}0.0.0.0:")), 0o644); err != nil {
			t.Fatal(err)
		}
		return exec.Command(bin, "run", "-c", file)
	})
	if !g.logged(warning) || !strings.Contains(g.stderr.String(), `"address":"0.0.0.0:`) {
		t.Fatalf("no warning for an admin listener on 0.0.0.0:\n%s", g.stderr.String())
	}
	local := startGateway(t, basicConfig(up.addr()))
	if _, body := local.get("/x"); body == "" || strings.Contains(local.stderr.String(), warning) {
		t.Fatalf("a loopback admin listener warned:\n%s", local.stderr.String())
	}
}
