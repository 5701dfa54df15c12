//go:build integration

package test

import (
	"io"
	"net/http"
	"testing"
)

// TestH2CookieCrumbsJoined: an HTTP/2 client may split Cookie into one
// field per crumb (RFC 9113 §8.2.3, for HPACK's sake); on the way to an
// HTTP/1.1 upstream they must be one field joined by "; ", since a second
// Cookie line is not allowed there (RFC 6265 §5.4) and many servers read
// only the first.
func TestH2CookieCrumbsJoined(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		io.WriteString(w, "ok")
	})
	g := startGateway(t, h2cConfig(up.addr()))
	req, _ := http.NewRequest("GET", "http://"+g.addr+"/c", nil)
	req.Header["Cookie"] = []string{"a=1", "b=2", "c=3"}
	resp, err := h2cClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("status %d over %s", resp.StatusCode, resp.Proto)
	}
	got := up.requests()[0].Header["Cookie"]
	if len(got) != 1 || got[0] != "a=1; b=2; c=3" {
		t.Fatalf("upstream Cookie fields %q, want one joined field", got)
	}
}
