package router

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// hdrs is a test Headers: name/value pairs, first field wins.
type hdrs struct {
	names  []string
	values [][]byte
}

func (h *hdrs) Get(name string) ([]byte, bool) {
	for i, n := range h.names {
		if strings.EqualFold(n, name) {
			return h.values[i], true
		}
	}
	return nil, false
}

func newHdrs(kv ...string) *hdrs {
	h := &hdrs{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.names = append(h.names, kv[i])
		h.values = append(h.values, []byte(kv[i+1]))
	}
	return h
}

type req struct {
	host, method, path string
	h                  []string
}

func lookup(t *Table, r req) int {
	var h Headers
	if r.h != nil {
		h = newHdrs(r.h...)
	}
	return t.Lookup([]byte(r.host), []byte(r.method), []byte(r.path), h)
}

func TestLookupRules(t *testing.T) {
	f := func(name string, routes []Match, r req, want int) {
		t.Helper()
		tb, err := Compile(routes)
		if err != nil {
			t.Fatalf("%s: Compile: %v", name, err)
		}
		if got := lookup(tb, r); got != want {
			t.Errorf("%s: Lookup(%+v) = %d, want %d", name, r, got, want)
		}
		if got := reference(routes, r); got != want {
			t.Errorf("%s: reference(%+v) = %d, want %d (test is wrong)", name, r, got, want)
		}
	}
	get := func(host, path string) req { return req{host: host, method: "GET", path: path} }

	// Hosts.
	exact := []Match{{Hosts: []string{"api.example.com"}}}
	f("exact host", exact, get("api.example.com", "/"), 0)
	f("exact host other", exact, get("www.example.com", "/"), -1)
	f("exact host case", exact, get("API.Example.COM", "/"), 0)
	f("exact host config case", []Match{{Hosts: []string{"Api.Example.Com"}}}, get("api.example.com", "/"), 0)
	f("exact host port", exact, get("api.example.com:8443", "/"), 0)
	f("exact host empty port", exact, get("api.example.com:", "/"), 0)
	// A fully qualified name's trailing dot names the same host (nginx
	// drops it too); otherwise "api.example.com." would slip past a
	// host-bound route (and its auth) to a catch-all.
	f("exact host trailing dot", exact, get("api.example.com.", "/"), 0)
	f("exact host trailing dot and port", exact, get("api.example.com.:443", "/"), 0)
	f("exact host two trailing dots", exact, get("api.example.com..", "/"), -1)
	f("exact host prefix of request", exact, get("api.example.com.evil", "/"), -1)
	f("exact host empty request", exact, get("", "/"), -1)
	f("ipv6 literal", []Match{{Hosts: []string{"[::1]"}}}, get("[::1]:8080", "/"), 0)
	f("ipv6 literal case", []Match{{Hosts: []string{"[FE80::1]"}}}, get("[fe80::1]", "/"), 0)
	f("ipv4", []Match{{Hosts: []string{"127.0.0.1"}}}, get("127.0.0.1:80", "/"), 0)

	wild := []Match{{Hosts: []string{"*.example.com"}}}
	f("wildcard one label", wild, get("a.example.com", "/"), 0)
	f("wildcard two labels", wild, get("a.b.example.com", "/"), 0)
	f("wildcard case and port", wild, get("A.EXAMPLE.com:80", "/"), 0)
	f("wildcard not apex", wild, get("example.com", "/"), -1)
	f("wildcard not dot-apex", wild, get(".example.com", "/"), -1)
	f("wildcard not other domain", wild, get("a.example.org", "/"), -1)
	f("wildcard not glued suffix", wild, get("aexample.com", "/"), -1)
	f("wildcard config case", []Match{{Hosts: []string{"*.Example.COM"}}}, get("x.example.com", "/"), 0)
	f("star is any", []Match{{Hosts: []string{"*"}}}, get("whatever", "/"), 0)
	f("star with others is any", []Match{{Hosts: []string{"a.com", "*"}}}, get("b.com", "/"), 0)
	f("no hosts is any", []Match{{}}, get("", "/"), 0)
	f("several hosts", []Match{{Hosts: []string{"a.com", "*.b.com"}}}, get("x.b.com", "/"), 0)
	long := strings.Repeat("a.", 200) + "example.com" // 411 bytes
	f("long host wildcard", wild, get(strings.ToUpper(long)+":1", "/"), 0)
	f("long host other", wild, get(strings.Repeat("a.", 200)+"example.org", "/"), -1)
	f("long host any", []Match{{Hosts: []string{"x.com"}}, {}}, get(long, "/"), 1)
	long254 := strings.Repeat("b", 254-len(".example.com")) + ".example.com"
	f("254-byte host wildcard", wild, get(long254, "/"), 0)
	f("254-byte dot host", []Match{{Hosts: []string{"*." + strings.Repeat("c", 253)}}},
		get("."+strings.Repeat("c", 253), "/"), -1)

	// Paths.
	prefix := []Match{{PathPrefix: "/v1/orders/"}}
	f("prefix equal", prefix, get("h", "/v1/orders/"), 0)
	f("prefix longer", prefix, get("h", "/v1/orders/42"), 0)
	f("prefix shorter", prefix, get("h", "/v1/orders"), -1)
	f("prefix not segment aware", []Match{{PathPrefix: "/v1/orders"}}, get("h", "/v1/ordersX"), 0)
	f("prefix case sensitive", prefix, get("h", "/V1/orders/"), -1)
	f("prefix slash", []Match{{PathPrefix: "/"}}, get("h", "/anything"), 0)
	f("prefix slash vs star", []Match{{PathPrefix: "/"}}, req{host: "h", method: "OPTIONS", path: "*"}, -1)
	f("no path vs star", []Match{{}}, req{host: "h", method: "OPTIONS", path: "*"}, 0)
	ex := []Match{{Path: "/exact"}}
	f("exact path", ex, get("h", "/exact"), 0)
	f("exact path longer", ex, get("h", "/exact/"), -1)
	f("exact path shorter", ex, get("h", "/exac"), -1)
	f("exact path sibling", []Match{{Path: "/ab"}, {Path: "/ac"}}, get("h", "/ac"), 1)
	f("exact vs prefix same string", []Match{{Path: "/a"}, {PathPrefix: "/a"}}, get("h", "/ab"), 1)
	f("split edge", []Match{{PathPrefix: "/abcdef"}, {PathPrefix: "/abc"}, {PathPrefix: "/abx"}}, get("h", "/abcxyz"), 1)
	f("split edge deeper", []Match{{PathPrefix: "/abcdef"}, {PathPrefix: "/abc"}}, get("h", "/abcdefg"), 0)

	// Methods.
	meth := []Match{{Methods: []string{"GET", "POST"}}}
	f("method listed", meth, req{host: "h", method: "POST", path: "/"}, 0)
	f("method not listed", meth, req{host: "h", method: "PUT", path: "/"}, -1)
	// Without regard to case, and GET covers HEAD (methodBitFold: origins
	// treat "get" and HEAD as GET, so an auth route must catch them).
	f("method any case", meth, req{host: "h", method: "get", path: "/"}, 0)
	f("method any case in the file", []Match{{Methods: []string{"post"}}}, req{host: "h", method: "POST", path: "/"}, 0)
	f("GET covers HEAD", meth, req{host: "h", method: "HEAD", path: "/"}, 0)
	f("GET covers head", meth, req{host: "h", method: "head", path: "/"}, 0)
	f("HEAD does not cover GET", []Match{{Methods: []string{"HEAD"}}}, req{host: "h", method: "GET", path: "/"}, -1)
	f("custom method any case", []Match{{Methods: []string{"PURGE"}}}, req{host: "h", method: "purge", path: "/"}, 0)
	f("long method any case", []Match{{Methods: []string{"VERSION-CONTROL"}}}, req{host: "h", method: "Version-Control", path: "/"}, 0)
	f("custom method", []Match{{Methods: []string{"PURGE"}}}, req{host: "h", method: "PURGE", path: "/"}, 0)
	f("custom method other", []Match{{Methods: []string{"PURGE"}}}, req{host: "h", method: "GET", path: "/"}, -1)
	f("custom vs standard", []Match{{Methods: []string{"GET"}}}, req{host: "h", method: "PURGE", path: "/"}, -1)
	f("any method", []Match{{}}, req{host: "h", method: "PURGE", path: "/"}, 0)

	// Headers.
	hm := []Match{{Headers: []HeaderMatch{{Name: "X-Api-Version", Value: "2"}}}}
	f("header match", hm, req{host: "h", method: "GET", path: "/", h: []string{"x-api-version", "2"}}, 0)
	f("header name case", hm, req{host: "h", method: "GET", path: "/", h: []string{"X-API-VERSION", "2"}}, 0)
	f("header value exact", hm, req{host: "h", method: "GET", path: "/", h: []string{"X-Api-Version", "20"}}, -1)
	f("header value case", []Match{{Headers: []HeaderMatch{{Name: "X", Value: "abc"}}}},
		req{host: "h", method: "GET", path: "/", h: []string{"x", "ABC"}}, -1)
	f("header absent", hm, get("h", "/"), -1)
	f("header empty value", []Match{{Headers: []HeaderMatch{{Name: "X", Value: ""}}}},
		req{host: "h", method: "GET", path: "/", h: []string{"x", ""}}, 0)
	f("header empty value absent", []Match{{Headers: []HeaderMatch{{Name: "X", Value: ""}}}},
		req{host: "h", method: "GET", path: "/", h: []string{"y", ""}}, -1)
	f("headers all", []Match{{Headers: []HeaderMatch{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}}},
		req{host: "h", method: "GET", path: "/", h: []string{"a", "1"}}, -1)

	// First match in file order, across index groups.
	order := []Match{
		{PathPrefix: "/"},                             // any host
		{Hosts: []string{"api.example.com"}},          // exact
		{Hosts: []string{"*.example.com"}, Path: "/"}, // wildcard
	}
	f("any-host earlier beats exact", order, get("api.example.com", "/x"), 0)
	f("any-host earlier beats wildcard", order, get("w.example.com", "/"), 0)
	order2 := []Match{
		{Hosts: []string{"*.example.com"}, PathPrefix: "/a"},
		{Hosts: []string{"api.example.com"}, PathPrefix: "/a/b"},
		{PathPrefix: "/a/b/c"},
	}
	f("wildcard earlier beats exact", order2, get("api.example.com", "/a/b/c"), 0)
	f("exact earlier beats any", order2, get("api.example.com:9", "/a/b/cc"), 0)
	f("later group when earlier fails", order2, get("api.example.org", "/a/b/c"), 2)
	order3 := []Match{
		{Hosts: []string{"api.example.com"}, Methods: []string{"POST"}},
		{PathPrefix: "/a", Headers: []HeaderMatch{{Name: "X", Value: "1"}}},
		{Hosts: []string{"*.example.com"}},
		{Hosts: []string{"api.example.com"}},
	}
	f("conditions fail falls through", order3, get("api.example.com", "/a"), 2)
	f("header route wins", order3, req{host: "api.example.com", method: "GET", path: "/a", h: []string{"x", "1"}}, 1)
	f("method route wins", order3, req{host: "api.example.com", method: "POST", path: "/a", h: []string{"x", "1"}}, 0)
	nested := []Match{
		{Hosts: []string{"*.b.example.com"}, Methods: []string{"PUT"}},
		{Hosts: []string{"*.example.com"}, Methods: []string{"GET"}},
		{Hosts: []string{"*.b.example.com"}},
	}
	f("nested wildcards order", nested, get("a.b.example.com", "/"), 1)
	f("nested wildcards fallthrough", nested, req{host: "a.b.example.com", method: "DELETE", path: "/"}, 2)
	f("empty table", nil, get("h", "/"), -1)
}

func TestCompileErrors(t *testing.T) {
	f := func(m Match, want string) {
		t.Helper()
		_, err := Compile([]Match{{}, m})
		if err == nil {
			t.Fatalf("Compile(%+v): no error, want %q", m, want)
		}
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "route 1") {
			t.Fatalf("Compile(%+v) = %q, want it to contain %q and the route index", m, err, want)
		}
	}
	f(Match{Path: "/a", PathPrefix: "/a"}, "both set")
	f(Match{Path: "a"}, "does not start with /")
	f(Match{PathPrefix: "a"}, "does not start with /")
	f(Match{Hosts: []string{""}}, "empty host")
	f(Match{Hosts: []string{"*."}}, "without a suffix")
	f(Match{Hosts: []string{"a.*.com"}}, "only a leading")
	f(Match{Hosts: []string{"api.*"}}, "only a leading")
	f(Match{Hosts: []string{"**.com"}}, "only a leading")
	f(Match{Hosts: []string{"a.com:80"}}, "ports are ignored")
	f(Match{Hosts: []string{"a com"}}, "invalid character")
	f(Match{Hosts: []string{"a..com"}}, "empty label")
	f(Match{Hosts: []string{".a.com"}}, "empty label")
	f(Match{Hosts: []string{"*..a.com"}}, "empty label")
	f(Match{Hosts: []string{"[::1"}}, "bad IP literal")
	f(Match{Hosts: []string{"[zz]"}}, "bad IP literal")
	f(Match{Hosts: []string{strings.Repeat("a", 254)}}, "longer than")
	f(Match{Methods: []string{"GE T"}}, "not an HTTP token")
	f(Match{Methods: []string{""}}, "not an HTTP token")
	f(Match{Headers: []HeaderMatch{{Name: "X:Y", Value: "1"}}}, "not an HTTP token")
}

func TestCovers(t *testing.T) {
	f := func(a, b Match, want bool) {
		t.Helper()
		if got := Covers(a, b); got != want {
			t.Errorf("Covers(%+v, %+v) = %v, want %v", a, b, got, want)
		}
	}
	f(Match{}, Match{Path: "/x", Methods: []string{"GET"}}, true)
	f(Match{Path: "/x"}, Match{}, false)
	f(Match{PathPrefix: "/v1"}, Match{PathPrefix: "/v1/a"}, true)
	f(Match{PathPrefix: "/v1"}, Match{Path: "/v1x"}, true)
	f(Match{PathPrefix: "/v1/a"}, Match{PathPrefix: "/v1"}, false)
	f(Match{Path: "/a"}, Match{Path: "/a"}, true)
	f(Match{Path: "/a"}, Match{PathPrefix: "/a"}, false)
	f(Match{Hosts: []string{"*.example.com"}}, Match{Hosts: []string{"A.example.com", "*.b.Example.com"}}, true)
	f(Match{Hosts: []string{"*.example.com"}}, Match{Hosts: []string{"example.com"}}, false)
	f(Match{Hosts: []string{"*.example.com"}}, Match{}, false)
	f(Match{Hosts: []string{"*"}}, Match{Hosts: []string{"a.com"}}, true)
	f(Match{Hosts: []string{"a.com"}}, Match{Hosts: []string{"a.com", "b.com"}}, false)
	f(Match{Methods: []string{"GET", "POST"}}, Match{Methods: []string{"GET"}}, true)
	f(Match{Methods: []string{"GET"}}, Match{Methods: []string{"GET", "POST"}}, false)
	f(Match{Methods: []string{"GET"}}, Match{Methods: []string{"head"}}, true)
	f(Match{Methods: []string{"HEAD"}}, Match{Methods: []string{"GET"}}, false)
	f(Match{Methods: []string{"GET"}}, Match{}, false)
	f(Match{Headers: []HeaderMatch{{"X-A", "1"}}}, Match{Headers: []HeaderMatch{{"x-a", "1"}, {"B", "2"}}}, true)
	f(Match{Headers: []HeaderMatch{{"X-A", "1"}}}, Match{Headers: []HeaderMatch{{"x-a", "2"}}}, false)
	f(Match{Headers: []HeaderMatch{{"X-A", "1"}}}, Match{}, false)
}

// reference is the obviously correct linear scan Lookup must agree with.
func reference(routes []Match, r req) int {
	for i, m := range routes {
		if refMatch(&m, r) {
			return i
		}
	}
	return -1
}

// refLower lowers ASCII only: hosts compare ASCII case-insensitively, and
// strings.ToLower would also fold non-ASCII runes such as the Kelvin sign.
func refLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func refMatch(m *Match, r req) bool {
	host := r.host
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i >= 0 {
			host = host[:i+1]
		}
	} else if i := strings.IndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	if len(host) > 1 {
		host = strings.TrimSuffix(host, ".")
	}
	host = refLower(host)
	if len(m.Hosts) > 0 {
		ok := false
		for _, h := range m.Hosts {
			h = refLower(h)
			switch {
			case h == "*":
				ok = true
			case strings.HasPrefix(h, "*."):
				ok = len(host) > len(h)-1 && strings.HasSuffix(host, h[1:])
			default:
				ok = host == h
			}
			if ok {
				break
			}
		}
		if !ok {
			return false
		}
	}
	if m.Path != "" && r.path != m.Path {
		return false
	}
	if !strings.HasPrefix(r.path, m.PathPrefix) {
		return false
	}
	if len(m.Methods) > 0 {
		ok := false
		for _, x := range m.Methods {
			x, rm := strings.ToUpper(x), strings.ToUpper(r.method)
			ok = ok || x == rm || x == "GET" && rm == "HEAD"
		}
		if !ok {
			return false
		}
	}
	hd := newHdrs(r.h...)
	for _, hm := range m.Headers {
		v, ok := hd.Get(hm.Name)
		if !ok || string(v) != hm.Value {
			return false
		}
	}
	return true
}

// TestDifferential compares Lookup with reference on random route sets
// drawn from small alphabets, so that overlaps are frequent.
func TestDifferential(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 42))
	hosts := []string{"a.com", "B.com", "x.a.com", "y.x.a.com", "*.a.com", "*.x.a.com", "*.com", "*", "[::1]", "c.org"}
	reqHosts := []string{"a.com", "A.COM:80", "b.com", "x.a.com", "y.x.A.com:1", "z.y.x.a.com", "com", ".a.com", "[::1]:9", "c.org", "", "q.c.org"}
	paths := []string{"/", "/a", "/ab", "/abc", "/a/b", "/a/bc", "/b", "/abd", "/a/"}
	reqPaths := append([]string{"*", "/abcd", "/a/b/c", "/bb", "/zz"}, paths...)
	methods := []string{"GET", "POST", "PURGE", "HEAD", "get", "purge"}
	headerNames := []string{"X-A", "x-b"}
	headerVals := []string{"1", "2", ""}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }

	deadline := time.Now().Add(3 * time.Second)
	matched, total := 0, 0
	for iter := 0; iter < 2000 && time.Now().Before(deadline); iter++ {
		routes := make([]Match, 1+rng.IntN(40))
		for i := range routes {
			m := &routes[i]
			for n := rng.IntN(3); n > 0; n-- {
				m.Hosts = append(m.Hosts, pick(hosts))
			}
			switch rng.IntN(3) {
			case 0:
				m.Path = pick(paths)
			case 1:
				m.PathPrefix = pick(paths)
			}
			if rng.IntN(2) == 0 {
				for n := 1 + rng.IntN(2); n > 0; n-- {
					m.Methods = append(m.Methods, pick(methods))
				}
			}
			if rng.IntN(3) == 0 {
				m.Headers = append(m.Headers, HeaderMatch{Name: pick(headerNames), Value: pick(headerVals)})
			}
		}
		tb, err := Compile(routes)
		if err != nil {
			t.Fatalf("seed %d: Compile: %v", seed, err)
		}
		for j := 0; j < 50; j++ {
			r := req{host: pick(reqHosts), method: pick(methods), path: pick(reqPaths)}
			if rng.IntN(2) == 0 {
				r.h = []string{pick(headerNames), pick(headerVals)}
			}
			got, want := lookup(tb, r), reference(routes, r)
			if got != want {
				t.Fatalf("seed %d: routes %+v\nLookup(%+v) = %d, reference = %d", seed, routes, r, got, want)
			}
			total++
			if got > 0 {
				matched++ // past the first route: the index had to choose
			}
		}
	}
	// Guard against a generator that makes every answer trivial.
	if matched < total/10 || matched > total*9/10 {
		t.Fatalf("seed %d: %d of %d lookups matched past route 0; the generator needs tuning", seed, matched, total)
	}
	t.Logf("seed %d: %d lookups, %d matched past route 0", seed, total, matched)
}

// benchRoutes builds n routes: mostly exact hosts x path prefixes, plus a
// few wildcard and any-host routes spread through the file.
func benchRoutes(nHosts, nPrefixes int) []Match {
	var routes []Match
	for h := 0; h < nHosts; h++ {
		host := fmt.Sprintf("api-%d.example.com", h)
		for p := 0; p < nPrefixes; p++ {
			routes = append(routes, Match{
				Hosts:      []string{host},
				PathPrefix: fmt.Sprintf("/svc%d/v1/", p),
				Methods:    []string{"GET", "POST"},
			})
		}
		if h%10 == 0 {
			routes = append(routes,
				Match{Hosts: []string{fmt.Sprintf("*.tenant%d.example.net", h)}, PathPrefix: "/"},
				Match{PathPrefix: fmt.Sprintf("/internal/%d/", h), Headers: []HeaderMatch{{Name: "X-Internal", Value: "1"}}},
			)
		}
	}
	routes = append(routes, Match{Path: "/healthz"})
	return routes
}

type benchCase struct {
	name   string
	host   string
	method string
	path   string
}

func benchLookup(b *testing.B, routes []Match, c benchCase, want int) {
	tb, err := Compile(routes)
	if err != nil {
		b.Fatal(err)
	}
	host, method, path := []byte(c.host), []byte(c.method), []byte(c.path)
	h := newHdrs("Accept", "*/*", "User-Agent", "bench", "X-Internal", "0")
	if got := tb.Lookup(host, method, path, h); got != want {
		b.Fatalf("Lookup = %d, want %d", got, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tb.Lookup(host, method, path, h)
	}
}

func BenchmarkLookup(b *testing.B) {
	sets := []struct {
		name            string
		hosts, prefixes int
	}{
		{"small", 2, 4},   // 8 + 2 + 1 = 11 routes
		{"large", 50, 20}, // 1000 + 10 + 1 = 1011 routes
	}
	for _, s := range sets {
		routes := benchRoutes(s.hosts, s.prefixes)
		last := s.hosts - 1
		lateIdx := -1
		wantPath := fmt.Sprintf("/svc%d/v1/", s.prefixes-1)
		for i, m := range routes {
			if len(m.Hosts) == 1 && m.Hosts[0] == fmt.Sprintf("api-%d.example.com", last) && m.PathPrefix == wantPath {
				lateIdx = i
			}
		}
		cases := []struct {
			c    benchCase
			want int
		}{
			{benchCase{"late", fmt.Sprintf("API-%d.Example.com:8443", last), "GET", wantPath + "orders/12345"}, lateIdx},
			{benchCase{"nomatch", fmt.Sprintf("api-%d.example.com", last), "GET", "/nothing/here/at/all"}, -1},
			{benchCase{"nomatch-host", "www.example.org", "GET", "/svc1/v1/x"}, -1},
			{benchCase{"wildcard", "a.b.tenant0.example.net", "GET", "/x"}, s.prefixes},
			{benchCase{"anyhost", "unknown.example.org", "GET", "/healthz"}, len(routes) - 1},
		}
		for _, c := range cases {
			b.Run(fmt.Sprintf("routes=%d/%s", len(routes), c.c.name), func(b *testing.B) { benchLookup(b, routes, c.c, c.want) })
		}
	}
}

// BenchmarkLookupScaling reports the 1,000-to-10-route cost ratio of the
// late-match and no-match lookups. It alternates short batches between the
// two tables and keeps each one's fastest batch, so load from other
// processes on a shared machine distorts the ratio less than two separate
// benchmarks would.
func BenchmarkLookupScaling(b *testing.B) {
	type side struct {
		tb               *Table
		host, meth, path []byte
		best             time.Duration
	}
	mk := func(nHosts, nPrefixes int, nomatch bool) *side {
		tb, err := Compile(benchRoutes(nHosts, nPrefixes))
		if err != nil {
			b.Fatal(err)
		}
		s := &side{tb: tb, meth: []byte("GET"), best: time.Hour}
		s.host = []byte(fmt.Sprintf("API-%d.Example.com:8443", nHosts-1))
		s.path = []byte(fmt.Sprintf("/svc%d/v1/orders/12345", nPrefixes-1))
		if nomatch {
			s.path = []byte("/nothing/here/at/all")
		}
		return s
	}
	h := newHdrs("Accept", "*/*", "X-Internal", "0")
	for _, c := range []struct {
		name    string
		nomatch bool
	}{{"late", false}, {"nomatch", true}} {
		b.Run(c.name, func(b *testing.B) {
			small, large := mk(2, 4, c.nomatch), mk(50, 20, c.nomatch)
			const batch = 2000
			b.ReportAllocs()
			for b.Loop() {
				for _, s := range []*side{small, large} {
					start := time.Now()
					for range batch {
						s.tb.Lookup(s.host, s.meth, s.path, h)
					}
					s.best = min(s.best, time.Since(start))
				}
			}
			ns := func(s *side) float64 { return float64(s.best.Nanoseconds()) / batch }
			b.ReportMetric(ns(small), "ns/lookup-11")
			b.ReportMetric(ns(large), "ns/lookup-1011")
			b.ReportMetric(ns(large)/ns(small), "ratio")
		})
	}
}
