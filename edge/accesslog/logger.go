package accesslog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Destinations that Open accepts besides a file path (SPEC.md §2 access_log.path).
const (
	PathStdout = "stdout"
	PathStderr = "stderr"
	PathOff    = "off"
)

// Defaults for the zero fields of Options.
const (
	DefaultBufBytes      = 4 << 20
	DefaultFlushInterval = 10 * time.Millisecond
	// DefaultCloseTimeout: a writer that takes the final flush does so in
	// milliseconds; one that is stalled (a full pipe, a hung disk) would
	// not in 5 s either, and the wait delays the exit that SPEC §1 has
	// follow the drain, past a supervisor's grace period.
	DefaultCloseTimeout = time.Second
)

const (
	// minRingBytes keeps a tiny BufBytes from making rings that fit no line.
	minRingBytes = 4 << 10
	// flushBufBytes is the most the flusher hands to one Write call.
	flushBufBytes = 256 << 10
	// errorReportEvery limits Options.OnError calls during a long outage.
	errorReportEvery = time.Second
)

// ErrClosed is returned by Reopen after Close.
var ErrClosed = errors.New("accesslog: logger closed")

// Options tunes a Logger; the zero value means the defaults.
type Options struct {
	// BufBytes is the total ring memory, split evenly over the shards (each
	// ring is rounded down to a power of two, at least 4 KiB). It bounds how
	// much a stalled destination can hold back before lines are dropped; a
	// line longer than one ring is always dropped (text fields are cut at
	// 8 KiB each, so keep rings at 64 KiB or more).
	BufBytes int
	// Shards is the number of rings; 0 means max(4, 2×GOMAXPROCS).
	Shards int
	// FlushInterval is the pause between writes while lines keep coming,
	// so a busy log goes out in few large writes; a half-full ring cuts it
	// short. A line after a quiet spell is written at once.
	FlushInterval time.Duration
	// CloseTimeout bounds how long Close waits for the final flush.
	CloseTimeout time.Duration
	// OnError, if set, is called from the flusher goroutine when a write,
	// reopen or close fails, at most once per second; WriteErrors counts
	// every failure. It must not call back into the Logger's Close.
	OnError func(error)
}

// Logger is the access log writer. Log may be called from any number of
// goroutines at once; the other methods are for the control plane. A nil
// *Logger and a Logger opened with "off" accept every call and do nothing.
type Logger struct {
	// Immutable after construction:
	shards []*shard
	off    bool
	path   string // what Open was given; Reopen reopens it when isFile
	isFile bool
	opts   Options

	closed    atomic.Bool
	wake      chan struct{} // capacity 1: a pending wake-up is enough
	urgent    chan struct{} // a ring is half full: cut the pause short
	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error // written by the flusher before done is closed

	pending   atomic.Pointer[os.File] // a file Reopen opened, for the flusher to adopt
	lost      atomic.Uint64           // lines lost in failed writes
	writeErrs atomic.Uint64

	// Owned by the flusher goroutine:
	w          io.Writer
	file       *os.File // the destination when the Logger opened it (and so closes it)
	fbuf       []byte
	lastReport time.Time
}

// Open starts a Logger for path: "stdout", "stderr", "off", or a file that
// is opened for appending (created 0644 if missing). bufBytes is the ring
// memory (0 means DefaultBufBytes).
func Open(path string, bufBytes int) (*Logger, error) {
	return OpenOptions(path, Options{BufBytes: bufBytes})
}

// OpenOptions is Open with every tunable.
func OpenOptions(path string, o Options) (*Logger, error) {
	switch path {
	case "":
		return nil, errors.New("cannot open access log: empty path (use stdout, stderr, off or a file)")
	case PathOff:
		return &Logger{off: true, path: path}, nil
	case PathStdout:
		return newLogger(os.Stdout, nil, path, o), nil
	case PathStderr:
		return newLogger(os.Stderr, nil, path, o), nil
	}
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	return newLogger(f, f, path, o), nil
}

// New starts a Logger that writes to w, which only the flusher goroutine
// calls and which the Logger never closes. A nil w gives an "off" Logger.
func New(w io.Writer, o Options) *Logger {
	if w == nil {
		return &Logger{off: true, path: PathOff}
	}
	return newLogger(w, nil, "writer", o)
}

// openFile opens the log file for appending. A FIFO is opened read-write:
// write-only, its open waits for a reader (at start, and on the reopen of
// every reload, which then hung SIGHUP, /reload and SIGTERM), or with
// O_NONBLOCK fails when there is none yet, so that a log shipper started
// after the gateway could never attach; and a reader that restarts would
// leave the writes failing with EPIPE. Holding a read end itself, the
// gateway opens at once, its lines wait in the pipe for the reader (past
// the pipe's room they are dropped and counted, as for any stalled log),
// and a reader may come and go. O_NONBLOCK: Go's runtime poller then makes
// the writes of the flusher goroutine wait for room in the pipe, off the
// event loops. Regular files ignore the flag.
func openFile(path string) (*os.File, error) {
	mode := os.O_WRONLY
	if fi, err := os.Stat(path); err == nil && fi.Mode()&fs.ModeNamedPipe != 0 {
		mode = os.O_RDWR
	}
	f, err := os.OpenFile(path, mode|os.O_APPEND|os.O_CREATE|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open access log: %w", err)
	}
	return f, nil
}

func newLogger(w io.Writer, f *os.File, path string, o Options) *Logger {
	if o.BufBytes <= 0 {
		o.BufBytes = DefaultBufBytes
	}
	if o.Shards <= 0 {
		o.Shards = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	ring := minRingBytes
	for ring*2 <= o.BufBytes/o.Shards {
		ring *= 2
	}
	l := &Logger{
		shards: make([]*shard, o.Shards),
		path:   path,
		isFile: f != nil,
		opts:   o,
		wake:   make(chan struct{}, 1),
		urgent: make(chan struct{}, 1),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		w:      w,
		file:   f,
		fbuf:   make([]byte, 0, flushBufBytes),
	}
	for i := range l.shards {
		l.shards[i] = newShard(ring)
	}
	go l.run()
	return l
}

// Enabled reports whether Log writes anything, so a caller can skip
// filling an Entry.
func (l *Logger) Enabled() bool {
	return l != nil && !l.off && !l.closed.Load()
}

// Log encodes e and queues it for writing. It never blocks and does not
// allocate: when the rings are full (the destination is slow) or all
// shards are busy, the line is dropped and counted in Dropped. e and the
// slices it points to are only read during the call. Lines logged while
// Close runs may be lost without being counted.
func (l *Logger) Log(e *Entry) {
	if l == nil || l.off || l.closed.Load() {
		return
	}
	// Shards are tried in order, so lines from loops that do not contend
	// (light traffic) share one ring and reach the destination in the
	// order they were logged; contention or a full ring moves on to the
	// next shard.
	for i, s := range l.shards {
		if !s.mu.TryLock() {
			continue
		}
		s.scratch = appendEntry(s.scratch[:0], e)
		if l.put(s, s.scratch) {
			s.mu.Unlock()
			return
		}
		// Full (the destination is slow): the next free shard with room,
		// the line still in s.scratch, which s.mu keeps ours.
		for _, t := range l.shards[i+1:] {
			if t.mu.TryLock() {
				ok := l.put(t, s.scratch)
				t.mu.Unlock()
				if ok {
					s.mu.Unlock()
					return
				}
			}
		}
		s.mu.Unlock()
		break
	}
	// The rings are full, or more producers than shards are inside Log
	// right now (waiting for one would make Log block): the line is dropped.
	l.shards[0].dropped.Add(1)
}

// put queues line in s, whose lock the caller holds, and wakes the flusher
// when s was empty (the first line after a quiet spell goes out at once)
// or is now half full.
func (l *Logger) put(s *shard, line []byte) bool {
	ok, wasEmpty, halfFull := s.put(line)
	if wasEmpty {
		signal(l.wake)
	}
	if halfFull {
		signal(l.urgent)
	}
	return ok
}

// signal leaves a wake-up in ch (capacity 1) unless one is pending.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Dropped returns the number of lines lost so far: rings full, all shards
// busy, or a failed write. It is meant to be exported as a counter.
func (l *Logger) Dropped() uint64 {
	if l == nil {
		return 0
	}
	n := l.lost.Load()
	for _, s := range l.shards {
		n += s.dropped.Load()
	}
	return n
}

// WriteErrors returns the number of failed writes to the destination.
func (l *Logger) WriteErrors() uint64 {
	if l == nil {
		return 0
	}
	return l.writeErrs.Load()
}

// Reopen reopens a file destination under its path, for log rotation
// (after the old file was renamed). Lines already handed to the old file
// stay there; the flusher switches files before its next write. For
// stdout, stderr, off and New writers it does nothing.
func (l *Logger) Reopen() error {
	if l == nil || l.off || !l.isFile {
		return nil
	}
	if l.closed.Load() {
		return ErrClosed
	}
	f, err := openFile(l.path)
	if err != nil {
		return err
	}
	if old := l.pending.Swap(f); old != nil {
		_ = old.Close() // never written to: a Reopen superseded by this one
	}
	if l.closed.Load() {
		// Close raced with us and the flusher may be gone: do not leak f.
		if f := l.pending.Swap(nil); f != nil {
			_ = f.Close()
		}
		return ErrClosed
	}
	signal(l.wake)
	return nil
}

// Close stops accepting lines, writes what is buffered and closes a file
// destination. It waits at most Options.CloseTimeout; if the destination is
// still blocked then, it returns an error and the flusher finishes (and
// closes the file) whenever the write returns. Calls after the first
// return nil.
func (l *Logger) Close() error {
	if l == nil || l.off {
		return nil
	}
	first := false
	l.closeOnce.Do(func() {
		first = true
		l.closed.Store(true)
		close(l.quit)
	})
	if !first {
		return nil
	}
	t := time.NewTimer(l.opts.CloseTimeout)
	defer t.Stop()
	select {
	case <-l.done:
		return l.closeErr
	case <-t.C:
		return fmt.Errorf("cannot flush access log %s: destination still blocked after %v", l.path, l.opts.CloseTimeout)
	}
}

// run is the flusher goroutine: it alone reads the rings and writes. It
// sleeps until a line arrives, writes it at once, and while more keep
// coming writes every FlushInterval: an idle log costs no wake-ups.
func (l *Logger) run() {
	defer close(l.done)
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	defer pause.Stop()
	for {
		select {
		case <-l.quit:
			l.finish()
			return
		case <-l.wake:
		case <-l.urgent:
		}
		l.flushAll()
		for l.linesWaiting() {
			pause.Reset(l.opts.FlushInterval)
			select {
			case <-l.quit:
				l.finish()
				return
			case <-l.urgent:
			case <-pause.C:
			}
			l.flushAll()
		}
	}
}

// finish writes what is left and closes the destination (Close).
func (l *Logger) finish() {
	l.flushAll()
	l.closeErr = l.closeDest()
}

// linesWaiting reports whether a ring holds lines not yet taken. Lines put
// after it reports false find their ring empty and wake the flusher.
func (l *Logger) linesWaiting() bool {
	for _, s := range l.shards {
		if s.head.Load() != s.tail.Load() {
			return true
		}
	}
	return false
}

func (l *Logger) flushAll() {
	l.adoptPending()
	for _, s := range l.shards {
		l.drain(s)
	}
	l.writeBuf()
}

// adoptPending switches to a file that Reopen opened.
func (l *Logger) adoptPending() {
	f := l.pending.Swap(nil)
	if f == nil {
		return
	}
	l.writeBuf() // what was taken before the reopen belongs to the old file
	if l.file != nil {
		if err := l.file.Close(); err != nil {
			l.report(fmt.Errorf("cannot close rotated access log %s: %w", l.path, err))
		}
	}
	l.file, l.w = f, f
}

// drain moves s's lines into fbuf, writing fbuf whenever it fills. It takes
// only what was in the ring when it started, so busy producers cannot keep
// it here forever.
func (l *Logger) drain(s *shard) {
	head := s.head.Load()
	tail := s.tail.Load()
	for tail < head {
		room := cap(l.fbuf) - len(l.fbuf)
		if room == 0 {
			l.writeBuf()
			continue
		}
		n := head - tail
		take := min(n, uint64(room))
		start := len(l.fbuf)
		l.fbuf = l.fbuf[:start+int(take)]
		dst := l.fbuf[start:]
		if c := copy(dst, s.buf[tail&s.mask:]); c < len(dst) {
			copy(dst[c:], s.buf)
		}
		if take < n {
			// More follows: end the chunk on a line boundary, so no line is
			// split across two writes (another writer sharing the fd, such
			// as slog on stderr, could land in between).
			cut := bytes.LastIndexByte(dst, '\n') + 1
			if cut == 0 {
				if start > 0 {
					l.fbuf = l.fbuf[:start]
					l.writeBuf()
					continue
				}
				cut = len(dst) // a single line longer than fbuf: split it
			}
			l.fbuf = l.fbuf[:start+cut]
			take = uint64(cut)
		}
		tail += take
		s.tail.Store(tail)
	}
}

// writeBuf writes fbuf in one call and empties it. A failure is counted
// and not retried: retrying would hold the rings full for longer.
func (l *Logger) writeBuf() {
	if len(l.fbuf) == 0 {
		return
	}
	n, err := l.w.Write(l.fbuf)
	if err == nil && n < len(l.fbuf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		n = min(max(n, 0), len(l.fbuf))
		l.lost.Add(uint64(bytes.Count(l.fbuf[n:], []byte{'\n'})))
		l.writeErrs.Add(1)
		l.report(fmt.Errorf("cannot write access log %s: %w", l.path, err))
	}
	l.fbuf = l.fbuf[:0]
}

func (l *Logger) closeDest() error {
	var err error
	if l.file != nil {
		if cerr := l.file.Close(); cerr != nil {
			err = fmt.Errorf("cannot close access log %s: %w", l.path, cerr)
		}
		l.file = nil
	}
	if f := l.pending.Swap(nil); f != nil { // a Reopen that raced with Close
		_ = f.Close()
	}
	return err
}

func (l *Logger) report(err error) {
	if l.opts.OnError == nil {
		return
	}
	now := time.Now()
	if !l.lastReport.IsZero() && now.Sub(l.lastReport) < errorReportEvery {
		return
	}
	l.lastReport = now
	l.opts.OnError(err)
}
