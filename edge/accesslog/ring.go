package accesslog

import (
	"sync"
	"sync/atomic"
)

// shard is one single-producer/single-consumer byte ring. The producer side
// is whoever holds mu (Log); the consumer side is the flusher goroutine only.
// They share nothing but head and tail: bytes in [tail, head) belong to the
// flusher, the rest of buf to the producer, and each side publishes its move
// with an atomic store that the other side loads before touching the bytes.
type shard struct {
	// Guarded by mu (producer side):
	mu      sync.Mutex
	scratch []byte // a line is encoded here, then copied into buf whole

	// Immutable after newShard:
	buf  []byte // len is a power of two
	mask uint64

	head    atomic.Uint64 // bytes ever written; stored by the producer
	tail    atomic.Uint64 // bytes ever consumed; stored by the flusher
	dropped atomic.Uint64 // lines that did not fit

	_ [64]byte // keep hot counters of neighbouring shards off this cache line
}

func newShard(size int) *shard {
	return &shard{
		scratch: make([]byte, 0, 1024),
		buf:     make([]byte, size),
		mask:    uint64(size - 1),
	}
}

// put copies line into the ring whole, or not at all. It reports whether
// the line went in, whether the ring was empty before (the flusher may be
// asleep) and whether it just crossed half full (the flusher should not
// wait). Only the mu holder may call it.
func (s *shard) put(line []byte) (ok, wasEmpty, halfFull bool) {
	head := s.head.Load()
	tail := s.tail.Load()
	size := uint64(len(s.buf))
	used := head - tail
	n := uint64(len(line))
	if n > size-used {
		return false, false, true
	}
	off := head & s.mask
	if c := copy(s.buf[off:], line); c < len(line) {
		copy(s.buf, line[c:])
	}
	s.head.Store(head + n)
	half := size / 2
	// The flusher may have drained the lines we saw (tail moved since we
	// loaded it) and found the ring empty before our head store: it is
	// asleep, or about to be, and must be woken as for an empty ring.
	// The atomics are sequentially consistent, so if its look at head
	// missed our store, this second look at tail sees its drain.
	wasEmpty = used == 0 || s.tail.Load() != tail
	return true, wasEmpty, used < half && used+n >= half
}
