package router

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// MaxHostLen is the longest configured host name Compile accepts (the DNS
// limit for a name in text form). Request hosts longer than this cannot
// match an exact host.
const MaxHostLen = 253

// HeaderMatch requires the request header Name (case-insensitive) to be
// present with exactly Value.
type HeaderMatch struct {
	Name  string
	Value string
}

// Match is one route's match block (SPEC.md §2 routes[].match). The zero
// Match matches every request.
type Match struct {
	// Hosts: exact names, "*.suffix" wildcards or "*"; empty means any.
	Hosts []string
	// Path is an exact path; PathPrefix a byte prefix. At most one is set;
	// both empty means any path.
	Path       string
	PathPrefix string
	// Methods: any case; GET covers HEAD; empty means any.
	Methods []string
	// Headers: all must hold.
	Headers []HeaderMatch
}

// Headers gives Lookup access to the request's header fields. Get reports
// the value of the field called name, compared case-insensitively (Lookup
// passes names in lower case); the returned slice is only read during the
// call. Implement it on a pointer type so that passing it does not allocate.
type Headers interface {
	Get(name string) (value []byte, ok bool)
}

// Table is a compiled, immutable route set. Lookup may be called from any
// number of goroutines at once.
type Table struct {
	routes []route
	exact  map[string]*group // lower-case host -> group
	wild   map[string]*group // lower-case ".suffix" -> group
	any    *group            // routes without hosts, or with "*"

	// Bounds on wildcard suffix lengths, so Lookup skips suffixes that
	// cannot be keys.
	wildMin, wildMax int
}

// route holds the conditions the index does not decide: methods and headers.
type route struct {
	anyMethod bool
	methods   uint16   // bits of the standard methods
	extra     []string // other methods
	headers   []HeaderMatch
}

// group is the routes sharing one host key, indexed by path.
type group struct {
	root node
}

// node is a radix-tree node; the path from the root to it spells a key.
type node struct {
	label    string  // bytes on the edge from the parent
	prefix   []int32 // routes whose PathPrefix ends here (ascending)
	exact    []int32 // routes whose Path ends here (ascending)
	firsts   []byte  // first byte of each child's label
	children []*node
}

// Compile checks routes and builds the lookup index. The index i of a route
// in routes is what Lookup returns for it.
func Compile(routes []Match) (*Table, error) {
	if len(routes) > 1<<31-1 {
		return nil, fmt.Errorf("cannot compile routes: %d routes is too many", len(routes))
	}
	t := &Table{
		routes: make([]route, len(routes)),
		exact:  make(map[string]*group),
		wild:   make(map[string]*group),
	}
	for i := range routes {
		if err := t.add(int32(i), &routes[i]); err != nil {
			return nil, fmt.Errorf("cannot compile route %d: %w", i, err)
		}
	}
	return t, nil
}

func (t *Table) add(idx int32, m *Match) error {
	r := &t.routes[idx]

	if m.Path != "" && m.PathPrefix != "" {
		return errors.New("path and path_prefix are both set")
	}
	if m.Path != "" && m.Path[0] != '/' {
		return fmt.Errorf("path %q does not start with /", m.Path)
	}
	if m.PathPrefix != "" && m.PathPrefix[0] != '/' {
		return fmt.Errorf("path_prefix %q does not start with /", m.PathPrefix)
	}

	if len(m.Methods) == 0 {
		r.anyMethod = true
	}
	for _, meth := range m.Methods {
		if !isToken(meth) {
			return fmt.Errorf("method %q is not an HTTP token", meth)
		}
		meth = strings.ToUpper(meth)
		if bit := methodBit(meth); bit != 0 {
			r.methods |= bit
			if bit == bitGET {
				r.methods |= bitHEAD // see matchMethod
			}
		} else if !contains(r.extra, meth) {
			r.extra = append(r.extra, meth)
		}
	}

	for _, h := range m.Headers {
		if !isToken(h.Name) {
			return fmt.Errorf("header name %q is not an HTTP token", h.Name)
		}
		r.headers = append(r.headers, HeaderMatch{Name: asciiLower(h.Name), Value: h.Value})
	}

	// Collect the distinct groups first: a route listing both "a.com" and
	// "A.com" must enter the group once.
	var groups []*group
	anyHost := len(m.Hosts) == 0
	for _, h := range m.Hosts {
		if h == "*" {
			anyHost = true
			continue
		}
		key, wild, err := hostKey(h)
		if err != nil {
			return err
		}
		g := t.groupFor(key, wild)
		if !containsGroup(groups, g) {
			groups = append(groups, g)
		}
	}
	if anyHost {
		if t.any == nil {
			t.any = &group{}
		}
		// "*" makes any other host of this route redundant.
		groups = append(groups[:0], t.any)
	}
	for _, g := range groups {
		if m.Path != "" {
			g.root.insert(m.Path, idx, true)
		} else {
			g.root.insert(m.PathPrefix, idx, false)
		}
	}
	return nil
}

func (t *Table) groupFor(key string, wild bool) *group {
	m := t.exact
	if wild {
		m = t.wild
	}
	g := m[key]
	if g == nil {
		g = &group{}
		m[key] = g
		if wild {
			if t.wildMin == 0 || len(key) < t.wildMin {
				t.wildMin = len(key)
			}
			if len(key) > t.wildMax {
				t.wildMax = len(key)
			}
		}
	}
	return g
}

// hostKey validates a configured host and returns its map key: the
// lower-case name, or for "*.suffix" the lower-case ".suffix".
func hostKey(h string) (key string, wild bool, err error) {
	if h == "" {
		return "", false, errors.New("empty host")
	}
	name := h
	if strings.HasPrefix(h, "*.") {
		wild = true
		name = h[2:]
		if name == "" {
			return "", false, fmt.Errorf("host %q: wildcard without a suffix", h)
		}
	}
	if len(name) > MaxHostLen {
		return "", false, fmt.Errorf("host %q is longer than %d bytes", h, MaxHostLen)
	}
	if name[0] == '[' {
		if wild || name[len(name)-1] != ']' || len(name) < 3 {
			return "", false, fmt.Errorf("host %q: bad IP literal", h)
		}
		for i := 1; i < len(name)-1; i++ {
			if c := name[i]; !isHex(c) && c != ':' && c != '.' {
				return "", false, fmt.Errorf("host %q: bad IP literal", h)
			}
		}
	} else {
		for i := 0; i < len(name); i++ {
			c := name[i]
			switch {
			case c == '*':
				return "", false, fmt.Errorf("host %q: only a leading \"*.\" wildcard is supported", h)
			case c == ':':
				return "", false, fmt.Errorf("host %q: ports are ignored in matching, remove it", h)
			case !isHostByte(c):
				return "", false, fmt.Errorf("host %q: invalid character %q", h, c)
			}
		}
		if name[0] == '.' || strings.Contains(name, "..") {
			return "", false, fmt.Errorf("host %q: empty label", h)
		}
	}
	key = asciiLower(name)
	if wild {
		key = "." + key
	}
	return key, wild, nil
}

// insert adds route idx under key; insertions happen in ascending idx, so
// the lists stay sorted.
func (n *node) insert(key string, idx int32, exact bool) {
	for {
		if key == "" {
			if exact {
				n.exact = appendOnce(n.exact, idx)
			} else {
				n.prefix = appendOnce(n.prefix, idx)
			}
			return
		}
		i := bytes.IndexByte(n.firsts, key[0])
		if i < 0 {
			c := &node{label: key}
			n.firsts = append(n.firsts, key[0])
			n.children = append(n.children, c)
			n = c
			key = ""
			continue
		}
		c := n.children[i]
		l := commonPrefixLen(c.label, key)
		if l < len(c.label) {
			// Split c: a new node takes c's first l bytes.
			mid := &node{
				label:    c.label[:l],
				firsts:   []byte{c.label[l]},
				children: []*node{c},
			}
			c.label = c.label[l:]
			n.children[i] = mid
			c = mid
		}
		n = c
		key = key[l:]
	}
}

// Len returns the number of routes compiled into t.
func (t *Table) Len() int { return len(t.routes) }

// Lookup returns the index of the first route, in Compile's order, that
// matches the request, or -1. host is the Host header (or :authority) as
// received, port included; method the request method; path the normalised
// path without the query; h the header fields (may be nil). Lookup keeps no
// reference to its arguments and allocates nothing.
func (t *Table) Lookup(host, method, path []byte, h Headers) int {
	req := request{method: method, bit: methodBitFold(method)}
	best := int32(len(t.routes))

	if len(t.exact) != 0 || len(t.wild) != 0 {
		host = stripPort(host)
		if len(host) <= MaxHostLen {
			var buf [MaxHostLen]byte
			lh := lowerInto(buf[:], host)
			if g := t.exact[string(lh)]; g != nil {
				best = t.scanGroup(g, path, &req, h, best)
			}
			if len(t.wild) != 0 {
				best = t.scanWild(lh, path, &req, h, best, 0)
			}
		} else if len(t.wild) != 0 {
			// Too long for an exact host; only a suffix up to wildMax
			// bytes can be a wildcard key, so lower just the tail.
			var buf [MaxHostLen + 1]byte
			off := len(host) - len(buf)
			lh := lowerInto(buf[:], host[off:])
			best = t.scanWild(lh, path, &req, h, best, off)
		}
	}
	if t.any != nil {
		best = t.scanGroup(t.any, path, &req, h, best)
	}
	if int(best) == len(t.routes) {
		return -1
	}
	return int(best)
}

// scanWild tries every ".suffix" of lh that has at least one byte before
// it in the full host (off is lh's offset in the full host).
func (t *Table) scanWild(lh, path []byte, req *request, h Headers, best int32, off int) int32 {
	for i := 0; i < len(lh); i++ {
		if lh[i] != '.' || off+i == 0 {
			continue
		}
		n := len(lh) - i
		if n < t.wildMin {
			break
		}
		if n > t.wildMax {
			continue
		}
		if g := t.wild[string(lh[i:])]; g != nil {
			best = t.scanGroup(g, path, req, h, best)
		}
	}
	return best
}

// request is the per-lookup method state. Headers travel separately: an
// interface call makes its receiver escape, and in one struct it would take
// method along.
type request struct {
	method []byte
	bit    uint16
}

// scanGroup walks path down g's tree and returns the smallest index below
// best of a route there whose methods and headers match.
func (t *Table) scanGroup(g *group, path []byte, req *request, h Headers, best int32) int32 {
	n := &g.root
	pos := 0
	for {
		if len(n.prefix) != 0 {
			best = t.scanList(n.prefix, req, h, best)
		}
		if pos == len(path) {
			if len(n.exact) != 0 {
				best = t.scanList(n.exact, req, h, best)
			}
			return best
		}
		i := bytes.IndexByte(n.firsts, path[pos])
		if i < 0 {
			return best
		}
		c := n.children[i]
		end := pos + len(c.label)
		if end > len(path) || string(path[pos:end]) != c.label {
			return best
		}
		pos = end
		n = c
	}
}

func (t *Table) scanList(list []int32, req *request, h Headers, best int32) int32 {
	for _, idx := range list {
		if idx >= best {
			break
		}
		if t.routes[idx].matches(req, h) {
			return idx
		}
	}
	return best
}

func (r *route) matches(req *request, h Headers) bool {
	if !r.anyMethod {
		if req.bit != 0 {
			if r.methods&req.bit == 0 {
				return false
			}
		} else if !containsFold(r.extra, req.method) {
			return false
		}
	}
	for i := range r.headers {
		hm := &r.headers[i]
		if h == nil {
			return false
		}
		v, ok := h.Get(hm.Name)
		if !ok || string(v) != hm.Value {
			return false
		}
	}
	return true
}

// stripPort drops ":port" from a Host value, and the trailing dot of a
// fully qualified name ("api.example.com." is api.example.com, RFC 1034
// §3.1); IP literals keep their brackets.
func stripPort(host []byte) []byte {
	if len(host) != 0 && host[0] == '[' {
		if i := bytes.IndexByte(host, ']'); i >= 0 {
			return host[:i+1]
		}
		return host
	}
	if i := bytes.IndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	if n := len(host); n > 1 && host[n-1] == '.' {
		host = host[:n-1]
	}
	return host
}

// lowerInto writes the ASCII lower case of src into dst (len(dst) >=
// len(src)) and returns the written part.
func lowerInto(dst, src []byte) []byte {
	dst = dst[:len(src)]
	for i, c := range src {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst[i] = c
	}
	return dst
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			lowerInto(b, b)
			return string(b)
		}
	}
	return s
}

// The standard methods get one bit each, so the common check is a mask test.
const (
	bitGET uint16 = 1 << iota
	bitHEAD
	bitPOST
	bitPUT
	bitDELETE
	bitCONNECT
	bitOPTIONS
	bitTRACE
	bitPATCH
)

// methodBit is methodBitBytes for a route's method (compiled once per
// snapshot, so the conversion's copy does not matter).
func methodBit(m string) uint16 { return methodBitBytes([]byte(m)) }

// methodBitBytes maps a method to its bit (0 for a method without one);
// the conversion in a switch does not allocate.
func methodBitBytes(m []byte) uint16 {
	switch string(m) {
	case "GET":
		return bitGET
	case "HEAD":
		return bitHEAD
	case "POST":
		return bitPOST
	case "PUT":
		return bitPUT
	case "DELETE":
		return bitDELETE
	case "CONNECT":
		return bitCONNECT
	case "OPTIONS":
		return bitOPTIONS
	case "TRACE":
		return bitTRACE
	case "PATCH":
		return bitPATCH
	}
	return 0
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || !tokenTable[c] {
			return false
		}
	}
	return true
}

var tokenTable = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isHostByte(c byte) bool {
	return c == '-' || c == '.' || c == '_' ||
		'0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func commonPrefixLen(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

func appendOnce(list []int32, idx int32) []int32 {
	if len(list) != 0 && list[len(list)-1] == idx {
		return list
	}
	return append(list, idx)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// containsFold reports whether list (upper case) holds b in any case.
func containsFold(list []string, b []byte) bool {
	for _, v := range list {
		if len(v) == len(b) && bytes.EqualFold([]byte(v), b) {
			return true
		}
	}
	return false
}

// methodBitFold is methodBitBytes without regard to case.
//
// Methods match without regard to case, although RFC 9110 §9.1 makes them
// case-sensitive: many origins (Flask, Rails, Express) upper-case what they
// get, so a route `methods: [GET]` with auth in front of a public
// catch-all would otherwise let "get" reach the same handler without auth.
// For the same reason GET implies HEAD: origins serve HEAD with their GET
// handler (Go's ServeMux, Flask, Rails), and nginx's limit_except GET
// covers HEAD too.
func methodBitFold(m []byte) uint16 {
	if bit := methodBitBytes(m); bit != 0 || len(m) > 8 {
		return bit
	}
	var up [8]byte
	for i, c := range m {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	return methodBitBytes(up[:len(m)])
}

func containsGroup(list []*group, g *group) bool {
	for _, v := range list {
		if v == g {
			return true
		}
	}
	return false
}
