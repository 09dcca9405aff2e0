//go:build unix

package downloader

import (
	"os"
	"syscall"
)

// lockFile marks a temporary file as owned by a live process.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// tryLockFile reports whether nobody holds f's lock (and takes it).
func tryLockFile(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}
