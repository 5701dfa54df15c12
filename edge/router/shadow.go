package router

import (
	"slices"
	"strings"
)

// Covers reports whether every request that later matches also matches
// earlier, so that a route with match later placed after one with earlier
// can never be chosen (SPEC.md §2: validate rejects such a route). It is
// conservative: true is always right; false may miss a cover that needs
// reasoning across several conditions (for example two routes whose methods
// together cover a third's). Both matches should have passed Compile.
func Covers(earlier, later Match) bool {
	return coversHosts(earlier.Hosts, later.Hosts) &&
		coversPath(&earlier, &later) &&
		coversMethods(earlier.Methods, later.Methods) &&
		coversHeaders(earlier.Headers, later.Headers)
}

func coversHosts(a, b []string) bool {
	if anyHost(a) {
		return true
	}
	if anyHost(b) {
		return false
	}
	for _, hb := range b {
		covered := false
		for _, ha := range a {
			if coversHost(ha, hb) {
				covered = true
				break
			}
		}
		if !covered {
			return false
		}
	}
	return true
}

func anyHost(hosts []string) bool {
	if len(hosts) == 0 {
		return true
	}
	for _, h := range hosts {
		if h == "*" {
			return true
		}
	}
	return false
}

// coversHost: does pattern a match every host pattern b matches?
func coversHost(a, b string) bool {
	a, b = asciiLower(a), asciiLower(b)
	if a == b {
		return true
	}
	if !strings.HasPrefix(a, "*.") {
		return false
	}
	suffix := a[1:] // ".example.com"
	if strings.HasPrefix(b, "*.") {
		// *.a.example.com names hosts with at least one label before
		// ".a.example.com", all of which end in ".example.com".
		return strings.HasSuffix(b[1:], suffix)
	}
	return len(b) > len(suffix) && strings.HasSuffix(b, suffix)
}

func coversPath(a, b *Match) bool {
	switch {
	case a.Path == "" && a.PathPrefix == "":
		return true
	case a.Path != "":
		return b.Path == a.Path
	case b.Path != "":
		return strings.HasPrefix(b.Path, a.PathPrefix)
	case b.PathPrefix != "":
		return strings.HasPrefix(b.PathPrefix, a.PathPrefix)
	}
	// b takes any path, a only those under its prefix.
	return false
}

func coversMethods(a, b []string) bool {
	if len(a) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	for _, m := range b {
		m = strings.ToUpper(m)
		if !slices.ContainsFunc(a, func(x string) bool {
			x = strings.ToUpper(x)
			return x == m || x == "GET" && m == "HEAD" // GET implies HEAD (methodBitFold)
		}) {
			return false
		}
	}
	return true
}

func coversHeaders(a, b []HeaderMatch) bool {
	for _, ha := range a {
		found := false
		for _, hb := range b {
			if strings.EqualFold(ha.Name, hb.Name) && ha.Value == hb.Value {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
