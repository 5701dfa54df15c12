//go:build unix

package config

import "syscall"

// Permission bits of access(2); package syscall does not name them.
const (
	accessW = 0x2
	accessX = 0x1
)

// canWrite asks the kernel whether this process may open path for
// writing, which also catches read-only file systems, without opening it.
func canWrite(path string) error { return syscall.Access(path, accessW) }

// canWriteDir asks whether this process may create entries in folder dir.
func canWriteDir(dir string) error { return syscall.Access(dir, accessW|accessX) }
