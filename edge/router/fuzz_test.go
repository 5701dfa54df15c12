package router

import "testing"

// FuzzLookup feeds untrusted request hosts, methods and paths to a fixed
// table and checks the answer against the linear reference.
func FuzzLookup(f *testing.F) {
	routes := []Match{
		{Hosts: []string{"api.example.com"}, PathPrefix: "/v1/", Methods: []string{"GET"}},
		{Hosts: []string{"*.example.com"}, Path: "/exact"},
		{Hosts: []string{"[::1]", "*.b.example.com"}, PathPrefix: "/v"},
		{PathPrefix: "/internal/", Headers: []HeaderMatch{{Name: "X-Internal", Value: "1"}}},
		{Hosts: []string{"*.com"}, Methods: []string{"PURGE", "POST"}},
		{Path: "/"},
	}
	tb, err := Compile(routes)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("api.example.com:443", "GET", "/v1/x", "1")
	f.Add("A.B.EXAMPLE.COM", "PUT", "/v", "")
	f.Add("[::1]:80", "PURGE", "/exact", "0")
	f.Add(".example.com", "POST", "/internal/", "1")
	f.Add("", "GET", "/", "")
	f.Fuzz(func(t *testing.T, host, method, path, internal string) {
		r := req{host: host, method: method, path: path, h: []string{"X-Internal", internal}}
		if got, want := lookup(tb, r), reference(routes, r); got != want {
			t.Fatalf("Lookup(%q) = %d, reference = %d", r, got, want)
		}
	})
}
