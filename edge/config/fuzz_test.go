package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, and it
// returns either a config that encodes as JSON or *Errors whose every
// problem prints as one line. Seeds: testdata/fuzz/FuzzParse, the golden
// inputs and the full example.
func FuzzParse(f *testing.F) {
	f.Add([]byte(fullExample))
	f.Add([]byte(minimal + "routes: [{name: r, upstream: app}]\n"))
	f.Add([]byte("{\"version\": 1, \"listeners\": [{\"name\": \"a\", \"address\": \":1\"}]}"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("x: &x {<<: *x}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err == nil {
			if _, jerr := c.RedactedJSON(); jerr != nil {
				t.Fatalf("loaded config does not encode: %v", jerr)
			}
			return
		}
		var errs *Errors
		if !errors.As(err, &errs) || len(errs.Problems) == 0 {
			t.Fatalf("error is not a non-empty *Errors: %v", err)
		}
		for _, p := range errs.Problems {
			if p.Message == "" || strings.ContainsAny(p.String(), "\r\n") {
				t.Fatalf("bad problem %q", p.String())
			}
		}
	})
}
