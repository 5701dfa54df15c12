package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// logWriter puts the process log (slog's JSON lines on stderr) behind a
// bounded buffer drained by one goroutine, so that a log reader that stops
// reading (a stalled journald or container log driver, an unread pipe)
// never blocks the caller: before it, a full stderr pipe stopped drains on
// SIGTERM, hung POST /reload and held a failed upstream connect until the
// route timeout. Lines that do not fit are dropped, counted, and reported
// in one line once the reader catches up. The access log has its own
// non-blocking writer (edge/accesslog).
type logWriter struct {
	w    io.Writer
	max  int // buffered bytes beyond which lines are dropped
	mu   sync.Mutex
	buf  []byte // lines waiting for the goroutine
	drop uint64 // lines dropped since the last report
	wake chan struct{}
	done chan struct{} // closed when the goroutine has flushed what it held and stopped
	stop bool
}

func newLogWriter(w io.Writer, maxBytes int) *logWriter {
	l := &logWriter{w: w, max: maxBytes, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go l.run()
	return l
}

// Write takes one log line (slog writes a record in one call) or drops it.
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	if l.stop || len(l.buf)+len(p) > l.max {
		l.drop++
	} else {
		l.buf = append(l.buf, p...)
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (l *logWriter) run() {
	defer close(l.done)
	var out []byte
	for {
		l.mu.Lock()
		out, l.buf = l.buf, out[:0]
		dropped := l.drop
		l.drop = 0
		stop := l.stop
		l.mu.Unlock()
		if dropped > 0 {
			out = fmt.Appendf(out, "{\"time\":%q,\"level\":\"WARN\",\"msg\":\"log lines dropped: the log reader is not keeping up\",\"dropped\":%d}\n",
				time.Now().Format(time.RFC3339Nano), dropped)
		}
		if len(out) > 0 {
			_, _ = l.w.Write(out) // nowhere to report a failed write of the log itself
			continue
		}
		if stop {
			return
		}
		<-l.wake
	}
}

// Close flushes what is buffered, waiting at most wait for a slow reader:
// the process exits either way.
func (l *logWriter) Close(wait time.Duration) {
	l.mu.Lock()
	l.stop = true
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-l.done:
	case <-t.C:
	}
}
