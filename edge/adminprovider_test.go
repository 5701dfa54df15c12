package edge

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/portico-gw/portico/edge/config"
)

// POST /reload answers 400 invalid_config only for a route file at fault;
// a file that cannot be read is 500 reload_failed, a reload refused by a
// drain 503.
func TestReloadFailureKind(t *testing.T) {
	dir := t.TempDir()
	loadErr := func(name, content string) error {
		p := filepath.Join(dir, name)
		if content != "" {
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		_, err := config.LoadForReload(p)
		if err == nil {
			t.Fatalf("%s loaded", name)
		}
		return err
	}
	if err := os.Mkdir(filepath.Join(dir, "dir.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name                 string
		err                  error
		invalid, unavailable bool
	}{
		{"bad content", loadErr("bad.yaml", "version: 1\nnonsense: [\n"), true, false},
		{"missing file", loadErr("missing.yaml", ""), false, false},
		{"directory", loadErr("dir.yaml", ""), false, false},
		{"listener added", fmt.Errorf("listener %q is not bound by this process; adding a listener %w", "x", errNeedsRestart), true, false},
		{"draining", ErrDraining, false, true},
		{"no route file", errors.New("no route file to reload from"), false, false},
	} {
		inv, unav := reloadFailureKind(tc.err)
		if inv != tc.invalid || unav != tc.unavailable {
			t.Errorf("%s (%v): invalid %v unavailable %v, want %v %v", tc.name, tc.err, inv, unav, tc.invalid, tc.unavailable)
		}
	}
}
