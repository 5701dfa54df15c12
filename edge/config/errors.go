package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Pos is a 1-based position in the route file. The zero Pos means unknown
// (a default, or a value built in code).
type Pos struct {
	Line int
	Col  int
}

// IsValid reports whether p points into the file.
func (p Pos) IsValid() bool { return p.Line > 0 }

// WholeFile is the field path printed for a problem about the file as a
// whole rather than one field: it cannot be opened or read, is empty, or is
// not valid YAML. No field of the route file has this name.
const WholeFile = "file"

// Problem is one thing wrong with a route file.
type Problem struct {
	File    string // the file name as given to Load or Parse
	Line    int    // 1-based; 0 when the problem is about the file as a whole
	Col     int    // 1-based
	Path    string // field path such as routes[2].match.path_prefix; "" when about the whole file
	Message string
}

// String formats p as "FILE:LINE:COL: field.path: message" (SPEC §1). A
// problem without a position (Line 0, say a missing top-level key) is
// reported at 1:1, and one without a field path (a syntax error, an
// unreadable file) names WholeFile, so every line keeps the same shape for
// tools.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(max(p.Line, 1)))
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(max(p.Col, 1)))
	b.WriteString(": ")
	b.WriteString(cmp.Or(p.Path, WholeFile))
	b.WriteString(": ")
	b.WriteString(p.Message)
	return b.String()
}

// Errors is every problem found in a route file, sorted by position. Load and
// Parse return it (as error) when the file does not load.
type Errors struct {
	Problems []Problem

	cause error // why the file could not be read, for errors.Is
}

// Unwrap returns the I/O error behind a route file that could not be read
// (so errors.Is(err, fs.ErrNotExist) works on Load's error), or nil.
func (e *Errors) Unwrap() error { return e.cause }

// Error prints one problem per line, in the format of Problem.String.
func (e *Errors) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Sort orders the problems by line, column, path and message.
func (e *Errors) Sort() {
	slices.SortStableFunc(e.Problems, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col),
			cmp.Compare(a.Path, b.Path), cmp.Compare(a.Message, b.Message))
	})
}
