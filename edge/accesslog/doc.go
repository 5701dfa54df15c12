// Package accesslog owns Portico's access log (SPEC.md §6): one JSON object
// per request, written by a background goroutine so that event loops never
// wait on the destination.
//
// A line looks like this (one line, fields always in this order):
//
//	{"time":"2025-01-02T03:04:05.123456789Z","request_id":"…","remote_addr":"…",
//	 "method":"GET","host":"…","path":"…","proto":"HTTP/1.1","status":200,
//	 "bytes_in":0,"bytes_out":512,"duration_ms":1.234,"route":"…","upstream":"…",
//	 "target":"…","consumer":"…","error_code":""}
//
// # Hot path
//
// The caller fills an Entry (slices may point into loop-owned buffers; they
// are read only during the call) and calls (*Logger).Log. Log encodes the
// line by hand, without reflection or encoding/json and without allocating,
// into one of several shards, then returns. Nothing on this path does I/O.
//
// # Design: shards of SPSC byte rings
//
// Each shard is a byte ring written by whoever holds the shard's mutex and
// read by the single flusher goroutine, so producer and consumer meet only
// through two atomic counters (head, tail) and never through a lock; the
// flusher writes to the destination while producers keep appending. The
// mutex only keeps two producers off the same shard. Log tries the shards
// in order and takes the first one whose TryLock succeeds; by default
// there are 2×GOMAXPROCS shards (at least 4), so a free one is nearly
// always found at once, and the critical section is just the encoding and
// a memcpy. A ring without room for the line (the destination is slow or
// stalled) passes it on to the next free shard. If every shard is busy or
// full, the line is dropped and counted: Log never waits.
//
// This was preferred to a per-producer SPSC ring handed out by a
// NewProducer call because it needs no registration or loop identity from
// the caller and costs one uncontended CAS more; and to an MPSC queue of
// fixed-size slots because lines vary from ~250 bytes to tens of KiB.
//
// Lines from one shard keep their order; lines from different shards (loops
// logging at the same moment) may come out of time order, which is why
// every line carries its own time.
//
// The flusher is an ordinary goroutine: event loops that spin without ever
// yielding (no syscalls, all Ps busy) leave it CPU only at preemption
// points, so under full CPU saturation lines are dropped, by design, rather
// than slowing the loops.
//
// # Destination
//
// The flusher copies whole lines into a write buffer and issues one Write per
// buffer. It sleeps while the rings are empty; the first line after that
// wakes it and is written at once, and while lines keep coming it writes
// every FlushInterval (10 ms), sooner when a ring is half full. Producers
// try the shards in order, so lines from loops that are not contending
// keep the order they were logged in. A failed
// write is counted (WriteErrors) and its lines added to Dropped; it is not
// retried, so a broken destination cannot grow memory. Reopen reopens a file
// destination for log rotation; Close flushes what is buffered within
// CloseTimeout.
package accesslog
