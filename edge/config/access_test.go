package config

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The access log path is refused at validation when run could not open it
// for appending; validation never creates or changes the file.
func TestAccessLogPath(t *testing.T) {
	dir := fixtures(t)
	j := func(p string) string { return filepath.Join(dir, p) }
	writeFile(t, j("logs/existing.log"), "kept\n")
	writeFile(t, j("ro/readonly.log"), "kept\n")
	if err := os.Chmod(j("ro/readonly.log"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(j("rodir"), 0o555); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", j("log.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	root := os.Geteuid() == 0 // root may write whatever the mode bits say

	cases := []struct {
		name, path string
		skipRoot   bool
		want       string // message; "" means it loads
	}{
		{"stdout", "stdout", false, ""},
		{"off", "off", false, ""},
		{"new file in existing folder", "logs/new.log", false, ""},
		{"existing file", "logs/existing.log", false, ""},
		{"absolute", j("logs/abs.log"), false, ""},
		{"device", os.DevNull, false, ""},
		{"missing folder", "no-such-dir/access.log", false, "cannot create no-such-dir/access.log: folder no-such-dir does not exist"},
		{"missing nested folder", "logs/a/b/access.log", false, "cannot create logs/a/b/access.log: folder logs/a/b does not exist"},
		{"parent is a file", "empty.txt/access.log", false, "cannot open empty.txt/access.log for appending: not a directory"},
		{"folder", "certs", false, "cannot open certs for appending: it is a folder"},
		{"socket", "log.sock", false, "cannot open log.sock for appending: it is a socket"},
		{"read-only file", "ro/readonly.log", true, "cannot open ro/readonly.log for appending: permission denied"},
		{"read-only folder", "rodir/access.log", true, "cannot create rodir/access.log in folder rodir: permission denied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.skipRoot && root {
				t.Skip("running as root: permission bits do not apply")
			}
			src := minimal + "access_log: {path: " + quote(c.path) + "}\n"
			_, err := Parse([]byte(src), j("routes.yaml"))
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.Problems) != 1 {
				t.Fatalf("want one problem, got %v", err)
			}
			p := errs.Problems[0]
			if p.Path != "access_log.path" || p.Line != 4 || p.Col != 20 || p.Message != c.want {
				t.Errorf("got %s\nwant routes.yaml:4:20: access_log.path: %s", p, c.want)
			}
		})
	}
	// Validation created nothing and truncated nothing.
	for _, p := range []string{"logs/new.log", "logs/abs.log", "no-such-dir", "rodir/access.log"} {
		if _, err := os.Stat(j(p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: validation created it (stat: %v)", p, err)
		}
	}
	if b, err := os.ReadFile(j("logs/existing.log")); err != nil || string(b) != "kept\n" {
		t.Errorf("existing log changed: %q %v", b, err)
	}
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// shapeRE is SPEC §1's FILE:LINE:COL: field.path: message.
var shapeRE = regexp.MustCompile(`^(.+):(\d+):(\d+): ([A-Za-z0-9_.\[\]-]+): (.+)$`)

// A route file that cannot be read is reported as a problem about the
// whole file, in the same shape as every other problem, and keeps its cause.
func TestLoadUnreadable(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	writeFile(t, big, strings.Repeat("#", MaxFileSize+1))
	cases := []struct {
		name, path, want string
		is               error
	}{
		{"missing", filepath.Join(dir, "missing.yaml"), "cannot open route file: no such file or directory", fs.ErrNotExist},
		{"folder", dir, "cannot read route file: is a directory", nil},
		{"too big", big, "cannot load route file: larger than 16777216 bytes", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.path)
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.Problems) != 1 {
				t.Fatalf("want *Errors with one problem, got %T %v", err, err)
			}
			want := c.path + ":1:1: " + WholeFile + ": " + c.want
			if got := err.Error(); got != want {
				t.Errorf("got  %q\nwant %q", got, want)
			}
			if m := shapeRE.FindStringSubmatch(err.Error()); m == nil || m[1] != c.path {
				t.Errorf("not FILE:LINE:COL: field.path: message: %q", err)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("errors.Is(%v) = false", c.is)
			}
		})
	}
}

// Every problem prints in the SPEC §1 shape, those about the whole file
// (syntax, emptiness, the problem bound) included.
func TestEveryProblemHasAFieldPath(t *testing.T) {
	var many strings.Builder
	many.WriteString("version: 1\nlisteners:\n")
	for i := 0; i < 2*maxProblems; i++ {
		many.WriteString("  - {address: bad}\n")
	}
	for _, src := range []string{"", "# nothing\n", "version: 1\nroutes: [\n  - name: x\n", "a: 1\n---\nb: 2\n", "- 1\n", "\tx: 1\n", many.String()} {
		_, err := Parse([]byte(src), "r.yaml")
		var errs *Errors
		if !errors.As(err, &errs) {
			t.Fatalf("%q: want *Errors, got %v", src, err)
		}
		for _, p := range errs.Problems {
			if m := shapeRE.FindStringSubmatch(p.String()); m == nil || m[1] != "r.yaml" || m[2] == "0" || len(m[2]) > 6 {
				t.Errorf("%q: bad line %q", src, p)
			}
		}
	}
}
