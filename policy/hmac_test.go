package policy

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"strings"
	"sync"
	"testing"
)

// TestHMACVerifier checks hmacVerifier against crypto/hmac for every HS*
// hash, keys shorter than, equal to and longer than a block, and message
// lengths around block boundaries, twice each (a pooled state must start
// over); then from several goroutines (for -race).
func TestHMACVerifier(t *testing.T) {
	news := map[string]func() hash.Hash{"HS256": sha256.New, "HS384": sha512.New384, "HS512": sha512.New}
	msg := []byte(strings.Repeat("eyJhbGciOiJIUzI1NiJ9.payload-", 20))
	for _, keyLen := range []int{64, 128, 200} {
		key := []byte(strings.Repeat("k3y!", keyLen/4+1)[:keyLen])
		v := newHMACVerifier(key)
		for alg, nf := range news {
			a := lookupAlg(alg)
			for _, n := range []int{0, 1, 55, 56, 63, 64, 65, 111, 112, 127, 128, 129, 261, len(msg)} {
				in := msg[:n]
				m := hmac.New(nf, key)
				m.Write(in)
				want := m.Sum(nil)
				bad := append([]byte(nil), want...)
				bad[len(bad)-1] ^= 1
				for range 2 {
					if !v.verify(a, in, want) {
						t.Fatalf("%s key %d msg %d: valid MAC refused", alg, keyLen, n)
					}
					if v.verify(a, in, bad) || v.verify(a, in, want[:len(want)-1]) || v.verify(a, in, nil) {
						t.Fatalf("%s key %d msg %d: bad MAC accepted", alg, keyLen, n)
					}
				}
			}
		}
	}

	// Concurrent checks: each takes its own pooled state.
	key := []byte(strings.Repeat("s", 64))
	v := newHMACVerifier(key)
	a := lookupAlg("HS256")
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				in := msg[:(g*37+i)%len(msg)]
				m := hmac.New(sha256.New, key)
				m.Write(in)
				if !v.verify(a, in, m.Sum(nil)) {
					t.Error("valid MAC refused under concurrency")
					return
				}
			}
		}(g)
	}
	wg.Wait()
}
