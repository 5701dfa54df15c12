//go:build !unix

package config

import "os"

// canWrite opens path for writing, without creating or truncating it, where
// access(2) is not available.
func canWrite(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// canWriteDir only checks that dir exists where access(2) is not available;
// a folder that refuses new files is reported when the gateway starts.
func canWriteDir(dir string) error {
	_, err := os.Stat(dir)
	return err
}
