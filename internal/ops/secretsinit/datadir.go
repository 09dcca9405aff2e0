package secretsinit

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/alharvest/alharvest/internal/ops/outputinit"
)

// HandDataDir gives the NATS store at dir, and everything in it, to o: a
// fresh volume is root's, and a store written by a server that ran as root
// holds root's files, which a server running as o could not write. A dir
// already o's is left alone, so the walk happens once, not on every start.
func HandDataDir(dir string, o outputinit.Owner, w io.Writer) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == o.UID && int(st.Gid) == o.GID {
		return nil
	}
	n := 0
	err = filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		n++
		return os.Lchown(path, o.UID, o.GID)
	})
	if err != nil {
		return fmt.Errorf("hand the NATS store %s to %d:%d: %w", dir, o.UID, o.GID, err)
	}
	fmt.Fprintf(w, "secrets-init: handed the NATS store %s (%d entries) to %d:%d\n", dir, n, o.UID, o.GID)
	return nil
}
