//go:build !race

package router

import (
	"strings"
	"testing"
)

func TestLookupAllocs(t *testing.T) {
	tb, err := Compile(benchRoutes(50, 20))
	if err != nil {
		t.Fatal(err)
	}
	h := newHdrs("X-Internal", "1")
	long := []byte(strings.Repeat("a.", 200) + "tenant0.example.net")
	for _, host := range [][]byte{[]byte("API-3.example.com:1"), []byte("q.tenant10.example.net"), long, nil} {
		n := testing.AllocsPerRun(100, func() {
			tb.Lookup(host, []byte("PURGE"), []byte("/internal/10/x"), h)
			tb.Lookup(host, []byte("GET"), []byte("/svc3/v1/x"), h)
		})
		if n != 0 {
			t.Errorf("Lookup(%q) allocates %v per run", host, n)
		}
	}
}
