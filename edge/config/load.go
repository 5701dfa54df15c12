package config

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize bounds the route file Load reads.
const MaxFileSize = 16 << 20

// Load reads, parses and validates the route file at path. Every failure,
// an unreadable file included, comes back as *Errors, so that callers print
// it in one format; path names the file in problems.
func Load(path string) (*Config, error) { return load(path, true) }

// LoadForReload is Load for a reload of a running gateway: its listeners
// are bound already (a reload that adds or moves one is refused), so
// their addresses are not checked against this host's (a virtual IP that
// moved away, or DNS down, must not stop every reload).
func LoadForReload(path string) (*Config, error) { return load(path, false) }

// LoadDraft is Load for `validate`: when the file decoded but some of its
// values are wrong, it returns the decoded Config with the problems, so
// that the gateway's own checks (key sets, secrets, limiter arithmetic)
// can add theirs and one run lists every problem. Such a Config must not
// be served.
func LoadDraft(path string) (*Config, error) {
	data, err := readRouteFile(path)
	if err != nil {
		return nil, fileProblem(path, err)
	}
	return parseAll(data, path, true, true)
}

func load(path string, bindCheck bool) (*Config, error) {
	data, err := readRouteFile(path)
	if err != nil {
		return nil, fileProblem(path, err)
	}
	return parse(data, path, bindCheck)
}

func fileProblem(path string, err error) *Errors {
	return &Errors{
		Problems: []Problem{{File: cmp.Or(path, "<input>"), Line: 1, Col: 1, Message: oneLine(err.Error())}},
		cause:    err,
	}
}

// readRouteFile reads at most MaxFileSize bytes of the file at path. Its
// errors leave the path out: the problem carrying them names the file.
func readRouteFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open route file: %w", unwrapPath(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read route file: %w", unwrapPath(err))
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("cannot load route file: larger than %d bytes", MaxFileSize)
	}
	return data, nil
}

// Parse parses and validates a route file's bytes. file names the file in
// problems and locates relative paths (its folder; the working directory
// when file is ""). Referenced certificate, key, CA, JWKS and secret files
// are read to check them. On failure the error is *Errors listing every
// problem found, sorted by position.
func Parse(data []byte, file string) (*Config, error) { return parse(data, file, true) }

func parse(data []byte, file string, bindCheck bool) (*Config, error) {
	return parseAll(data, file, bindCheck, false)
}

// parseAll is parse; with draft, a file that decoded also comes back when
// its values have problems (LoadDraft).
func parseAll(data []byte, file string, bindCheck, draft bool) (*Config, error) {
	name := file
	if name == "" {
		name = "<input>"
	}
	c := &Config{src: name}
	sum := sha256.Sum256(data)
	c.SHA256 = hex.EncodeToString(sum[:])
	if file != "" {
		abs, err := filepath.Abs(file)
		if err != nil {
			return nil, fmt.Errorf("cannot resolve route file path %s: %w", file, err)
		}
		c.File, c.Dir = abs, filepath.Dir(abs)
	} else {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("cannot find the working directory: %w", err)
		}
		c.Dir = wd
	}

	d := newDecoder(name)
	c.pos = d.pos
	validated := false
	if root := d.document(data); root != nil {
		if d.config(root, c) && len(d.probs) < maxProblems {
			v := &validator{d: d, c: c, bindCheck: bindCheck}
			v.run()
			validated = true
		}
	}
	if len(d.probs) > 0 {
		e := &Errors{Problems: d.probs}
		e.Sort()
		if d.full {
			// Sorted last through its huge line; printed at 1:1, as it is
			// about the file as a whole.
			e.Problems[len(e.Problems)-1].Line = 0
		}
		if draft && validated && !d.full {
			return c, e
		}
		return nil, e
	}
	return c, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document parses data into the root mapping node, reporting syntax errors,
// empty input, several documents and excessive alias expansion.
func (d *decoder) document(data []byte) (root *yaml.Node) {
	defer func() {
		// yaml recovers its own panics; this is a last line of defence so
		// that hostile input can never crash a reload.
		if r := recover(); r != nil {
			d.add(Pos{Line: 1, Col: 1}, "", "cannot parse YAML: %v", r)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.add(Pos{Line: 1, Col: 1}, "", "the file is empty")
			return nil
		}
		d.yamlError(data, err)
		return nil
	}
	// Empty documents after the first (a trailing "---", as some
	// generators write) hold nothing and are skipped; a few of them: a
	// file of millions of "---" lines would take seconds to walk.
	const maxEmptyDocs = 16
	for empty := 0; ; empty++ {
		var next yaml.Node
		err := dec.Decode(&next)
		if err == nil && emptyDocument(&next) {
			if empty < maxEmptyDocs {
				continue
			}
			d.add(posOf(&next), "", "a route file holds one YAML document; found more than %d empty ones after it", maxEmptyDocs)
			break
		}
		if err == nil {
			d.add(posOf(&next), "", "a route file holds one YAML document; found another")
		} else if !errors.Is(err, io.EOF) {
			d.yamlError(data, err)
		}
		break
	}
	if len(doc.Content) == 0 || isNull(deref(doc.Content[0])) {
		d.add(Pos{Line: 1, Col: 1}, "", "the file is empty")
		return nil
	}
	actual, expanded, cyclic := measure(doc.Content[0])
	switch {
	case cyclic:
		d.add(Pos{Line: 1, Col: 1}, "", "an alias refers to a node that contains it")
		return nil
	case expanded-actual > maxAliasBase+maxAliasExpansion*actual:
		d.add(Pos{Line: 1, Col: 1}, "", "aliases expand the document to %d nodes; too many", expanded)
		return nil
	}
	return doc.Content[0]
}

// emptyDocument reports whether doc, a document node, holds nothing: a
// "---" followed by nothing but comments. An explicit null (~, null) is
// something written, and counts as a document.
func emptyDocument(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return len(doc.Content) == 1 && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" &&
		n.Value == "" && n.Style == 0 && n.Anchor == "" // Style 0: no explicit tag
}

// yamlParserProblems are the problems yaml's parser (as opposed to its
// scanner) reports. For them yaml prints the 0-based line of the enclosing
// collection's start, so the 1-based line is one more. yaml gives no column.
var yamlParserProblems = []string{
	"did not find expected <stream-start>", "did not find expected <document start>",
	"did not find expected node content", "did not find expected '-' indicator",
	"did not find expected key", "did not find expected ',' or ']'", "did not find expected ',' or '}'",
	"found undefined tag handle", "found duplicate %TAG directive", "found incompatible YAML document",
	"found duplicate %YAML directive",
}

// yamlReaderProblems are the problems yaml's reader reports about a
// character, without a position.
var yamlReaderProblems = []string{
	"invalid leading UTF-8 octet", "incomplete UTF-8 octet sequence", "invalid trailing UTF-8 octet",
	"invalid length of a UTF-8 sequence", "invalid Unicode character", "control characters are not allowed",
}

// badCharPos finds the first character of UTF-8 data that yaml's reader
// refuses (invalid UTF-8, or outside the printable set YAML allows), or
// 1:1 when there is none or data is UTF-16 (its offsets differ). The
// column counts characters, as yaml's own positions do.
func badCharPos(data []byte) Pos {
	if bytes.HasPrefix(data, []byte{0xFE, 0xFF}) || bytes.HasPrefix(data, []byte{0xFF, 0xFE}) {
		return Pos{Line: 1, Col: 1}
	}
	start := 0 // of the current line
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1, !yamlPrintable(r):
			return Pos{Line: line, Col: 1 + utf8.RuneCount(data[start:i])}
		case r == '\n':
			line, start = line+1, i+size
		}
		i += size
	}
	return Pos{Line: 1, Col: 1}
}

// yamlPrintable is the character set of YAML 1.2 §5.1 that yaml's reader
// accepts.
func yamlPrintable(r rune) bool {
	switch {
	case r == 0x09, r == 0x0A, r == 0x0D, r >= 0x20 && r <= 0x7E, r == 0x85:
		return true
	case r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

var yamlAnchorRE = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)

func (d *decoder) yamlError(data []byte, err error) {
	msg := err.Error()
	if m := yamlAnchorRE.FindStringSubmatch(msg); m != nil {
		// yaml gives no position here; the first "*name" is the culprit.
		p := Pos{Line: 1, Col: 1}
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			p.Line = 1 + bytes.Count(data[:i], []byte("\n"))
			p.Col = 1 + i - (bytes.LastIndexByte(data[:i], '\n') + 1)
		}
		d.add(p, "", "invalid YAML: unknown anchor %q referenced", m[1])
		return
	}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if slices.Contains(yamlParserProblems, m[2]) {
			d.add(Pos{Line: line + 1, Col: 1}, "", "invalid YAML: %s (in the block or flow collection starting on this line)", m[2])
			return
		}
		d.add(Pos{Line: line, Col: 1}, "", "invalid YAML: %s", m[2])
		return
	}
	if p, ok := strings.CutPrefix(msg, "yaml: "); ok && slices.Contains(yamlParserProblems, p) {
		d.add(Pos{Line: 1, Col: 1}, "", "invalid YAML: %s (in the block or flow collection starting on this line)", p)
		return
	}
	if p, ok := strings.CutPrefix(msg, "yaml: "); ok && slices.Contains(yamlReaderProblems, p) {
		// yaml's reader knows the byte offset but does not say it.
		d.add(badCharPos(data), "", "invalid YAML: %s", p)
		return
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			d.add(Pos{Line: 1, Col: 1}, "", "invalid YAML: %s", e)
		}
		return
	}
	d.add(Pos{Line: 1, Col: 1}, "", "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// measure counts the nodes written in the document and the nodes a full
// alias expansion would visit, and finds alias cycles.
func measure(root *yaml.Node) (actual, expanded int, cyclic bool) {
	const inProgress = -1
	memo := make(map[*yaml.Node]int)
	var walk func(n *yaml.Node, viaAlias bool) int
	walk = func(n *yaml.Node, viaAlias bool) int {
		if n == nil || cyclic {
			return 0
		}
		if v, ok := memo[n]; ok {
			if v == inProgress {
				cyclic = true
				return 0
			}
			if viaAlias {
				return v
			}
		}
		memo[n] = inProgress
		if !viaAlias {
			actual++
		}
		size := 1
		if n.Kind == yaml.AliasNode {
			size += walk(n.Alias, true)
		} else {
			for _, ch := range n.Content {
				size += walk(ch, viaAlias)
				if size > 1<<30 {
					size = 1 << 30
				}
			}
		}
		memo[n] = size
		return size
	}
	expanded = walk(root, false)
	return actual, expanded, cyclic
}

// Problem builds a Problem about the value at field path (for example
// "routes[2].auth[0]"), positioned where that value (or its nearest
// parent) was written. The gateway uses it to refuse, in the same format
// as validation, a config that loads but uses what it cannot serve yet.
func (c *Config) Problem(path, format string, args ...any) Problem {
	var p Pos
	for q := path; q != ""; q = parentPath(q) {
		if pos, ok := c.pos[q]; ok {
			p = pos
			break
		}
	}
	return Problem{File: c.src, Line: p.Line, Col: p.Col, Path: path, Message: fmt.Sprintf(format, args...)}
}

// PosOf returns where the value at field path was written, if it was.
func (c *Config) PosOf(path string) (Pos, bool) {
	p, ok := c.pos[path]
	return p, ok
}
