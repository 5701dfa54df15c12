package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata/golden/*.txt")

const goldenSep = "----------\n"

// TestGolden runs every testdata/golden/*.txt: a route file, a line
// "----------", then the expected problems, one per line, exactly as
// `portico validate` prints them (the file is called routes.yaml and sits
// in a folder made by fixtures). Nothing after the separator means the file
// must load.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	dir := fixtures(t)
	for _, gf := range files {
		t.Run(strings.TrimSuffix(filepath.Base(gf), ".txt"), func(t *testing.T) {
			raw, err := os.ReadFile(gf)
			if err != nil {
				t.Fatal(err)
			}
			input, want, ok := strings.Cut(string(raw), goldenSep)
			if !ok {
				t.Fatalf("%s: no %q line", gf, strings.TrimSpace(goldenSep))
			}
			got := runGolden(t, dir, input)
			if *update {
				if err := os.WriteFile(gf, []byte(input+goldenSep+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("problems differ\n--- got\n%s--- want\n%s", got, want)
			}
		})
	}
}

func runGolden(t *testing.T, dir, input string) string {
	t.Helper()
	_, err := Parse([]byte(input), filepath.Join(dir, "routes.yaml"))
	if err == nil {
		return ""
	}
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, not *Errors: %v", err, err)
	}
	return strings.ReplaceAll(errs.Error(), dir+string(filepath.Separator), "") + "\n"
}
