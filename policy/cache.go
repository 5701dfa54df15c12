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
type cacheEntry struct {
	token    string // full copy: a hit needs byte equality, not just a hash match
	id       Identity
	deadline int64  // Unix seconds: exp + leeway, the instant fresh verification would refuse
	gen      uint64 // key-set generation the entry was verified under
	fp       uint64 // fingerprint of the verifying key; 0 = the HMAC secret
	size     int
	scopes   [4]string // backs id.Scopes for up to 4 scopes, saving an allocation
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
	maxEntries int // per shard
	maxBytes   int // per shard
}

func newTokenCache(entries, bytes int) *tokenCache {
	c := &tokenCache{
		maxEntries: max(1, entries/cacheShards),
		maxBytes:   max(16<<10, bytes/cacheShards),
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

func entrySize(e *cacheEntry) int {
	n := int(unsafe.Sizeof(*e)) + 64 /* map slot */ + len(e.token) + len(e.id.Consumer) + len(e.id.Tenant) + len(e.id.ScopesHeader)
	return n + len(e.id.Scopes)*int(unsafe.Sizeof(""))
}

// put inserts e, evicting expired entries first and then arbitrary ones
// (Go's randomised map iteration makes that random eviction) until the
// shard is within its bounds.
func (c *tokenCache) put(h uint64, e *cacheEntry, now int64) {
	e.size = entrySize(e)
	if e.size > c.maxBytes {
		return
	}
	s := c.shard(h)
	s.mu.Lock()
	if old := s.m[h]; old != nil {
		s.bytes -= old.size
		delete(s.m, h)
	}
	// Opportunistic sweep: a few random entries every few inserts, so
	// dead entries do not wait for memory pressure. (Starting a map
	// iteration costs about as much as the insert, hence the pacing; the
	// sweep still looks at more entries than are inserted.)
	if s.puts++; s.puts%4 == 0 {
		n := 0
		for k, v := range s.m {
			if v.deadline <= now {
				s.bytes -= v.size
				delete(s.m, k)
			}
			if n++; n >= 8 {
				break
			}
		}
	}
	for len(s.m) > 0 && (len(s.m) >= c.maxEntries || s.bytes+e.size > c.maxBytes) {
		for k, v := range s.m {
			s.bytes -= v.size
			delete(s.m, k)
			break
		}
	}
	s.m[h] = e
	s.bytes += e.size
	s.mu.Unlock()
}

func (c *tokenCache) remove(h uint64, e *cacheEntry) {
	s := c.shard(h)
	s.mu.Lock()
	if s.m[h] == e {
		s.bytes -= e.size
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
