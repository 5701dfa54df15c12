package config

import (
	"slices"
	"strconv"
	"strings"
)

// shadowing reports every route that an earlier route fully shadows: one
// that can never be chosen because every request it matches is matched
// first by an earlier route. Route A (earlier) shadows route B when all of
// these hold:
//
//   - hosts: A has none (any host), or B has hosts and each is covered by
//     one of A's: equal names, or A's "*.s" covers a name ending in ".s"
//     and a wildcard "*.t" where t is s or ends in ".s";
//   - path: A has no path condition; or A's exact path equals B's exact
//     path; or A's path_prefix is a prefix of B's path_prefix or exact path;
//   - methods: A has none (any), or B has methods and all are among A's;
//   - headers: each header condition of A is also one of B's, with the same
//     value (names compared case-insensitively).
//
// The check is conservative: it never reports a route that some request
// could reach; it may miss shadows that only a combination of earlier routes
// produces.
func (v *validator) shadowing() {
	routes := v.c.Routes
	for j, i := range firstCoverers(routes, v.brokenMatches()) {
		if i < 0 {
			continue
		}
		path := index("routes", j)
		if v.set(join(path, "match")) {
			path = join(path, "match")
		}
		v.errf(path, "never matches: route %q (line %d) comes first and matches every request this route matches", routes[i].Name, routes[i].Pos.Line)
	}
}

// firstCoverers returns, for each route, the index of the first earlier
// route that covers it, or -1 (always -1 for a broken one). Comparing
// every route with every earlier one took 20 s for 150k routes: routes are
// indexed by what any coverer must share with the route it covers (see
// shadowIndex), and covers decides among those few candidates.
func firstCoverers(routes []Route, broken []bool) []int {
	first := make([]int, len(routes))
	ix := newShadowIndex()
	for j := range routes {
		first[j] = -1
		if broken[j] {
			continue
		}
		first[j] = ix.firstCovering(routes, j)
		ix.add(&routes[j].Match, j)
	}
	return first
}

// shadowKey is the path condition, one host and one header condition of a
// route's match: kind 'a' (any path), 'e' (exact path) or 'p'
// (path_prefix); host "" is any host; hdr is the route's least header
// condition (headerKey), "" for none.
type shadowKey struct {
	kind            byte
	path, host, hdr string
}

// headerKey is a header condition as the index compares it: the name in
// lower case (names match case-insensitively), the value as written.
func headerKey(name, value string) string { return strings.ToLower(name) + "\x00" + value }

// leastHeaderKey is the smallest headerKey of m's header conditions, or "".
// A route with header conditions can only cover one that has all of them,
// so filing it under one (any one; the least, to be deterministic) and
// looking up each of the covered route's own (and "") finds it: routes
// that share a path and differ by a header (one per tenant) no longer all
// land in one list.
func leastHeaderKey(m *Match) string {
	least := ""
	for _, h := range m.HeaderList {
		if k := headerKey(h.Name, h.Value); least == "" || k < least {
			least = k
		}
	}
	return least
}

// shadowIndex holds the routes added so far by shadowKey (one entry per
// host), each list in file order. A route A can only cover B when A's
// path condition is none, B's exact path, or a prefix of B's path or
// path_prefix; and when A has no hosts, or has one that covers B's first
// host: that host itself, or "*.s" for a ".s" that ends it. Those are the
// keys looked up for B.
type shadowIndex struct {
	lists      map[shadowKey][]int
	prefixLens []int // distinct path_prefix lengths, ascending
	// other holds routes the keys cannot place (a wildcard host not of
	// the "*.name" form, an empty hosts list; validation refuses both):
	// they are candidates for every route.
	other []int
}

func newShadowIndex() *shadowIndex {
	return &shadowIndex{lists: make(map[shadowKey][]int)}
}

func pathKey(m *Match) (kind byte, path string) {
	switch {
	case m.Path != "":
		return 'e', m.Path
	case m.PathPrefix != "":
		return 'p', m.PathPrefix
	}
	return 'a', ""
}

func (ix *shadowIndex) add(m *Match, i int) {
	kind, path := pathKey(m)
	if kind == 'p' {
		if k, found := slices.BinarySearch(ix.prefixLens, len(path)); !found {
			ix.prefixLens = slices.Insert(ix.prefixLens, k, len(path))
		}
	}
	hdr := leastHeaderKey(m)
	if m.Hosts == nil {
		key := shadowKey{kind, path, "", hdr}
		ix.lists[key] = append(ix.lists[key], i)
		return
	}
	if len(m.Hosts) == 0 {
		ix.other = append(ix.other, i)
		return
	}
	for n, h := range m.Hosts {
		if h == "" || strings.HasPrefix(h, "*") && !strings.HasPrefix(h, "*.") {
			ix.other = append(ix.other, i)
			return
		}
		if slices.Contains(m.Hosts[:n], h) {
			continue // listed twice: once is enough
		}
		key := shadowKey{kind, path, h, hdr}
		ix.lists[key] = append(ix.lists[key], i)
	}
}

// firstCovering returns the smallest index of an added route that covers
// routes[j], or -1.
func (ix *shadowIndex) firstCovering(routes []Route, j int) int {
	b := &routes[j].Match
	best := -1
	try := func(list []int) {
		for _, i := range list {
			if best >= 0 && i >= best {
				return
			}
			if covers(&routes[i].Match, b) {
				best = i
				return
			}
		}
	}
	try(ix.other)
	if b.Hosts != nil && len(b.Hosts) == 0 {
		// Not expected (validation refuses it): compare with every key.
		for _, list := range ix.lists {
			try(list)
		}
		return best
	}
	// The hosts a coverer may have: none, B's first host, or a wildcard
	// "*.s" for each ".s" that ends it.
	hosts := []string{""}
	if len(b.Hosts) > 0 {
		hb := b.Hosts[0]
		hosts = append(hosts, hb)
		for k := 0; k < len(hb); k++ {
			if hb[k] == '.' {
				hosts = append(hosts, "*"+hb[k:])
			}
		}
	}
	// The header condition a coverer is filed under: none, or one of B's.
	hdrs := []string{""}
	for _, h := range b.HeaderList {
		hdrs = append(hdrs, headerKey(h.Name, h.Value))
	}
	lookup := func(kind byte, path string) {
		for _, h := range hosts {
			for _, hk := range hdrs {
				try(ix.lists[shadowKey{kind, path, h, hk}])
			}
		}
	}
	lookup('a', "")
	s := b.Path
	if s != "" {
		lookup('e', s)
	} else {
		s = b.PathPrefix
	}
	for _, n := range ix.prefixLens {
		if n > len(s) {
			break
		}
		lookup('p', s[:n])
	}
	return best
}

// brokenMatches marks the routes whose match already has a problem; they
// are left out of the shadow check rather than guessed at.
func (v *validator) brokenMatches() []bool {
	broken := make([]bool, len(v.c.Routes))
	for p := range v.d.bad {
		rest, ok := strings.CutPrefix(p, "routes[")
		if !ok {
			continue
		}
		num, rest, ok := strings.Cut(rest, "]")
		if !ok || (rest != ".match" && !strings.HasPrefix(rest, ".match.")) {
			continue
		}
		if i, err := strconv.Atoi(num); err == nil && i >= 0 && i < len(broken) {
			broken[i] = true
		}
	}
	return broken
}

func covers(a, b *Match) bool {
	return hostsCover(a.Hosts, b.Hosts) && pathCovers(a, b) &&
		methodsCover(a.Methods, b.Methods) && headersCover(a.HeaderList, b.HeaderList)
}

func hostsCover(a, b []string) bool {
	if a == nil {
		return true
	}
	if b == nil {
		return false
	}
	for _, hb := range b {
		if !slices.ContainsFunc(a, func(ha string) bool { return hostCovers(ha, hb) }) {
			return false
		}
	}
	return true
}

func hostCovers(a, b string) bool {
	if a == b {
		return true
	}
	suffix, ok := strings.CutPrefix(a, "*")
	if !ok {
		return false // an exact name never covers a wildcard
	}
	// suffix is ".s": "x.s" and "*.s"/"*.x.s" end in it; "s" does not.
	return strings.HasSuffix(b, suffix) && b != suffix[1:]
}

func pathCovers(a, b *Match) bool {
	switch {
	case a.Path != "":
		return b.Path == a.Path
	case a.PathPrefix != "":
		return (b.Path != "" && strings.HasPrefix(b.Path, a.PathPrefix)) ||
			(b.Path == "" && b.PathPrefix != "" && strings.HasPrefix(b.PathPrefix, a.PathPrefix))
	}
	return true
}

func methodsCover(a, b []string) bool {
	if a == nil {
		return true
	}
	if b == nil {
		return false
	}
	for _, m := range b {
		// As the router matches: without regard to case, GET covering HEAD.
		if !slices.ContainsFunc(a, func(x string) bool {
			return strings.EqualFold(x, m) || strings.EqualFold(x, "GET") && strings.EqualFold(m, "HEAD")
		}) {
			return false
		}
	}
	return true
}

func headersCover(a, b []Header) bool {
	for _, ha := range a {
		if !slices.ContainsFunc(b, func(hb Header) bool {
			return strings.EqualFold(ha.Name, hb.Name) && ha.Value == hb.Value
		}) {
			return false
		}
	}
	return true
}
