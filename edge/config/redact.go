package config

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Redacted is the placeholder that replaces secrets in Redacted output.
const Redacted = "REDACTED"

// Redacted returns a copy of c that is safe to show on the admin /config
// endpoint: API key hashes are replaced by "REDACTED" (a sha256 of a
// low-entropy key can be brute-forced). File paths stay, file contents are
// never part of a Config. c itself is not changed.
func (c *Config) Redacted() *Config {
	r := *c
	r.Auth = slices.Clone(c.Auth)
	for i := range r.Auth {
		keys := slices.Clone(r.Auth[i].Keys)
		for j := range keys {
			keys[j].SHA256 = Redacted
		}
		r.Auth[i].Keys = keys
	}
	return &r
}

// RedactedJSON is the admin /config body: the effective config (defaults
// applied, paths absolute) as indented JSON with the file's sha256, secrets
// redacted. Field names are those of the route file.
func (c *Config) RedactedJSON() ([]byte, error) {
	b, err := json.MarshalIndent(c.Redacted(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("cannot encode config as JSON: %w", err)
	}
	return b, nil
}
