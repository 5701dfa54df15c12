package config

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// maxAuxFile bounds certificate, key, CA, JWKS and secret files. The stat
// before reading refuses devices and FIFOs, so that a path such as
// /dev/zero or /dev/stdin cannot hang or exhaust validation.
const maxAuxFile = 4 << 20

// readAux reads the file at path; messages name it as written (name).
func readAux(path, name string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", name, unwrapPath(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("cannot read %s: not a regular file", name)
	}
	if fi.Size() > maxAuxFile {
		return nil, fmt.Errorf("cannot read %s: larger than %d bytes", name, maxAuxFile)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", name, unwrapPath(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAuxFile))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", name, unwrapPath(err))
	}
	return b, nil
}

// unwrapPath drops the *fs.PathError wrapper, whose text repeats the path.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkCertPair reads a certificate chain and key and checks that they
// parse and belong together: certErr is about the certificate file, keyErr
// about the key file (or the pair, when both files are good alone).
func checkCertPair(certFile, certName, keyFile, keyName string) (certErr, keyErr error) {
	certPEM, certErr := readAux(certFile, certName)
	keyPEM, keyErr := readAux(keyFile, keyName)
	if certErr == nil {
		if err := certsIn(certPEM); err != nil {
			certErr = fmt.Errorf("%s: %w", certName, err)
		}
	}
	if keyErr == nil && !bytes.Contains(keyPEM, []byte("PRIVATE KEY-----")) {
		keyErr = fmt.Errorf("%s: no PEM private key in the file", keyName)
	}
	if certErr != nil || keyErr != nil {
		return certErr, keyErr // each file's own problem, both when both have one
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return nil, fmt.Errorf("%s does not fit %s: %w", keyName, certName, err)
	}
	return nil, nil
}

// certsIn checks that data holds at least one PEM certificate, that all
// of them parse, and that no PEM block is cut short: a file caught
// mid-write (a chain without its intermediate, a CA bundle missing a CA)
// must fail, not load partly.
func certsIn(data []byte) error {
	// pem.Decode skips a block whose base64 is broken and returns the
	// next good one: every BEGIN line must yield a block.
	begins, decoded := bytes.Count(data, []byte("-----BEGIN ")), 0
	n := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			if bytes.Contains(data, []byte("-----BEGIN")) {
				return fmt.Errorf("a PEM block after certificate %d is incomplete or malformed (file cut short?)", n)
			}
			break
		}
		decoded++
		if b.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("certificate %d does not parse: %w", n+1, err)
		}
		n++
	}
	if decoded != begins {
		return fmt.Errorf("%d of %d PEM blocks are malformed", begins-decoded, begins)
	}
	if n == 0 {
		return errors.New("no PEM certificate found")
	}
	return nil
}

func checkCAFile(path, name string) error {
	data, err := readAux(path, name)
	if err != nil {
		return err
	}
	if err := certsIn(data); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func checkJWKSFile(path, name string) error {
	data, err := readAux(path, name)
	if err != nil {
		return err
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return fmt.Errorf("%s is not a JWK set: %w", name, err)
	}
	switch {
	case set.Keys == nil:
		return fmt.Errorf("%s is not a JWK set: no \"keys\" array", name)
	case len(set.Keys) == 0:
		return fmt.Errorf("%s has no keys (\"keys\" is empty)", name)
	}
	return nil
}

// ReadHMACSecret reads an hmac_secret_file: its bytes without one trailing
// line break (files written with `echo` end with one; a secret that needs a
// trailing newline is not supported). validate and the gateway both read it
// here, so the length validate judges is the key the verifier gets.
func ReadHMACSecret(path string) ([]byte, error) {
	b, err := readAux(path, "hmac_secret_file")
	if err != nil {
		return nil, err
	}
	// One line break, \n or \r\n: a lone \r, or a second \n, is part of
	// the secret (docs/AUTH.md).
	if b, ok := bytes.CutSuffix(b, []byte("\r\n")); ok {
		return b, nil
	}
	return bytes.TrimSuffix(b, []byte("\n")), nil
}

func checkSecretFile(path, name string) error {
	data, err := readAux(path, name)
	if err != nil {
		return err
	}
	if len(data) == 0 {
		return fmt.Errorf("%s is empty", name)
	}
	return nil
}

// checkAppendable checks, without creating or changing anything, that the
// gateway could open path for appending the way the access log does
// (O_WRONLY|O_APPEND|O_CREATE; a FIFO read-write): an existing file must be
// writable and not a folder or socket; a missing one needs an existing,
// writable folder. Messages name the file as written (name).
func checkAppendable(path, name string) error {
	fi, err := os.Stat(path)
	switch {
	case err == nil:
		switch mode := fi.Mode(); {
		case mode.IsDir():
			return fmt.Errorf("cannot open %s for appending: it is a folder", name)
		case mode&fs.ModeSocket != 0:
			return fmt.Errorf("cannot open %s for appending: it is a socket", name)
		}
		// Devices (/dev/stdout) and FIFOs are fine: run opens them too (a
		// FIFO read-write, so that it needs no reader yet).
		if err := canWrite(path); err != nil {
			return fmt.Errorf("cannot open %s for appending: %w", name, unwrapPath(err))
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("cannot open %s for appending: %w", name, unwrapPath(err))
	}
	dir, dirName := filepath.Dir(path), filepath.Dir(name)
	di, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("cannot create %s: folder %s does not exist", name, dirName)
	case err != nil:
		return fmt.Errorf("cannot create %s: folder %s: %w", name, dirName, unwrapPath(err))
	case !di.IsDir():
		return fmt.Errorf("cannot create %s: %s is not a folder", name, dirName)
	}
	// Creating an entry needs write and search permission on the folder.
	if err := canWriteDir(dir); err != nil {
		return fmt.Errorf("cannot create %s in folder %s: %w", name, dirName, unwrapPath(err))
	}
	return nil
}
