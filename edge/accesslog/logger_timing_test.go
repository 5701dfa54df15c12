package accesslog

import (
	"io"
	"runtime"
	"testing"
	"time"
)

func BenchmarkAppendEntry(b *testing.B) {
	e := sampleEntry()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(appendEntry(nil, &e))))
	for b.Loop() {
		buf = appendEntry(buf[:0], &e)
	}
}

func BenchmarkAppendJSONStringEscapes(b *testing.B) {
	s := []byte(`/v1/search?q="a\b"&x=héllo` + "\t\x01\xff")
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		buf = appendJSONString(buf[:0], s)
	}
}

// The destination is io.Discard: these measure what an event loop pays.
func BenchmarkLog(b *testing.B) {
	l := New(io.Discard, Options{FlushInterval: time.Millisecond})
	defer l.Close()
	e := sampleEntry()
	b.ReportAllocs()
	for b.Loop() {
		l.Log(&e)
	}
	b.ReportMetric(float64(l.Dropped()), "dropped")
}

func BenchmarkLogZeroTime(b *testing.B) {
	l := New(io.Discard, Options{FlushInterval: time.Millisecond})
	defer l.Close()
	e := sampleEntry()
	e.Time = time.Time{}
	b.ReportAllocs()
	for b.Loop() {
		l.Log(&e)
	}
}

func BenchmarkLogParallel(b *testing.B) {
	l := New(io.Discard, Options{FlushInterval: time.Millisecond})
	defer l.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		e := sampleEntry()
		for pb.Next() {
			l.Log(&e)
		}
	})
	b.ReportMetric(float64(l.Dropped()), "dropped")
}

// BenchmarkLogParallelYielding is closer to event loops, which return to
// epoll between batches and so let the flusher run; the plain benchmarks
// spin without yielding, starve the flusher and mostly measure the drop path.
func BenchmarkLogParallelYielding(b *testing.B) {
	l := New(io.Discard, Options{FlushInterval: time.Millisecond})
	defer l.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		e := sampleEntry()
		for i := 0; pb.Next(); i++ {
			l.Log(&e)
			if i%64 == 63 {
				runtime.Gosched()
			}
		}
	})
	b.ReportMetric(float64(l.Dropped()), "dropped")
}
