package tls

import (
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ticketRing holds the session ticket keys shared by every Server built
// from the same lineage (NewServer(cfg, prev) passes the ring on), and so
// by every loop: a ticket issued on one loop, or before a reload, resumes on
// any other.
//
// Rotation is lazy: every ClientHello first checks an atomic deadline and
// the first one past it makes a new key. No goroutine means nothing to
// start, stop or leak, and Servers dropped by a reload need no cleanup.
// Because the check runs before any ticket is decrypted or issued, an idle
// period cannot extend a key's life: on the first handshake afterwards
// every key older than rotation*keep is dropped.
type ticketRing struct {
	rotation time.Duration
	keep     int

	next atomic.Int64  // unix nanos of the next rotation
	gen  atomic.Uint64 // bumped on every change of keys

	mu      sync.Mutex
	keys    [][32]byte // newest first; the newest encrypts, all decrypt
	created []time.Time
}

func newTicketRing(rotation time.Duration, keep int) *ticketRing {
	return &ticketRing{rotation: rotation, keep: keep}
}

// maybeRotate adds a new key when the rotation time has passed. Fast path:
// one atomic load.
func (r *ticketRing) maybeRotate(now time.Time) error {
	if now.UnixNano() < r.next.Load() {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.UnixNano() < r.next.Load() {
		return nil
	}
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return fmt.Errorf("cannot make session ticket key: %w", err)
	}
	keys := make([][32]byte, 0, r.keep)
	created := make([]time.Time, 0, r.keep)
	keys = append(keys, k)
	created = append(created, now)
	maxAge := r.rotation * time.Duration(r.keep)
	for i := range r.keys {
		if len(keys) == r.keep || now.Sub(r.created[i]) >= maxAge {
			break
		}
		keys = append(keys, r.keys[i])
		created = append(created, r.created[i])
	}
	r.keys, r.created = keys, created
	r.next.Store(now.Add(r.rotation).UnixNano())
	r.gen.Add(1)
	return nil
}

// snapshot returns the current keys and their generation.
func (r *ticketRing) snapshot() ([][32]byte, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][32]byte(nil), r.keys...), r.gen.Load()
}

// syncTicketKeys rotates if due and installs the ring's keys into this
// Server's tls.Config when they changed. Fast path: two atomic loads.
func (s *Server) syncTicketKeys(now time.Time) error {
	if err := s.tickets.maybeRotate(now); err != nil {
		return err
	}
	if s.tickets.gen.Load() == s.appliedGen.Load() {
		return nil
	}
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	keys, gen := s.tickets.snapshot()
	if gen == s.appliedGen.Load() || len(keys) == 0 {
		return nil
	}
	s.cfg.SetSessionTicketKeys(keys)
	s.appliedGen.Store(gen)
	return nil
}
