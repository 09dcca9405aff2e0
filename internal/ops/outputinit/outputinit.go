// Package outputinit prepares the downloader's bind-mounted output directory
// before any downloader starts (the compose service output-init, which runs
// once as root in the alharvest image; that image has no shell).
//
//   - A directory Docker has just created for the bind mount (root-owned and
//     empty) is handed to the stages' user.
//   - Then it checks that the stages' user can write there, and fails with an
//     explanation otherwise: the downloader would otherwise fail on every file.
//
// A directory the operator created is never chowned.
package outputinit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Owner is the uid:gid the stages run as (ALHARVEST_UID:ALHARVEST_GID).
type Owner struct{ UID, GID int }

// ParseOwner reads "uid:gid".
func ParseOwner(s string) (Owner, error) {
	u, g, ok := strings.Cut(s, ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if !ok || err1 != nil || err2 != nil || uid < 0 || gid < 0 {
		return Owner{}, fmt.Errorf("OWNER %q is not <uid>:<gid>", s)
	}
	return Owner{uid, gid}, nil
}

// Prepare hands a fresh dir to o and checks o can write there. It reports
// what it did on w.
func Prepare(dir string, o Owner, w io.Writer) error {
	st, err := stat(dir)
	if err != nil {
		return err
	}
	if st.Uid == 0 && o.UID != 0 {
		empty, err := isEmpty(dir)
		if err != nil {
			return err
		}
		if empty {
			if err := os.Chown(dir, o.UID, o.GID); err != nil {
				return fmt.Errorf("hand %s to %d:%d: %w", dir, o.UID, o.GID, err)
			}
			fmt.Fprintf(w, "output-init: handed the new output directory to %d:%d\n", o.UID, o.GID)
			if st, err = stat(dir); err != nil {
				return err
			}
		}
	}
	// Write and search permission for o, by the owner/group/other bits.
	mode := st.Mode & 0o777
	var ok bool
	switch {
	case o.UID == 0:
		ok = true
	case int(st.Uid) == o.UID:
		ok = mode&0o300 == 0o300
	case int(st.Gid) == o.GID:
		ok = mode&0o030 == 0o030
	default:
		ok = mode&0o003 == 0o003
	}
	if !ok {
		return fmt.Errorf("the output directory (OUTPUT_HOST_DIR) is owned by %d:%d with mode %o; "+
			"the stages run as %d:%d and cannot write to it. Set ALHARVEST_UID/ALHARVEST_GID in .env "+
			"to its owner (id -u / id -g), or chown it to %d:%d",
			st.Uid, st.Gid, mode, o.UID, o.GID, o.UID, o.GID)
	}
	fmt.Fprintf(w, "output-init: %s is writable by %d:%d\n", dir, o.UID, o.GID)
	return nil
}

func stat(dir string) (*syscall.Stat_t, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, errors.New("no owner information for " + dir)
	}
	return st, nil
}

func isEmpty(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}
