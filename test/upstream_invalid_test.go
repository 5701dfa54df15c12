//go:build integration

package test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestInvalidUpstreamAnswerLogged: an answer head the gateway cannot
// relay (over the field cap, over the size cap, endless 1xx) is a 502, and
// its reason is in the log at warning level, naming the target, once per
// interval rather than once per request.
func TestInvalidUpstreamAnswerLogged(t *testing.T) {
	for _, tc := range []struct {
		name, reason string
		answer       func(c net.Conn)
	}{
		{"300 fields", "too many", func(c net.Conn) {
			var b strings.Builder
			b.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n")
			for i := 0; i < 300; i++ {
				fmt.Fprintf(&b, "X-F%d: v\r\n", i)
			}
			b.WriteString("\r\n")
			io.WriteString(c, b.String())
		}},
		{"head over 64 KiB", "head too large", func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("a", 70<<10)+"\r\n\r\n")
		}},
		{"endless 1xx", "interim (1xx) responses", func(c net.Conn) {
			for i := 0; i < 20; i++ {
				io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := rawUpstream(t, func(c net.Conn) {
				eachRequest(c, func(int, *http.Request) bool { tc.answer(c); return false })
			})
			g := startGateway(t, basicConfig(up))
			for i := 0; i < 3; i++ {
				resp, body := g.get("/x")
				checkEnvelope(t, resp, body, 502, "bad_gateway")
			}
			if !g.logged(`"msg":"upstream answer invalid","target":"` + up + `"`) {
				t.Fatalf("no warning naming the target")
			}
			log := g.stderr.String()
			if n := strings.Count(log, `"level":"WARN","msg":"upstream answer invalid"`); n != 1 || !strings.Contains(log, tc.reason) {
				t.Fatalf("%d warnings (want 1) or no %q in:\n%s", n, tc.reason, grepLines(log, "invalid"))
			}
		})
	}
}
