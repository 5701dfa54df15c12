package policy

import (
	"sync"
	"unsafe"
)

// Verified-token cache bounds. Each shard holds at most
// entries/cacheShards entries and bytes/cacheShards bytes (token copy,
// identity strings and a fixed overhead per entry, see entrySize).
const (
	cacheShards         = 64
	DefaultCacheEntries = 65536    // per JWT auth method
	DefaultCacheBytes   = 64 << 20 // per JWT auth method; a 1 KiB token costs about 1.5 KiB
)

// cacheEntry is immutable once published.
//
// Its deadline, the instant fresh verification would refuse the token, is
// id.Expiry plus the cache's leeway: not stored, so that the fixed part
// of every entry stays at 128 bytes (each byte of an entry is paid for
// on every cache miss, in allocation and GC work).
type cacheEntry struct {
	token string // full copy: a hit needs byte equality, not just a hash match
	id    Identity
	fp    uint64 // fingerprint of the verifying key; 0 = the HMAC secret
	gen   uint32 // key-set generation the entry was verified under, low 32 bits (see keyStillThere)
	alloc uint32 // bytes allocated for the entry, its strings and a scope list it owns
}

type cacheShard struct {
	mu    sync.RWMutex
	m     map[uint64]*cacheEntry
	bytes int
	puts  uint32   // inserts, to pace the sweep
	_     [64]byte // keep neighbouring shards' locks off one cache line
}

// tokenCache maps xxhash64(token) to the verified entry. The hash only
// picks the slot: a hit also compares the full token, so a colliding
// token (xxhash is not collision-resistant) finds a miss and is verified
// like any other, never admitted as the cached identity.
type tokenCache struct {
	shards     [cacheShards]cacheShard
	maxEntries int   // per shard
	maxBytes   int   // per shard
	leeway     int64 // seconds an entry outlives its exp (the JWT's leeway)
}

func newTokenCache(entries, bytes int, leeway int64) *tokenCache {
	c := &tokenCache{
		maxEntries: max(1, entries/cacheShards),
		maxBytes:   max(16<<10, bytes/cacheShards),
		leeway:     leeway,
	}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*cacheEntry)
	}
	return c
}

func (c *tokenCache) shard(h uint64) *cacheShard { return &c.shards[(h>>58)%cacheShards] }

// get returns the entry for tok, or nil. It does not allocate.
func (c *tokenCache) get(h uint64, tok []byte) *cacheEntry {
	s := c.shard(h)
	s.mu.RLock()
	e := s.m[h]
	s.mu.RUnlock()
	if e == nil || e.token != string(tok) {
		return nil
	}
	return e
}

// entrySize is what an entry costs the cache: its allocations and a map
// slot. A scope set shared through the JWT's scope memo is not counted:
// the memo holds at most scopeMemoSlots of them.
func entrySize(e *cacheEntry) int { return int(e.alloc) + 64 /* map slot */ }

// entryHdr is the size of a cacheEntry, the fixed part of an entryBlock.
const entryHdr = unsafe.Sizeof(cacheEntry{})

// entryBlock is a cache entry and the bytes its strings view (the token
// copy and the identity strings), allocated together: one allocation per
// cache miss instead of two. The string fields point into buf, inside
// the same object, so any of them (or the *Identity handed out) keeps
// the whole block alive, and buf is never written once they exist.
type entryBlock[B any] struct {
	e   cacheEntry
	buf B
}

func newBlock[B any](n int) (*cacheEntry, []byte) {
	p := new(entryBlock[B])
	p.e.alloc = uint32(unsafe.Sizeof(*p))
	if p.e.alloc > 512 {
		p.e.alloc += mallocHdr
	}
	return &p.e, unsafe.Slice((*byte)(unsafe.Pointer(&p.buf)), unsafe.Sizeof(p.buf))[:n]
}

// mallocHdr is the type header Go's allocator puts before objects with
// pointers larger than 512 bytes.
const mallocHdr = 8

// allocEntry returns a zero entry and n bytes for its strings. Block
// sizes fill Go allocator size classes, so the rounding wastes no more
// than the allocator would; n beyond the largest block takes a second
// allocation.
func allocEntry(n int) (*cacheEntry, []byte) {
	switch {
	case n <= 256-int(entryHdr):
		return newBlock[[256 - entryHdr]byte](n)
	case n <= 320-int(entryHdr):
		return newBlock[[320 - entryHdr]byte](n)
	case n <= 384-int(entryHdr):
		return newBlock[[384 - entryHdr]byte](n)
	case n <= 448-int(entryHdr):
		return newBlock[[448 - entryHdr]byte](n)
	case n <= 480-int(entryHdr):
		return newBlock[[480 - entryHdr]byte](n)
	case n <= 512-int(entryHdr):
		return newBlock[[512 - entryHdr]byte](n)
	case n <= 576-mallocHdr-int(entryHdr):
		return newBlock[[576 - mallocHdr - entryHdr]byte](n)
	case n <= 640-mallocHdr-int(entryHdr):
		return newBlock[[640 - mallocHdr - entryHdr]byte](n)
	case n <= 704-mallocHdr-int(entryHdr):
		return newBlock[[704 - mallocHdr - entryHdr]byte](n)
	case n <= 768-mallocHdr-int(entryHdr):
		return newBlock[[768 - mallocHdr - entryHdr]byte](n)
	case n <= 896-mallocHdr-int(entryHdr):
		return newBlock[[896 - mallocHdr - entryHdr]byte](n)
	case n <= 1024-mallocHdr-int(entryHdr):
		return newBlock[[1024 - mallocHdr - entryHdr]byte](n)
	case n <= 1152-mallocHdr-int(entryHdr):
		return newBlock[[1152 - mallocHdr - entryHdr]byte](n)
	case n <= 1280-mallocHdr-int(entryHdr):
		return newBlock[[1280 - mallocHdr - entryHdr]byte](n)
	case n <= 1536-mallocHdr-int(entryHdr):
		return newBlock[[1536 - mallocHdr - entryHdr]byte](n)
	case n <= 1792-mallocHdr-int(entryHdr):
		return newBlock[[1792 - mallocHdr - entryHdr]byte](n)
	case n <= 2048-mallocHdr-int(entryHdr):
		return newBlock[[2048 - mallocHdr - entryHdr]byte](n)
	}
	e := &cacheEntry{}
	e.alloc = uint32(int(entryHdr) + n) // n <= MaxTokenBytes plus claims from it
	return e, make([]byte, n)
}

// bytesString views b as a string without copying; b must never be
// written again. An empty b gives "" (no pointer past b's end).
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// put inserts e, evicting expired entries first and then arbitrary ones
// (Go's randomised map iteration makes that random eviction) until the
// shard is within its bounds.
func (c *tokenCache) put(h uint64, e *cacheEntry, now int64) {
	size := entrySize(e)
	if size > c.maxBytes {
		return
	}
	s := c.shard(h)
	s.mu.Lock()
	if old := s.m[h]; old != nil {
		// A replacement (the slot's token was refused or collided): the
		// count does not grow, and overwriting costs less than a delete
		// and an insert.
		s.m[h] = e
		s.bytes += size - entrySize(old)
		if s.bytes > c.maxBytes {
			for k, v := range s.m {
				if k != h {
					s.bytes -= entrySize(v)
					delete(s.m, k)
				}
				if s.bytes <= c.maxBytes {
					break
				}
			}
		}
		s.mu.Unlock()
		return
	}
	// Opportunistic sweep: a few random entries every few inserts, so
	// dead entries do not wait for memory pressure. (Starting a map
	// iteration costs about as much as the insert, hence the pacing; the
	// sweep still looks at more entries than are inserted.)
	if s.puts++; s.puts%4 == 0 {
		n := 0
		for k, v := range s.m {
			if v.id.Expiry+c.leeway <= now {
				s.bytes -= entrySize(v)
				delete(s.m, k)
			}
			if n++; n >= 8 {
				break
			}
		}
	}
	for len(s.m) > 0 && (len(s.m) >= c.maxEntries || s.bytes+size > c.maxBytes) {
		for k, v := range s.m {
			s.bytes -= entrySize(v)
			delete(s.m, k)
			break
		}
	}
	s.m[h] = e
	s.bytes += size
	s.mu.Unlock()
}

func (c *tokenCache) remove(h uint64, e *cacheEntry) {
	s := c.shard(h)
	s.mu.Lock()
	if s.m[h] == e {
		s.bytes -= entrySize(e)
		delete(s.m, h)
	}
	s.mu.Unlock()
}

// len counts the entries (tests and stats).
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
