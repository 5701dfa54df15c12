package accesslog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is an io.Writer that records everything and every Write call.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	split  bool // a Write did not end on a line boundary
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	if len(p) > 0 && p[len(p)-1] != '\n' {
		b.split = true
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) writeCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.writes
}

func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	return parseLines(t, b.buf.Bytes())
}

func parseLines(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1<<20), 4<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("invalid JSON line %q: %v", sc.Bytes(), err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// blockingWriter blocks every Write until release is closed, and signals
// entered on the first one.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	sink    syncBuffer
}

func newBlockingWriter() *blockingWriter {
	return &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	return w.sink.Write(p)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestLoggerWritesAllLines(t *testing.T) {
	var out syncBuffer
	l := New(&out, Options{FlushInterval: time.Hour})
	e := sampleEntry()
	for i := range 100 {
		e.Status = 200 + i
		l.Log(&e)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := out.lines(t)
	if len(lines) != 100 || l.Dropped() != 0 {
		t.Fatalf("got %d lines, %d dropped", len(lines), l.Dropped())
	}
	seen := map[float64]bool{}
	for _, m := range lines {
		seen[m["status"].(float64)] = true
	}
	if len(seen) != 100 {
		t.Fatalf("got %d distinct statuses", len(seen))
	}
	// Log after Close is a silent no-op.
	l.Log(&e)
	if l.Enabled() || l.Close() != nil {
		t.Fatal("closed logger still enabled or second Close failed")
	}
}

func TestLoggerFlushesOnInterval(t *testing.T) {
	var out syncBuffer
	l := New(&out, Options{FlushInterval: 5 * time.Millisecond})
	defer l.Close()
	e := sampleEntry()
	l.Log(&e)
	waitFor(t, "the periodic flush", func() bool { return len(out.lines(t)) == 1 })
}

func TestLoggerDropsWhenStalled(t *testing.T) {
	w := newBlockingWriter()
	l := New(w, Options{Shards: 2, BufBytes: 16 << 10, FlushInterval: time.Millisecond, CloseTimeout: 5 * time.Second})
	e := sampleEntry()
	l.Log(&e)
	select {
	case <-w.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("flusher never wrote")
	}
	// The flusher is stuck in Write: Log must keep returning, and drop.
	const total = 2000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range total {
			l.Log(&e)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Log blocked behind a stalled writer")
	}
	dropped := l.Dropped()
	if dropped == 0 || dropped >= total {
		t.Fatalf("dropped %d of %d, want some but not all", dropped, total)
	}
	close(w.release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	written := len(w.sink.lines(t))
	if uint64(written)+l.Dropped() != total+1 {
		t.Fatalf("written %d + dropped %d != logged %d", written, l.Dropped(), total+1)
	}
	// 16 KiB of rings hold at most 16Ki/len(line) lines.
	if max := 16<<10/len(appendEntry(nil, &e)) + 1; written > max {
		t.Fatalf("written %d lines, rings can hold only %d", written, max)
	}
}

func TestLoggerCloseTimeoutWithStalledWriter(t *testing.T) {
	w := newBlockingWriter()
	l := New(w, Options{FlushInterval: time.Millisecond, CloseTimeout: 50 * time.Millisecond})
	e := sampleEntry()
	l.Log(&e)
	<-w.entered
	start := time.Now()
	err := l.Close()
	if err == nil || !strings.Contains(err.Error(), "still blocked") {
		t.Fatalf("Close = %v, want a timeout error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	close(w.release)
	waitFor(t, "the flusher to exit", func() bool {
		select {
		case <-l.done:
			return true
		default:
			return false
		}
	})
}

func TestLoggerConcurrent(t *testing.T) {
	var out syncBuffer
	// Each ring holds every line the test logs, so nothing may drop however
	// late the flusher runs (with the default rings, two producers on one
	// shard could fill it on a loaded machine under -race).
	l := New(&out, Options{FlushInterval: time.Millisecond, BufBytes: 8 << 20, Shards: 4})
	const producers, per = 4, 500
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := sampleEntry()
			id := make([]byte, 0, 16)
			for i := range per {
				id = strconv.AppendInt(id[:0], int64(p*per+i), 10)
				e.RequestID = id
				l.Log(&e)
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l.Dropped() != 0 {
		t.Fatalf("dropped %d lines with room to spare", l.Dropped())
	}
	seen := map[string]int{}
	for _, m := range out.lines(t) {
		seen[m["request_id"].(string)]++
	}
	if len(seen) != producers*per {
		t.Fatalf("got %d distinct ids, want %d", len(seen), producers*per)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("id %s written %d times", id, n)
		}
	}
}

func TestLoggerWritesWholeLines(t *testing.T) {
	// Enough lines for several flush buffers from one ring: every Write must
	// still end on a line boundary.
	var out syncBuffer
	l := New(&out, Options{Shards: 1, BufBytes: 2 << 20, FlushInterval: time.Hour})
	e := sampleEntry()
	e.Path = bytes.Repeat([]byte("/abcdefg"), 100)
	n := 3 * flushBufBytes / len(appendEntry(nil, &e))
	for range n {
		l.Log(&e)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(out.lines(t)); got != n || l.Dropped() != 0 {
		t.Fatalf("got %d lines of %d, %d dropped", got, n, l.Dropped())
	}
	if out.writes < 3 || out.split {
		t.Fatalf("writes=%d split=%v", out.writes, out.split)
	}
}

func TestLoggerHugeLine(t *testing.T) {
	// Every text field at the cap and all escapes: longer than the flush
	// buffer, so it is written in pieces but still arrives whole.
	var out syncBuffer
	l := New(&out, Options{Shards: 1, BufBytes: 1 << 20, FlushInterval: time.Hour})
	big := bytes.Repeat([]byte{1}, maxFieldBytes+10)
	s := string(big)
	e := Entry{RequestID: big, RemoteAddr: big, Method: big, Host: big, Path: big,
		Proto: s, Route: s, Upstream: s, Target: s, Consumer: s, ErrorCode: s}
	if n := len(appendEntry(nil, &e)); n <= flushBufBytes {
		t.Fatalf("line of %d bytes does not exercise the split path", n)
	}
	small := sampleEntry()
	l.Log(&small)
	l.Log(&e)
	l.Log(&small)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := out.lines(t)
	if len(lines) != 3 || l.Dropped() != 0 {
		t.Fatalf("got %d lines, %d dropped", len(lines), l.Dropped())
	}
	if got := lines[1]["path"].(string); len(got) != maxFieldBytes+len(truncMark) {
		t.Fatalf("path of %d bytes", len(got))
	}
}

func TestLoggerLineLargerThanRingIsDropped(t *testing.T) {
	var out syncBuffer
	l := New(&out, Options{Shards: 1, BufBytes: 4 << 10, FlushInterval: time.Hour})
	e := sampleEntry()
	e.Path = bytes.Repeat([]byte("x"), 5000)
	l.Log(&e)
	if l.Dropped() != 1 {
		t.Fatalf("dropped %d, want 1", l.Dropped())
	}
	small := sampleEntry()
	l.Log(&small)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(out.lines(t)); n != 1 {
		t.Fatalf("got %d lines", n)
	}
}

type failingWriter struct {
	n     int // bytes accepted before the error
	calls atomic.Int32
}

func (w *failingWriter) Write(p []byte) (int, error) {
	w.calls.Add(1)
	return min(w.n, len(p)), errors.New("disk full")
}

// queueUnflushed puts n sample lines in the first ring without waking the
// flusher (Log would), so that Close writes them all in one Write.
func queueUnflushed(l *Logger, n int) {
	e := sampleEntry()
	line := appendEntry(nil, &e)
	s := l.shards[0]
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.put(line)
	}
}

func TestLoggerWriteErrors(t *testing.T) {
	var reported atomic.Int32
	var lastErr atomic.Value
	w := &failingWriter{}
	l := New(w, Options{FlushInterval: time.Hour, OnError: func(err error) {
		reported.Add(1)
		lastErr.Store(err.Error())
	}})
	queueUnflushed(l, 10)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l.WriteErrors() != 1 || l.Dropped() != 10 {
		t.Fatalf("write errors %d, dropped %d", l.WriteErrors(), l.Dropped())
	}
	if reported.Load() != 1 || !strings.Contains(lastErr.Load().(string), "disk full") {
		t.Fatalf("reported %d: %v", reported.Load(), lastErr.Load())
	}
}

type shortWriter struct{ syncBuffer }

func (w *shortWriter) Write(p []byte) (int, error) {
	n := len(p) / 2
	_, _ = w.syncBuffer.Write(p[:n])
	return n, nil
}

func TestLoggerShortWrite(t *testing.T) {
	w := &shortWriter{}
	l := New(w, Options{FlushInterval: time.Hour})
	queueUnflushed(l, 4)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Half of 4 equal lines went out; the two whose newline did not are lost.
	if l.WriteErrors() != 1 || l.Dropped() != 2 {
		t.Fatalf("write errors %d, dropped %d", l.WriteErrors(), l.Dropped())
	}
}

func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseLines(t, b)
}

func TestOpenFileAndReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	if err := os.WriteFile(path, []byte(`{"old":true}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := OpenOptions(path, Options{FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := sampleEntry()
	e.Route = "first"
	l.Log(&e)
	waitFor(t, "the first line", func() bool { return len(readLines(t, path)) == 2 })

	rotated := path + ".1"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	e.Route = "second"
	l.Log(&e)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	old := readLines(t, rotated)
	if len(old) != 2 || old[0]["old"] != true || old[1]["route"] != "first" {
		t.Fatalf("rotated file: %v", old)
	}
	cur := readLines(t, path)
	if len(cur) != 1 || cur[0]["route"] != "second" {
		t.Fatalf("new file: %v", cur)
	}
	if err := l.Reopen(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reopen after Close = %v", err)
	}
}

func TestOpenCreatesWith0644(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	l, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// The process umask may only remove bits.
	if perm := st.Mode().Perm(); perm&^0o644 != 0 || perm&0o600 != 0o600 {
		t.Fatalf("mode %v", perm)
	}
}

func TestOpenSpecialPaths(t *testing.T) {
	f := func(path string, wantErr, wantEnabled bool) {
		t.Helper()
		l, err := Open(path, 0)
		if (err != nil) != wantErr {
			t.Fatalf("Open(%q) error = %v", path, err)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "cannot open access log") {
				t.Fatalf("error lacks context: %v", err)
			}
			return
		}
		if l.Enabled() != wantEnabled {
			t.Fatalf("Open(%q).Enabled() = %v", path, l.Enabled())
		}
		if err := l.Reopen(); err != nil {
			t.Fatalf("Reopen(%q) = %v", path, err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("Close(%q) = %v", path, err)
		}
	}
	f("off", false, false)
	f("stdout", false, true)
	f("stderr", false, true)
	f("", true, false)
	f(filepath.Join(t.TempDir(), "missing", "dir", "a.log"), true, false)
	// stdout survived Close.
	if _, err := fmt.Fprint(os.Stdout, ""); err != nil {
		t.Fatalf("stdout closed: %v", err)
	}
}

func TestOffAndNilLoggers(t *testing.T) {
	e := sampleEntry()
	for _, l := range []*Logger{nil, New(nil, Options{}), func() *Logger { l, _ := Open("off", 0); return l }()} {
		l.Log(&e)
		if l.Enabled() || l.Dropped() != 0 || l.WriteErrors() != 0 || l.Reopen() != nil || l.Close() != nil {
			t.Fatalf("%v: off logger did something", l)
		}
	}
}

func TestShardRingWrapsAround(t *testing.T) {
	s := newShard(64)
	line := []byte("0123456789abcdefghijklmnopqrstu\n") // 32 bytes
	var l Logger
	l.fbuf = make([]byte, 0, 100)
	var out syncBuffer
	l.w = &out
	for i := range 10 {
		if ok, _, _ := s.put(line[:20]); !ok {
			t.Fatalf("put %d failed", i)
		}
		if ok, _, _ := s.put(line[20:]); !ok {
			t.Fatalf("put %d failed", i)
		}
		l.drain(s)
		l.writeBuf()
	}
	if ok, _, _ := s.put(make([]byte, 65)); ok {
		t.Fatal("oversized put succeeded")
	}
	if got, want := out.buf.String(), strings.Repeat(string(line), 10); got != want {
		t.Fatalf("got %q", got)
	}
}

// TestLoggerWritesPromptlyInOrder: a line after a quiet spell is written at
// once, not after FlushInterval; lines logged one after another (no
// contention) reach the destination in that order; an idle logger sleeps.
func TestLoggerWritesPromptlyInOrder(t *testing.T) {
	var out syncBuffer
	l := New(&out, Options{Shards: 4, FlushInterval: time.Hour})
	defer l.Close()
	e := sampleEntry()
	for i := range 3 {
		e.Status = 200 + i
		l.Log(&e)
		waitFor(t, "the line after a quiet spell", func() bool { return len(out.lines(t)) == i+1 })
	}

	var burst syncBuffer
	lb := New(&burst, Options{Shards: 4, FlushInterval: 2 * time.Millisecond})
	defer lb.Close()
	for i := range 50 {
		e.Status = 300 + i
		lb.Log(&e)
	}
	waitFor(t, "the burst", func() bool { return len(burst.lines(t)) == 50 })
	for i, m := range burst.lines(t) {
		if got := int(m["status"].(float64)); got != 300+i {
			t.Fatalf("line %d has status %d: lines out of order", i, got)
		}
	}
	writes := burst.writeCount()
	time.Sleep(50 * time.Millisecond)
	if n := burst.writeCount() - writes; n != 0 {
		t.Fatalf("an idle logger wrote %d times", n)
	}
}

// gatedWriter blocks every Write until open is closed.
type gatedWriter struct {
	open chan struct{}
	syncBuffer
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	<-g.open
	return g.syncBuffer.Write(p)
}

// countingWriter counts the lines written to it.
type countingWriter struct{ lines atomic.Int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.lines.Add(int64(bytes.Count(p, []byte("\n"))))
	return len(p), nil
}

// TestLoggerNoLostWakeup: a few lines logged back to back are all written
// without a later line to push them out, however the producer's put and
// the flusher's drain interleave (a put that saw the ring non-empty
// while the flusher emptied it used to leave its line for the next one).
func TestLoggerNoLostWakeup(t *testing.T) {
	w := &countingWriter{}
	l := New(w, Options{Shards: 4, FlushInterval: time.Millisecond})
	defer l.Close()
	e := sampleEntry()
	want := int64(0)
	deadline := time.Now().Add(2 * time.Second)
	for i := 0; i < 3000 && time.Now().Before(deadline); i++ {
		k := 1 + i%3
		for range k {
			l.Log(&e)
		}
		want += int64(k)
		waitFor(t, "lines without a later one", func() bool { return w.lines.Load() == want })
	}
}

// TestLoggerFullShardSpills: while the destination is stuck, a line that
// does not fit its ring goes to the next one rather than being dropped.
func TestLoggerFullShardSpills(t *testing.T) {
	w := &gatedWriter{open: make(chan struct{})}
	l := New(w, Options{Shards: 2, BufBytes: 8 << 10, FlushInterval: time.Millisecond})
	e := sampleEntry()
	line := uint64(len(appendEntry(nil, &e)))
	l.Log(&e) // taken by the flusher, which is then stuck in Write
	waitFor(t, "the flusher to take the first line", func() bool { return l.shards[0].tail.Load() == line })
	n := 1
	for ; l.shards[1].head.Load() == 0 && n < 100; n++ {
		l.Log(&e)
	}
	if l.Dropped() != 0 || l.shards[1].head.Load() != line || n < 4<<10/int(line) {
		t.Fatalf("after %d lines: dropped %d, ring 1 holds %d bytes", n, l.Dropped(), l.shards[1].head.Load())
	}
	close(w.open)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(w.lines(t)); got != n || l.Dropped() != 0 {
		t.Fatalf("wrote %d lines of %d, dropped %d", got, n, l.Dropped())
	}
}

func TestLogDropsWhenAllShardsBusy(t *testing.T) {
	var out syncBuffer
	l := New(&out, Options{Shards: 3, FlushInterval: time.Hour})
	for _, s := range l.shards {
		s.mu.Lock()
	}
	e := sampleEntry()
	l.Log(&e) // must return at once, not wait for a shard
	if l.Dropped() != 1 {
		t.Fatalf("dropped %d, want 1", l.Dropped())
	}
	for _, s := range l.shards {
		s.mu.Unlock()
	}
	l.Log(&e)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(out.lines(t)); n != 1 || l.Dropped() != 1 {
		t.Fatalf("got %d lines, %d dropped", n, l.Dropped())
	}
}

func TestReopenFailureKeepsOldFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "access.log")
	l, err := OpenOptions(path, Options{FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	moved := dir + ".old"
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err == nil || !strings.Contains(err.Error(), "cannot open access log") {
		t.Fatalf("Reopen into a missing dir = %v", err)
	}
	e := sampleEntry()
	l.Log(&e)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(readLines(t, filepath.Join(moved, "access.log"))); n != 1 {
		t.Fatalf("old file has %d lines", n)
	}
}

// A FIFO opens at once with no reader (it blocked for ever: the start,
// and each reload's reopen, hung; then it failed, so a log shipper started
// after the gateway could not attach): lines wait in the pipe for a reader
// that comes later, and a reader that goes away and comes back (a shipper
// restarting) finds the lines written meanwhile.
func TestOpenFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	opened := make(chan *Logger, 1)
	go func() {
		l, err := Open(path, 0)
		if err != nil {
			t.Error(err)
		}
		opened <- l
	}()
	var l *Logger
	select {
	case l = <-opened:
	case <-time.After(3 * time.Second):
		t.Fatal("opening a FIFO without a reader blocked")
	}
	if l == nil {
		t.Fatal("a FIFO without a reader did not open")
	}
	defer l.Close()
	read := func(want string) {
		t.Helper()
		r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		_ = r.SetReadDeadline(time.Now().Add(3 * time.Second))
		var got []byte
		buf := make([]byte, 4096)
		for !bytes.Contains(got, []byte(want)) {
			n, err := r.Read(buf)
			if err != nil {
				t.Fatalf("reading for %s: %v (got %q)", want, err, got)
			}
			got = append(got, buf[:n]...)
		}
	}
	l.Log(&Entry{Method: []byte("GET"), Path: []byte("/before-reader"), Status: 200})
	time.Sleep(3 * DefaultFlushInterval) // flushed into the pipe, no reader yet
	read(`"path":"/before-reader"`)
	// The reader went away; lines written now wait for the next one.
	l.Log(&Entry{Method: []byte("GET"), Path: []byte("/between-readers"), Status: 200})
	time.Sleep(3 * DefaultFlushInterval)
	read(`"path":"/between-readers"`)
}
