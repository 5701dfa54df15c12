package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A repeated -c is a usage error (exit 2), not the last file silently
// winning: validate would report on a file other than the one the
// operator looks for in its output, run would serve it.
func TestRepeatedConfigFlagRefused(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("version: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "missing.yaml")
	for _, args := range [][]string{
		{"validate", "-c", bad, "-c", good},
		{"validate", "-c", good, "-c", good},
		{"validate", "-c=" + bad, "-c", good},
		{"run", "-c", bad, "-c", good},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (usage)\nstdout: %s\nstderr: %s", args, code, stdout.String(), stderr.String())
			continue
		}
		if !strings.Contains(stderr.String(), "more than once") || !strings.Contains(stderr.String(), "usage: portico "+args[0]+" -c FILE") {
			t.Errorf("%q: stderr %q, want the reason and the usage", args, stderr.String())
		}
		if stdout.Len() != 0 {
			t.Errorf("%q: stdout %q, want nothing checked", args, stdout.String())
		}
	}
}
