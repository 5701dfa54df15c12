package policy

import (
	"strings"
	"testing"
	"unsafe"
)

// checkShardBytes verifies the invariant put and remove keep: a shard's
// byte count is the sum of its entries' sizes, within the bound.
func checkShardBytes(t *testing.T, c *tokenCache) {
	t.Helper()
	for i := range c.shards {
		s := &c.shards[i]
		sum := 0
		for _, e := range s.m {
			sum += entrySize(e)
		}
		if sum != s.bytes {
			t.Fatalf("shard %d: bytes %d, entries sum to %d", i, s.bytes, sum)
		}
		if s.bytes > c.maxBytes || len(s.m) > c.maxEntries {
			t.Fatalf("shard %d: %d entries, %d bytes over bounds %d, %d", i, len(s.m), s.bytes, c.maxEntries, c.maxBytes)
		}
	}
}

func testEntry(tokLen int, deadline int64) *cacheEntry {
	e, buf := allocEntry(tokLen)
	for i := range buf {
		buf[i] = 'a' + byte(i%26)
	}
	e.token = bytesString(buf)
	e.id.Expiry = deadline // the cache's leeway is 0 here
	return e
}

func TestCachePutAccounting(t *testing.T) {
	const now = 1000
	for _, tc := range []struct {
		name    string
		entries int
		bytes   int
		lens    []int // token lengths, inserted in turn
		hashes  []uint64
	}{
		{"new keys", 1 << 10, 1 << 20, []int{10, 300, 2000, 5000, 40}, []uint64{1, 2, 3, 4, 5}},
		{"replacements", 1 << 10, 1 << 20, []int{10, 300, 2000, 300, 10}, []uint64{7, 7, 7, 8, 7}},
		{"entry bound", cacheShards * 2, 1 << 30, []int{100, 100, 100, 100, 100}, []uint64{1, 2, 3, 4, 1}},
		{"byte bound with replacement", 1 << 20, cacheShards * (16 << 10), []int{6000, 6000, 9000, 12000, 3000}, []uint64{1, 2, 3, 1, 2}},
		{"expired swept", 1 << 10, 1 << 20, []int{1, 2, 3, 4, 5, 6, 7, 8}, []uint64{1, 2, 3, 4, 5, 6, 7, 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTokenCache(tc.entries, tc.bytes, 0)
			for i, n := range tc.lens {
				deadline := int64(now + 10)
				if tc.name == "expired swept" && i < 4 {
					deadline = now
				}
				e := testEntry(n, deadline)
				c.put(tc.hashes[i], e, now)
				if got := c.shard(tc.hashes[i]).m[tc.hashes[i]]; got != e {
					t.Fatalf("put %d: entry not in its slot", i)
				}
				checkShardBytes(t, c)
			}
			if tc.name == "expired swept" {
				if n := c.len(); n != 4 {
					t.Fatalf("%d entries after the sweeps, want the 4 live ones", n)
				}
			}
			if e := c.shard(tc.hashes[0]).m[tc.hashes[0]]; e != nil {
				c.remove(tc.hashes[0], e)
				checkShardBytes(t, c)
			}
		})
	}
}

// TestAllocEntry: the bytes handed out are exactly n, inside the block
// (or a separate slice past the largest block), and the charged size
// covers what was allocated.
func TestAllocEntry(t *testing.T) {
	// Every byte of the fixed part is paid on each cache miss: a new field
	// should be a deliberate choice.
	if unsafe.Sizeof(uintptr(0)) == 8 && entryHdr != 128 {
		t.Errorf("cacheEntry is %d bytes, want 128", entryHdr)
	}
	var ns []int
	for n := 0; n <= 2100; n++ { // every block and each boundary
		ns = append(ns, n)
	}
	for _, n := range append(ns, 4000, MaxTokenBytes+512) {
		e, buf := allocEntry(n)
		if len(buf) != n {
			t.Fatalf("n=%d: len %d", n, len(buf))
		}
		if int(e.alloc) < int(entryHdr)+n {
			t.Fatalf("n=%d: alloc %d below entry+bytes %d", n, e.alloc, int(entryHdr)+n)
		}
		if int(e.alloc) > 2*(int(entryHdr)+n)+64 {
			t.Fatalf("n=%d: alloc %d wastes too much", n, e.alloc)
		}
		if n > 0 && n <= 1000 {
			// Inside the block: right after the entry.
			if d := uintptr(unsafe.Pointer(&buf[0])) - uintptr(unsafe.Pointer(e)); d != entryHdr {
				t.Fatalf("n=%d: bytes at offset %d, want %d", n, d, entryHdr)
			}
		}
	}
	if bytesString(nil) != "" || bytesString([]byte{}) != "" {
		t.Fatal("empty bytesString")
	}
}

// TestEntryStrings: the identity strings view the right bytes of the
// block (or the shared scope set), and a long scope list is complete.
func TestEntryStrings(t *testing.T) {
	k := keys(t)
	j, _ := fileVerifier(t, allKeysJWKS(k), nil)
	many := []string{"a", "b", "c", "d", "e", "f"}
	for _, tc := range []struct {
		name   string
		claims map[string]any
		scopes string
	}{
		{"string scopes", stdClaims(), "orders:read orders:write"},
		{"spaces normalised", with(stdClaims(), "scope", "  x  y "), "x y"},
		{"array scopes", with(stdClaims(), "scope", many), strings.Join(many, " ")},
		{"no scopes", with(stdClaims(), "scope", nil), ""},
		{"only spaces", with(stdClaims(), "scope", "   "), ""},
		{"one scope", with(stdClaims(), "scope", "x"), "x"},
		{"array with empty items", with(stdClaims(), "scope", []string{"", "a", "", "b"}), "a b"},
		{"long token", with(stdClaims(), "pad", strings.Repeat("p", 3000)), "orders:read orders:write"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := sign(t, "HS256", k.hmac, nil, tc.claims)
			id, r := j.Verify([]byte(tok))
			if r != ReasonOK {
				t.Fatal(r)
			}
			if tc.scopes == "" && id.Scopes != nil {
				t.Fatalf("scopes %q for an empty claim", id.Scopes)
			}
			if id.Consumer != "alice" || id.Tenant != "acme" || id.ScopesHeader != tc.scopes || strings.Join(id.Scopes, " ") != tc.scopes {
				t.Fatalf("identity %+v", id)
			}
			e := j.cache.get(hashOf([]byte(tok)), []byte(tok))
			if e == nil || e.token != tok || &e.id != id {
				t.Fatal("entry not cached with its token")
			}
		})
	}
}

// TestClaimRoles: names up to 8 bytes are matched packed, longer ones
// as strings; lengths tell apart names that pack alike.
func TestClaimRoles(t *testing.T) {
	var r claimRoles
	r.add("exp", cExp)
	r.add("iss", cIss)
	r.add("iss", cConsumer)
	r.add("tenant_identifier", cTenant)
	r.add("scope", cScope)
	big := make([]byte, 64)
	for _, tc := range []struct {
		k    []byte
		want uint8
	}{
		{[]byte("exp"), cExp},
		{append(big[:0:3], "exp"...), cExp}, // capacity below 8: no wide load
		{append(big[:0], "exp"...), cExp},   // wide load with bytes past the key
		{[]byte("iss"), cIss | cConsumer},
		{[]byte("ex"), 0},
		{[]byte("exp\x00"), 0},
		{[]byte("expx"), 0},
		{[]byte(""), 0},
		{[]byte("scope"), cScope},
		{[]byte("scopes"), 0},
		{[]byte("tenant_identifier"), cTenant},
		{[]byte("tenant_identifiex"), 0},
	} {
		copy(big[len(tc.k):], "zzzzzzzz")
		if got := r.of(tc.k); got != tc.want {
			t.Errorf("of(%q) = %b, want %b", tc.k, got, tc.want)
		}
		if got := r.scan(tc.k); got != tc.want {
			t.Errorf("scan(%q) = %b, want %b", tc.k, got, tc.want)
		}
	}
	if !r.perfect {
		t.Error("no slot table for four short names")
	}
}

// TestClaimRolesNoSlotTable: names that hash alike whatever the
// multiplier ("a" and "b\x00": w^n is the same) leave the slot table
// unused, and lookups still answer right by scanning.
func TestClaimRolesNoSlotTable(t *testing.T) {
	var r claimRoles
	r.add("a", cExp)
	r.add("b\x00", cIss)
	r.add("scope", cScope)
	if r.perfect {
		t.Fatal("slot table built for colliding names")
	}
	buf := make([]byte, 16)
	for _, tc := range []struct {
		k    string
		want uint8
	}{{"a", cExp}, {"b\x00", cIss}, {"b", 0}, {"scope", cScope}, {"x", 0}} {
		k := append(buf[:0], tc.k...)
		if got := r.of(k); got != tc.want {
			t.Errorf("of(%q) = %b, want %b", tc.k, got, tc.want)
		}
	}
}

// TestClaimRolesSlots: every set of role names a config can produce
// (standard names plus assorted consumer, tenant and scope claims) gets
// a slot table, and each name is found in it.
func TestClaimRolesSlots(t *testing.T) {
	names := []string{"sub", "client_id", "azp", "email", "uid", "oid", "iss", "aud", "exp", "tid", "tenant", "org", "scope", "scp", "roles", "perms", "x", "yy"}
	for _, consumer := range names {
		for _, scope := range names[12:] {
			var r claimRoles
			r.add("exp", cExp)
			r.add("nbf", cNbf)
			r.add("iss", cIss)
			r.add("aud", cAud)
			r.add(consumer, cConsumer)
			r.add("tenant", cTenant)
			r.add(scope, cScope)
			if !r.perfect {
				t.Fatalf("consumer %q scope %q: no slot table", consumer, scope)
			}
			for _, n := range []string{"exp", "nbf", "iss", "aud", consumer, "tenant", scope} {
				if r.of(append(make([]byte, 0, 16), n...)) != r.scan([]byte(n)) || r.scan([]byte(n)) == 0 {
					t.Fatalf("%q not found", n)
				}
			}
		}
	}
}

// TestScopeClaimRefused: a scope that cannot go into a header, or an
// array item holding a space, refuses the token.
func TestScopeClaimRefused(t *testing.T) {
	k := keys(t)
	j, _ := fileVerifier(t, allKeysJWKS(k), nil)
	for _, sc := range []any{"a\x01b", "a\u007fb", "a\r\nX-Evil: 1", []string{"a", "b\nc"}, []string{"a b"}, 3, map[string]any{}} {
		tok := sign(t, "HS256", k.hmac, nil, with(stdClaims(), "scope", sc))
		if _, r := j.Verify([]byte(tok)); r != ReasonInvalidClaim {
			t.Errorf("scope %q: %v, want invalid_claim", sc, r)
		}
	}
}
