package config

import (
	"path/filepath"
	"testing"
)

// ReadHMACSecret removes one trailing line break, "\n" or "\r\n", and
// nothing else: a lone "\r" or a second "\n" is part of the secret.
func TestReadHMACSecret(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, file, want string }{
		{"no line break", "s3cret", "s3cret"},
		{"newline", "s3cret\n", "s3cret"},
		{"crlf", "s3cret\r\n", "s3cret"},
		{"lone cr", "s3cret\r", "s3cret\r"},
		{"two newlines", "s3cret\n\n", "s3cret\n"},
		{"two crlf", "s3cret\r\n\r\n", "s3cret\r\n"},
		{"cr then newlines", "s3cret\r\n\n", "s3cret\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, "k")
			writeFile(t, p, c.file)
			got, err := ReadHMACSecret(p)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("ReadHMACSecret(%q) = %q, want %q", c.file, got, c.want)
			}
		})
	}
}
