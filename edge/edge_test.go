package edge

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/portico-gw/portico/parser"
)

func TestTraceparent(t *testing.T) {
	f := func(client string, keepTrace bool) {
		t.Helper()
		got := string(appendTraceparent(nil, []byte(client)))
		if !validTraceparent([]byte(got)) {
			t.Fatalf("minted invalid traceparent %q", got)
		}
		if keepTrace {
			if got[:3] != "00-" || got[3:36] != client[3:36] || got[52:] != client[52:55] || got[36:52] == client[36:52] {
				t.Errorf("%q -> %q: want same trace id and flags, new span id", client, got)
			}
		} else if client != "" && len(client) >= 36 && got[:36] == client[:36] {
			t.Errorf("%q -> %q: invalid input must not be continued", client, got)
		}
	}
	f("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", true)
	f("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", true)
	f("", false)
	f("00-00000000000000000000000000000000-b7ad6b7169203331-01", false)       // zero trace id
	f("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", false)       // zero span id
	f("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", false)       // uppercase
	f("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", false) // version 00 is exactly 55 bytes
	// Later versions are read in the version-00 layout (W3C Trace Context
	// §3.2.4) and continued as version 00; ff is invalid.
	f("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", true)
	f("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future-adds", true)
	f("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01xyz", false)
	f("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", false)
	f("0g-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", false)
	// Flag bits version 00 does not define are sent as zero (W3C §3.2.2.5).
	for in, want := range map[string]string{"ff": "-03", "fe": "-02", "03": "-03", "a1": "-01", "10": "-00"} {
		got := string(appendTraceparent(nil, []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-"+in)))
		if got[52:] != want {
			t.Errorf("flags %s sent as %s, want %s", in, got[52:], want)
		}
	}
}

func TestNewIDShape(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := string(appendNewID(nil, requestIDLen/2))
		if len(id) != requestIDLen || !lowerHex([]byte(id)) || !parser.ValidRequestID([]byte(id)) {
			t.Fatalf("bad id %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		if span := appendNewID([]byte("x"), 8); len(span) != 17 || span[0] != 'x' || !lowerHex(span[1:]) {
			t.Fatalf("bad span id %q", span)
		}
	}
}

// TestHex4 checks the parallel hex digits against a per-nibble encoding.
func TestHex4(t *testing.T) {
	for _, v := range []uint32{0, 0xffffffff, 0x0123abcd, 0x9a9a0f0f, 0xa0b1c2d3} {
		want := fmt.Sprintf("%02x%02x%02x%02x", byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
		got := binary.LittleEndian.AppendUint64(nil, hex4(v))
		if string(got) != want {
			t.Errorf("hex4(%#x) = %q, want %q", v, got, want)
		}
	}
	for range 10000 {
		v := rand.Uint32()
		want := fmt.Sprintf("%02x%02x%02x%02x", byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
		if got := binary.LittleEndian.AppendUint64(nil, hex4(v)); string(got) != want {
			t.Fatalf("hex4(%#x) = %q, want %q", v, got, want)
		}
	}
}

func BenchmarkNewID(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = appendNewID(appendNewID(buf[:0], 16), 8)
	}
}

func TestClientAddrTrustedProxies(t *testing.T) {
	trustedNets := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f := func(peer string, xff []string, want string) {
		t.Helper()
		cc := &clientConn{ls: &listenerSnap{trusted: trustedNets}}
		cc.peer = netip.MustParseAddr(peer)
		cc.peerStr = peer
		for _, v := range xff {
			cc.req.Fields = append(cc.req.Fields, parser.Field{Name: []byte("X-Forwarded-For"), Value: []byte(v)})
		}
		if got := cc.clientAddr(); got != want {
			t.Errorf("peer %s xff %q: got %s want %s", peer, xff, got, want)
		}
	}
	f("203.0.113.5", []string{"1.2.3.4"}, "203.0.113.5")               // untrusted peer: its XFF is not believed
	f("10.0.0.1", nil, "10.0.0.1")                                     // trusted, no XFF
	f("10.0.0.1", []string{"1.2.3.4"}, "1.2.3.4")                      // one trusted hop
	f("10.0.0.1", []string{"1.2.3.4, 10.1.1.1"}, "1.2.3.4")            // skip trusted hops right to left
	f("10.0.0.1", []string{"6.6.6.6, 1.2.3.4"}, "1.2.3.4")             // the client can't choose: first untrusted from the right
	f("10.0.0.1", []string{"6.6.6.6", "1.2.3.4, 10.2.2.2"}, "1.2.3.4") // several fields count as one list
	f("10.0.0.1", []string{"garbage, 10.2.2.2"}, "10.2.2.2")           // unparsable hop: stop at the last good one
	f("10.0.0.1", []string{" 2001:db8::1 "}, "2001:db8::1")            // IPv6, OWS trimmed
	f("10.0.0.1", []string{"::ffff:3.3.3.3"}, "3.3.3.3")               // IPv4-mapped: the same client as 3.3.3.3
	f("10.0.0.1", []string{"2001:0db8:0:0::1"}, "2001:db8::1")         // one spelling per address
}

func TestHashOnParsing(t *testing.T) {
	for in, want := range map[string]int{"ip": hashIP, "consumer": hashConsumer, "header:X-User": hashHeader, "cookie:sid": hashCookie, "": hashNone, "bogus": hashNone} {
		if got, _ := parseHashOn(in); got != want {
			t.Errorf("parseHashOn(%q) = %d, want %d", in, got, want)
		}
	}
	if _, name := parseHashOn("header:X-User"); name != "X-User" {
		t.Errorf("header name %q", name)
	}
}

func TestEscapeLabel(t *testing.T) {
	if got := escapeLabel(`a"b\c` + "\n"); got != `a\"b\\c\n` {
		t.Errorf("got %q", got)
	}
	if got := escapeLabel("plain"); got != "plain" {
		t.Errorf("got %q", got)
	}
}

func TestErrorBodyIsTheSpecEnvelope(t *testing.T) {
	for _, e := range []*errorKind{errBadRequest, errNotFound, errRateLimited, errGatewayTimeout, errUnavailable} {
		body := string(appendErrorBody(nil, e, []byte("rid-1")))
		want := `{"error":{"status":` + itoa(e.status) + `,"code":"` + e.code + `","message":"` + e.message + `","request_id":"rid-1"}}` + "\n"
		if body != want {
			t.Errorf("got %s want %s", body, want)
		}
		if parser.StatusText(e.status) == "" {
			t.Errorf("no reason phrase for %d", e.status)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestAppendInt(t *testing.T) {
	for _, v := range []int64{0, 1, 9, 10, 12345, 1 << 40} {
		if got := string(appendInt(nil, v)); got != strconv.FormatInt(v, 10) {
			t.Errorf("appendInt(%d) = %s", v, got)
		}
	}
}

func BenchmarkBuildUpstreamHead(b *testing.B) {
	head := "GET /api/v1/orders/42?expand=items HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: Mozilla/5.0\r\n" +
		"Accept: application/json\r\nAccept-Encoding: gzip, br\r\nAccept-Language: en\r\nCookie: a=1; b=2\r\n" +
		"X-Forwarded-For: 198.51.100.7\r\nConnection: keep-alive\r\nX-Request-Id: abc-123\r\nTraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\nX-Portico-Consumer: forged\r\n\r\n"
	cc := &clientConn{ls: &listenerSnap{proto: []byte("http")}, peerStr: "127.0.0.1"}
	cc.hdrs.req = &cc.req
	if _, err := parser.ParseRequest([]byte(head), &cc.req, 64<<10); err != nil {
		b.Fatal(err)
	}
	cc.pathBuf, _ = parser.NormalizePath(nil, cc.req.Path)
	cc.rt = &route{stripPrefix: "/api", reqHeaders: headerOps{set: []headerOp{{"X-Gateway", "portico"}}, remove: []string{"X-Debug"}}}
	cc.reqID = []byte("abc-123")
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = cc.buildUpstreamHead(buf[:0])
	}
	if !strings.Contains(string(buf), "X-Forwarded-For: 198.51.100.7, 127.0.0.1\r\n") || strings.Contains(string(buf), "forged") {
		b.Fatalf("head:\n%s", buf)
	}
}

// TestForwardedForJoin: the client's X-Forwarded-For values, in order,
// then the peer, with no empty element where a client value ended in a
// comma or was blank.
func TestForwardedForJoin(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "127.0.0.1"},
		{"X-Forwarded-For: 198.51.100.7\r\n", "198.51.100.7, 127.0.0.1"},
		{"X-Forwarded-For: 1.1.1.1,\r\n", "1.1.1.1, 127.0.0.1"},
		{"X-Forwarded-For: 1.1.1.1 , \r\n", "1.1.1.1, 127.0.0.1"},
		{"X-Forwarded-For: ,\r\nX-Forwarded-For: 2.2.2.2\r\n", "2.2.2.2, 127.0.0.1"},
		{"X-Forwarded-For: 1.1.1.1, 2.2.2.2\r\nX-Forwarded-For: 3.3.3.3,,\r\n", "1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1"},
	} {
		head := "GET / HTTP/1.1\r\nHost: a\r\n" + tc.in + "\r\n"
		cc := &clientConn{ls: &listenerSnap{proto: []byte("http")}, peerStr: "127.0.0.1"}
		cc.hdrs.req = &cc.req
		if _, err := parser.ParseRequest([]byte(head), &cc.req, 64<<10); err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		cc.pathBuf, _ = parser.NormalizePath(nil, cc.req.Path)
		cc.rt = &route{}
		got := string(cc.buildUpstreamHead(nil))
		if !strings.Contains(got, "\r\nX-Forwarded-For: "+tc.want+"\r\n") {
			t.Errorf("%q: head\n%s\nwant X-Forwarded-For: %s", tc.in, got, tc.want)
		}
	}
}

// TestRouteNamesDashed: a route file may name a header with '_' (an API
// key read from X_Under_Key); its trailer copies and head twins are
// recognised in every spelling.
func TestRouteNamesDashed(t *testing.T) {
	deny := dashNames([]string{"X_Under_Key", "X-Ver"})
	for _, name := range []string{"X_Under_Key", "X-Under-Key", "x_under_key", "X_Ver", "x-ver"} {
		if trailerForwarded([]byte(name), deny) {
			t.Errorf("trailer %s passed", name)
		}
	}
	for _, name := range []string{"X_Under_Key", "x_under-key", "X_VER"} {
		if !twinOf([]byte(name), deny) {
			t.Errorf("%s is not seen as a twin of a route name", name)
		}
	}
	if twinOf([]byte("X_Other"), deny) || !trailerForwarded([]byte("X-Fine"), deny) {
		t.Error("an unrelated name was caught")
	}
	for _, name := range []string{"WWW-Authenticate", "location", "Strict-Transport-Security", "Forwarded", "X-Original-URL"} {
		if trailerForwarded([]byte(name), nil) {
			t.Errorf("trailer %s passed", name)
		}
	}
}

func TestOneLeadingSlash(t *testing.T) {
	for in, want := range map[string]string{"/": "/", "//": "/", "/a//b": "/a//b", "//x/admin": "/x/admin", "////a/": "/a/", "": ""} {
		if got := string(oneLeadingSlash([]byte(in))); got != want {
			t.Errorf("oneLeadingSlash(%q) = %q, want %q", in, got, want)
		}
	}
}
