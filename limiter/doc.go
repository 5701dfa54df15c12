// Package limiter owns Portico's local rate limits: per-key token buckets in
// sharded, fixed-size, lock-free tables, one Limiter per configured limit.
// It is a leaf: it knows nothing of requests, routes or keys' meaning; the
// caller (edge) extracts the key bytes, calls Allow, and turns the Decision
// into a 429 or RateLimit-* headers.
//
// # Algorithm
//
// Each bucket is a GCRA (generic cell rate algorithm) bucket, which is an
// exact token bucket stored as one int64: the theoretical arrival time TAT,
// in unix nanoseconds. With interval = Period/Rate (rounded to whole
// nanoseconds, accepted only within 0.1%) and tau = Burst × interval, a
// request at now is admitted when max(TAT, now) + interval − now <= tau, and
// then TAT becomes max(TAT, now) + interval. The bucket is full when
// TAT <= now; it holds (tau − (TAT − now)) / interval tokens. Over any span t
// a key is admitted at most Burst + Rate × t / Period times, and a caller
// hammering it gets exactly that (within one token). N/h and N/d limits are
// the same buckets with a longer interval: 1000/d refills one token every
// 86.4 s, it is not a counter reset at midnight.
//
// Taking a token is one compare-and-swap loop on the bucket's int64: no
// locks. A denial writes nothing. The caller passes now, which may come from
// a coarse clock (a per-loop or millisecond-ticked clock); callers on
// different goroutines may pass slightly different values, and a request
// whose now lags the bucket is judged against the bucket's later TAT, so a
// lagging clock never admits more.
//
// Decision values follow draft-ietf-httpapi-ratelimit-headers: Limit is the
// burst, Remaining the whole tokens left, ResetSeconds the time until the
// bucket is full again; RetryAfterSeconds (denials only) is the exact wait
// until the next admission rounded up to whole seconds, so a caller that
// waits that long is admitted and one that waits a second less is not.
//
// # Tables and memory
//
// Keys are hashed with xxhash64 (Hash); the hash is then mixed with a random
// per-limiter seed that picks the shard (top bits) and the home slot (low
// bits), so clients cannot aim keys at one probe window. A limiter has up to
// 64 shards; each owns a power-of-two array of 16-byte slots {key hash,
// TAT} of plain integers, so the garbage collector never scans the tables.
// All slots are allocated by New: memory is 16 B × MaxKeys (rounded up to a
// power of two) plus 256 B per shard, 1 MiB for the default 65,536 keys, and
// it never grows. Shard headers (mutex, overflow bucket, counters) are padded
// to 128 bytes and kept apart from the read-only table parameters, so writes
// on one shard do not slow reads elsewhere. Four slots share a cache line;
// two different hot keys in one line contend a little, which costs far less
// than 64-byte slots would cost in memory.
//
// A key lives in one of the 16 slots following its home slot. Two keys with
// the same 64-bit hash share a bucket: the chance for two given keys is
// 2^-64, and the sharing is conservative (both are limited together, neither
// gets more). Sharing a victim's bucket on purpose needs a key value whose
// xxhash64 equals that of the victim's value, so the attacker must know the
// victim's value; for ip, consumer and tenant keys callers do not choose their
// own value, and for header keys knowing the value is enough to send it.
//
// # Concurrency
//
// Allow on a key that has a bucket is lock-free: atomic loads along the
// probe window, then the CAS loop. A key without a bucket takes its shard's
// mutex for one scan of its 16-slot window to insert itself. The ordering
// argument is in take: a slot's TAT only grows, and reassignment locks the
// TAT before it changes the key, so a CAS can never charge one key's request
// to another key's bucket.
//
// # Eviction
//
// Slots are never emptied. A new key takes, in order of preference: an
// empty slot in its window; else the window's slot whose bucket has been
// full for the longest, if it has been full for at least IdleGrace (default
// max(interval, 1 s)). A full bucket is exactly equivalent to no bucket, so
// reclaiming it loses nothing: eviction never resets a bucket that is still
// limiting its caller. The grace keeps a steady caller's slot (any caller
// whose calls are less than interval + IdleGrace apart) from being taken by
// a flood of new keys between its calls. Idleness is judged by the inserting
// caller's clock, so callers' clocks must agree within IdleGrace (a
// millisecond-ticked clock is far inside the 1 s minimum default); with a
// negative IdleGrace a caller whose clock lags could find its bucket
// reclaimed a little early.
//
// When every slot of the window holds a bucket that is not reclaimable, the
// key is decided by its shard's overflow bucket, which has the limit's own
// rate and burst and is shared by all such keys of the shard (Decision.Shared
// reports it). So a flood of unique keys (random source addresses or header
// values) neither grows memory nor stalls: it fills the table, then shares
// at most 64 overflow buckets, i.e. it is admitted at most 64 × (Burst + Rate
// × t / Period) in total across all its keys, while callers that already
// hold a bucket keep it and are unaffected. A legitimate new key that
// arrives while the table is full of live buckets shares the overflow too;
// raise MaxKeys for limits that must track more concurrent callers.
//
// # No value for the key
//
// A request with no value for the limit's key (no such header, anonymous
// caller) should be passed with an empty key, or to AllowNoKey: they all use
// the one bucket NoKeyHash, shared by every such request of that limit.
//
// # Restarts, reloads, several nodes
//
// Buckets live in process memory only. A restart starts every bucket full:
// a caller can use up to Burst again right after a restart, so across a
// restart an N/h or N/d limit guarantees only that within the lifetime of
// one process; over a window that spans k restarts a key may get up to
// (k+1) × Burst more than the rate allows. A reload keeps a Limiter (and its
// buckets) when SameDefinition reports its definition unchanged. Each node
// limits on its own; limits that must hold across restarts and across nodes
// need the planned Redis backend, which will keep the same GCRA state (one
// integer per key) in Redis.
package limiter
