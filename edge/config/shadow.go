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
	broken := v.brokenMatches()
	for j := 1; j < len(routes); j++ {
		if broken[j] {
			continue
		}
		for i := 0; i < j; i++ {
			if broken[i] || !covers(&routes[i].Match, &routes[j].Match) {
				continue
			}
			path := index("routes", j)
			if v.set(join(path, "match")) {
				path = join(path, "match")
			}
			v.errf(path, "never matches: route %q (line %d) comes first and matches every request this route matches", routes[i].Name, routes[i].Pos.Line)
			break
		}
	}
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
