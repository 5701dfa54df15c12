//go:build !race

package accesslog

import (
	"io"
	"testing"
	"time"
)

func TestLogDoesNotAllocate(t *testing.T) {
	l := New(io.Discard, Options{FlushInterval: time.Millisecond})
	defer l.Close()
	e := sampleEntry()
	hostile := Entry{Path: []byte("a\"b\\c\x01\xff\u2028é"), Consumer: "\n", Time: e.Time}
	for _, in := range []*Entry{&e, &hostile, {}} {
		if n := testing.AllocsPerRun(1000, func() { l.Log(in) }); n != 0 {
			t.Fatalf("Log allocates %v times per call", n)
		}
	}
}
