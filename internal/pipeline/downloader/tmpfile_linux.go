//go:build linux

package downloader

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// openAnonymous creates an unnamed file in dir (O_TMPFILE). It has no
// directory entry until linkAnonymous gives it one, so a process killed
// mid-download leaves nothing behind, and creating it does not contend for
// the directory with the other downloads.
func openAnonymous(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, uint32(FilePerm))
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), dir+"/(unnamed)")
	// The umask may have taken the group's read bit; the consumer of the
	// files needs it.
	if err := f.Chmod(FilePerm); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
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

// capacity returns the total size of the file system holding dir.
func capacity(dir string) (int64, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Blocks) * st.Bsize, true
}

// available returns the bytes an unprivileged writer may still use on the
// file system holding dir (f_bavail, not the total size).
func available(dir string) (int64, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * st.Bsize, true
}
