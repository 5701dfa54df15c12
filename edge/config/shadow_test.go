package config

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// bruteCoverers is the shadow check by its definition: every route
// against every earlier one.
func bruteCoverers(routes []Route, broken []bool) []int {
	first := make([]int, len(routes))
	for j := range routes {
		first[j] = -1
		if broken[j] {
			continue
		}
		for i := 0; i < j; i++ {
			if !broken[i] && covers(&routes[i].Match, &routes[j].Match) {
				first[j] = i
				break
			}
		}
	}
	return first
}

// The indexed shadow check finds, for every route, the same first coverer
// as comparing it with every earlier route, over random matches drawn
// from a few hosts, wildcards, paths, prefixes, methods and headers.
func TestShadowIndexMatchesBruteForce(t *testing.T) {
	hosts := []string{"a.example.com", "b.example.com", "*.example.com", "x.a.example.com", "*.a.example.com", "example.com", "*.com", "other.org"}
	paths := []string{"/", "/api", "/api/", "/api/orders", "/api/orders/1", "/apix", "/v", "/v/x", "/items"}
	methods := []string{"GET", "HEAD", "POST", "DELETE"}
	headers := []Header{{Name: "X-Ver", Value: "2"}, {Name: "x-ver", Value: "2"}, {Name: "X-Ver", Value: "3"}, {Name: "X-Other", Value: "1"}}
	pick := func(r *rand.Rand, from []string, max int) []string {
		if r.IntN(3) == 0 {
			return nil
		}
		var out []string
		for range 1 + r.IntN(max) {
			if s := from[r.IntN(len(from))]; !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		return out
	}
	shadowed := 0
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 18))
		routes := make([]Route, 1+r.IntN(60))
		broken := make([]bool, len(routes))
		for i := range routes {
			m := &routes[i].Match
			m.Hosts = pick(r, hosts, 3)
			switch r.IntN(3) {
			case 0:
				m.Path = paths[r.IntN(len(paths))]
			case 1:
				m.PathPrefix = paths[r.IntN(len(paths))]
			}
			m.Methods = pick(r, methods, 2)
			for range r.IntN(3) {
				if h := headers[r.IntN(len(headers))]; !slices.Contains(m.HeaderList, h) {
					m.HeaderList = append(m.HeaderList, h)
				}
			}
			broken[i] = r.IntN(20) == 0
		}
		got, want := firstCoverers(routes, broken), bruteCoverers(routes, broken)
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d: indexed %v\nbrute force %v", seed, got, want)
		}
		for _, i := range want {
			if i > 0 {
				shadowed++ // by a route other than the first
			}
		}
	}
	if shadowed < 1000 {
		t.Errorf("only %d routes shadowed by a later-than-first route: the draw tests too little", shadowed)
	}
}

// The shadow check is not quadratic in the common shapes (exact paths,
// prefixes, hosts): 50k routes of each are checked in well under 2 s
// (comparing every pair took 0.56 s for 8k routes and 20 s for 150k).
func TestShadowManyRoutesFast(t *testing.T) {
	const n = 50_000
	shapes := map[string]func(i int) Match{
		"exact paths": func(i int) Match { return Match{Path: fmt.Sprintf("/svc/%d/items", i)} },
		"prefixes":    func(i int) Match { return Match{PathPrefix: fmt.Sprintf("/p%d/", i)} },
		"hosts":       func(i int) Match { return Match{Hosts: []string{fmt.Sprintf("h%d.example.com", i)}} },
		"one path, a header each": func(i int) Match {
			return Match{PathPrefix: "/api/", HeaderList: []Header{{Name: "X-Tenant", Value: fmt.Sprintf("t%d", i)}}}
		},
		"hosts and paths": func(i int) Match {
			return Match{Hosts: []string{fmt.Sprintf("h%d.example.com", i%100), "*.example.org"}, Path: fmt.Sprintf("/r%d", i), Methods: []string{"GET"}}
		},
	}
	for name, shape := range shapes {
		t.Run(name, func(t *testing.T) {
			routes := make([]Route, n)
			for i := range routes {
				routes[i].Match = shape(i)
			}
			// The last one is shadowed by the first, and found.
			routes = append(routes, Route{Match: routes[0].Match})
			start := time.Now()
			first := firstCoverers(routes, make([]bool, len(routes)))
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("%d routes checked in %v", len(routes), d)
			}
			for j, i := range first[:n] {
				if i >= 0 {
					t.Fatalf("route %d reported shadowed by %d", j, i)
				}
			}
			if first[n] != 0 {
				t.Errorf("duplicate of route 0: coverer %d, want 0", first[n])
			}
		})
	}
}

// BenchmarkParseManyExactRoutes parses and validates a route file of 150k
// exact-path routes (11 MB, under MaxFileSize); the shadow check alone
// took more than 20 s of it when it compared every pair.
func BenchmarkParseManyExactRoutes(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(minimal + "routes:\n")
	const n = 150_000
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "  - {name: r%d, match: {path: /api/v1/resource/%d}, upstream: app}\n", i, i)
	}
	data := []byte(sb.String())
	for b.Loop() {
		c, err := Parse(data, "r.yaml")
		if err != nil {
			b.Fatal(err)
		}
		if len(c.Routes) != n {
			b.Fatalf("%d routes", len(c.Routes))
		}
	}
}
