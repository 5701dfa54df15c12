package router_test

import (
	"fmt"

	"github.com/portico-gw/portico/edge/router"
)

// fields is a Headers over a parsed head; a pointer, so passing it is free.
type fields struct{ version []byte }

func (f *fields) Get(name string) ([]byte, bool) {
	if name == "x-api-version" && f.version != nil {
		return f.version, true
	}
	return nil, false
}

func ExampleTable_Lookup() {
	t, err := router.Compile([]router.Match{
		{Hosts: []string{"api.example.com", "*.example.com"}, PathPrefix: "/v1/orders/",
			Methods: []string{"GET", "POST"}, Headers: []router.HeaderMatch{{Name: "X-Api-Version", Value: "2"}}},
		{Hosts: []string{"*.example.com"}, PathPrefix: "/v1/"},
		{Path: "/healthz"},
	})
	if err != nil {
		panic(err)
	}
	h := &fields{version: []byte("2")}
	fmt.Println(t.Lookup([]byte("API.example.com:8443"), []byte("GET"), []byte("/v1/orders/7"), h))
	fmt.Println(t.Lookup([]byte("eu.api.example.com"), []byte("PUT"), []byte("/v1/orders/7"), h))
	fmt.Println(t.Lookup([]byte("example.com"), []byte("GET"), []byte("/healthz"), nil))
	fmt.Println(t.Lookup([]byte("example.com"), []byte("GET"), []byte("/v1/"), nil))
	// Output:
	// 0
	// 1
	// 2
	// -1
}
