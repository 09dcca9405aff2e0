//go:build unix

package downloader

import (
	"fmt"
	"os"
	"syscall"
)

// openExisting opens what sits at path for verification without trusting
// it: O_NOFOLLOW refuses a symlink (ELOOP) and O_NONBLOCK keeps a FIFO or
// device from hanging the open; the fstat of the opened descriptor then
// decides, so nothing swapped in between a stat and the open can redirect
// us. Only a regular file with one link is ours to verify, chmod and
// fsync: a second link is an inode shared with a path outside OUTPUT_DIR.
func openExisting(path string) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, st, fmt.Errorf("%w: %s", errNotOurs, st.Mode().Type())
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Nlink != 1 {
		f.Close()
		return nil, st, fmt.Errorf("%w: %d hard links", errNotOurs, sys.Nlink)
	}
	return f, st, nil
}
