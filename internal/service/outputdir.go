package service

import (
	"fmt"
	"os"
)

// outputDirWarning says why dir is unsafe to collect into, or "" when it is
// not. Anyone in the group (or everyone) who may write to OUTPUT_DIR can
// plant or swap a <sha256>.cart between our verification and a downstream
// reader's open, or fill the disk; the files we write are 0640 for that
// reason. A sticky directory (like /tmp) keeps others from renaming or
// deleting our files, but they can still create names, so it is warned
// about too.
func outputDirWarning(dir string) string {
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return ""
	}
	perm := fi.Mode().Perm()
	var who string
	switch {
	case perm&0o002 != 0:
		who = "everyone"
	case perm&0o020 != 0:
		who = "its group"
	default:
		return ""
	}
	return fmt.Sprintf("OUTPUT_DIR %s is writable by %s (mode %04o): others can plant or replace collected files there; chmod go-w it", dir, who, perm)
}
