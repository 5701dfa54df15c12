package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Bounds on hostile input. A real route file stays far below them.
const (
	maxProblems = 1000 // after this many, one "too many problems" line ends the list
	// maxAliasExpansion bounds how many nodes alias expansion may add on top
	// of maxAliasBase plus ten times the nodes actually written, so that a
	// small file cannot expand into millions of routes (billion laughs).
	maxAliasBase      = 100_000
	maxAliasExpansion = 10
	maxMergeDepth     = 16
)

// decoder walks the yaml.Node tree itself instead of using yaml's struct
// decoding: that way every problem is collected (not just the first), every
// value keeps its position, and unknown keys point at themselves.
type decoder struct {
	file  string
	probs []Problem
	pos   map[string]Pos  // field path -> position of the value (or of the item)
	bad   map[string]bool // paths that already have a problem
	full  bool            // maxProblems reached
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, pos: make(map[string]Pos), bad: make(map[string]bool)}
}

func posOf(n *yaml.Node) Pos {
	if n == nil {
		return Pos{}
	}
	return Pos{Line: n.Line, Col: n.Column}
}

// add records one problem at pos.
func (d *decoder) add(p Pos, path, format string, args ...any) {
	if d.full {
		return
	}
	if len(d.probs) >= maxProblems {
		d.full = true
		d.probs = append(d.probs, Problem{File: d.file, Line: 1 << 30, Path: "", Message: "too many problems; stopping"})
		return
	}
	if path != "" {
		d.bad[path] = true
	}
	d.probs = append(d.probs, Problem{File: d.file, Line: p.Line, Col: p.Col, Path: oneLine(path), Message: oneLine(fmt.Sprintf(format, args...))})
}

// oneLine escapes control bytes so that each problem prints as one line
// whatever the file contains (a key or file name may hold a newline).
func oneLine(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// errNode reports a problem at node n.
func (d *decoder) errNode(n *yaml.Node, path, format string, args ...any) {
	d.add(posOf(n), path, format, args...)
}

// errAt reports a problem about path at the position recorded for it (or
// its nearest recorded parent), unless path already has one.
func (d *decoder) errAt(path, format string, args ...any) {
	if d.bad[path] {
		return
	}
	d.add(d.lookup(path), path, format, args...)
}

// lookup returns the position recorded for path or its nearest parent.
func (d *decoder) lookup(path string) Pos {
	for p := path; p != ""; p = parentPath(p) {
		if pos, ok := d.pos[p]; ok {
			return pos
		}
	}
	return Pos{}
}

// has reports whether path was present in the file.
func (d *decoder) has(path string) bool {
	_, ok := d.pos[path]
	return ok
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

func join(path, key string) string {
	if !plainKey(key) {
		// A map key such as a header name with a space: quoted, so that
		// field.path stays one token in FILE:LINE:COL: field.path: message.
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// plainKey: letters, digits, '_' and '-' (every field name, most keys).
func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 64; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

type entry struct {
	name     string
	key, val *yaml.Node
}

// entries returns the key/value pairs of mapping n, with YAML merge keys
// ("<<: *base") expanded: explicit keys win over merged ones.
func (d *decoder) entries(n *yaml.Node, path string, depth int) []entry {
	if depth > maxMergeDepth {
		d.errNode(n, path, "merge keys nest too deep (recursive alias?)")
		return nil
	}
	var own, merged []entry
	merges := 0
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			d.errNode(n.Content[i], path, "keys must be strings")
			continue
		}
		if k.ShortTag() == "!!merge" {
			// One merge key per mapping, as for any key (yaml.v3's own
			// decoder refuses a second): list several mappings in one.
			if merges++; merges > 1 {
				d.errNode(k, path, `duplicate merge key "<<": merge several mappings with one "<<: [*a, *b]"`)
				continue
			}
			m := deref(v)
			switch {
			case m != nil && m.Kind == yaml.MappingNode:
				merged = append(merged, d.entries(m, path, depth+1)...)
			case m != nil && m.Kind == yaml.SequenceNode:
				for _, it := range m.Content {
					it = deref(it)
					if it == nil || it.Kind != yaml.MappingNode {
						d.errNode(v, path, "a merge key needs a mapping or a list of mappings")
						continue
					}
					merged = append(merged, d.entries(it, path, depth+1)...)
				}
			default:
				d.errNode(v, path, "a merge key needs a mapping or a list of mappings")
			}
			continue
		}
		own = append(own, entry{k.Value, k, v})
	}
	for _, e := range merged {
		if !slices.ContainsFunc(own, func(o entry) bool { return o.name == e.name }) {
			own = append(own, e)
		}
	}
	return own
}

// fields walks mapping n at path. Keys not in known (unless known is nil,
// for free-form keys) are reported (with a
// suggestion when one is close); fn is called for each known key with the
// value node and its path. It returns false when n is absent or not a
// mapping.
func (d *decoder) fields(n *yaml.Node, path string, known []string, fn func(key string, v *yaml.Node, p string)) bool {
	n = deref(n)
	if isNull(n) {
		return false
	}
	if n.Kind != yaml.MappingNode {
		d.errNode(n, path, "expected a mapping, got %s", kindName(n))
		return false
	}
	seen := make(map[string]Pos)
	for _, e := range d.entries(n, path, 0) {
		p := join(path, e.name)
		if first, dup := seen[e.name]; dup {
			d.errNode(e.key, p, "duplicate key (first at line %d)", first.Line)
			continue
		}
		seen[e.name] = posOf(e.key)
		if known != nil && !slices.Contains(known, e.name) {
			msg := "unknown field"
			if s := suggest(e.name, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.errNode(e.key, p, "%s", msg)
			continue
		}
		if v := deref(e.val); v != nil && v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			// A key left empty (its lines commented out) is absent: its
			// default applies, and a required one is reported missing.
			continue
		}
		d.pos[p] = posOf(e.val)
		fn(e.name, e.val, p)
	}
	return true
}

// suggest returns the known key closest to k, if it is close enough to be a
// likely typo.
func suggest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if dist := editDistance(strings.ToLower(k), c); dist < bestD {
			best, bestD = c, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// list decodes a sequence; nil when absent, a non-nil slice (maybe empty)
// when present.
func list[T any](d *decoder, n *yaml.Node, path string, fn func(item *yaml.Node, p string) T) []T {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errNode(n, path, "expected a list, got %s", kindName(n))
		return nil
	}
	out := make([]T, 0, len(n.Content))
	for i, it := range n.Content {
		p := index(path, i)
		d.pos[p] = posOf(it)
		out = append(out, fn(it, p))
	}
	return out
}

// scalar returns the scalar behind n, or nil when n is absent (null) or
// not a scalar (reported).
func (d *decoder) scalar(n *yaml.Node, path, want string) *yaml.Node {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		d.errNode(n, path, "expected %s, got %s", want, kindName(n))
		return nil
	}
	return n
}

// str accepts any scalar: "retries.on: [502]" reads as "502".
func (d *decoder) str(n *yaml.Node, path string) string {
	if s := d.scalar(n, path, "a string"); s != nil {
		return s.Value
	}
	return ""
}

func (d *decoder) strs(n *yaml.Node, path string) []string {
	return list(d, n, path, d.str)
}

func (d *decoder) integer(n *yaml.Node, path string) int {
	s := d.scalar(n, path, "an integer")
	if s == nil {
		return 0
	}
	if s.ShortTag() != "!!int" {
		d.errNode(s, path, "expected an integer, got %s", kindName(s))
		return 0
	}
	var v int64
	if err := s.Decode(&v); err != nil || v > 1<<53 || v < -(1<<53) {
		d.errNode(s, path, "integer %s is out of range", s.Value)
		return 0
	}
	return int(v)
}

func (d *decoder) duration(n *yaml.Node, path string) Duration {
	s := d.scalar(n, path, "a duration")
	if s == nil {
		return 0
	}
	v, err := ParseDuration(s.Value)
	if err != nil {
		d.errNode(s, path, "%v", err)
	}
	return v
}

func (d *decoder) size(n *yaml.Node, path string) Size {
	s := d.scalar(n, path, "a size")
	if s == nil {
		return 0
	}
	v, err := ParseSize(s.Value)
	if err != nil {
		d.errNode(s, path, "%v", err)
	}
	return v
}

func (d *decoder) rate(n *yaml.Node, path string) Rate {
	s := d.scalar(n, path, "a rate")
	if s == nil {
		return Rate{}
	}
	v, err := ParseRate(s.Value)
	if err != nil {
		d.errNode(s, path, "%v", err)
	}
	return v
}

// headerMap decodes a mapping of header name to value, keeping file order.
// An absent mapping gives nil; a present one a non-nil (maybe empty) map.
func (d *decoder) headerMap(n *yaml.Node, path string) (map[string]string, []Header) {
	m := make(map[string]string)
	var l []Header
	if !d.fields(n, path, nil, func(key string, v *yaml.Node, p string) {
		val := d.str(v, p)
		m[key] = val
		l = append(l, Header{Name: key, Value: val, Pos: posOf(v)})
	}) {
		return nil, nil
	}
	return m, l
}
