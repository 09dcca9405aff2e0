//go:build linux

package downloader

import (
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// openAnonymous creates an unnamed file in dir (O_TMPFILE). It has no
// directory entry until linkAnonymous gives it one, so a process killed
// mid-download leaves nothing behind, and creating it does not contend for
// the directory with the other downloads.
func openAnonymous(dir string) (*os.File, error) {
	if !anonymousFiles {
		return nil, errors.ErrUnsupported
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, uint32(FilePerm))
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), dir+"/(unnamed)"), nil
}

// linkAnonymous gives an O_TMPFILE file the name path. It fails with
// EEXIST if path exists: link never replaces.
func linkAnonymous(f *os.File, path string) error {
	err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	if err != nil {
		return &os.LinkError{Op: "link", Old: f.Name(), New: path, Err: err}
	}
	return nil
}
