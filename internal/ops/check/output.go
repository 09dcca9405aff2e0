package check

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/alharvest/alharvest/internal/bytesize"
	"github.com/alharvest/alharvest/internal/config"
)

const areaOutput = "output"

// Free-space levels for OUTPUT_DIR beyond OUTPUT_RESERVE, which the
// downloader keeps free: with less than the reserve and failFree above it,
// the first downloads would already halt the downloader.
const (
	warnFree = 10 << 30
	failFree = 512 << 20
)

func checkOutput(cfg *config.Config) []Result {
	dir, err := filepath.Abs(cfg.OutputDir)
	if err != nil {
		return []Result{fail(areaOutput, "directory", errText(err), "set OUTPUT_DIR to a valid path")}
	}
	fi, err := os.Stat(dir)
	var out []Result
	probe := dir
	switch {
	case errors.Is(err, os.ErrNotExist):
		// The downloader creates it; its parent must let it.
		parent := filepath.Dir(dir)
		for {
			if _, err := os.Stat(parent); err == nil || parent == filepath.Dir(parent) {
				break
			}
			parent = filepath.Dir(parent)
		}
		out = append(out, ok(areaOutput, "directory", dir+" does not exist yet: the downloader creates it"))
		probe = parent
	case err != nil:
		return []Result{fail(areaOutput, "directory", errText(err), "check OUTPUT_DIR and its parents' permissions")}
	case !fi.IsDir():
		return []Result{fail(areaOutput, "directory", dir+" is not a directory", "point OUTPUT_DIR at a directory")}
	default:
		out = append(out, ok(areaOutput, "directory", dir))
		perm := fi.Mode().Perm()
		if perm&0o002 != 0 {
			out = append(out, warn(areaOutput, "permissions", fmt.Sprintf("%s: anyone on this host may write there (%v)", dir, perm),
				"chmod o-w "+dir+": another user could plant files under sha256 names"))
		} else {
			out = append(out, ok(areaOutput, "permissions", perm.String()))
		}
	}

	// Writable: create and remove a file, as the downloader will.
	f, err := os.CreateTemp(probe, ".alharvest-check-*")
	if err != nil {
		out = append(out, fail(areaOutput, "writable", errText(err),
			fmt.Sprintf("let user %d write to %s (chown, or ALHARVEST_UID in compose)", os.Getuid(), probe)))
	} else {
		name := f.Name()
		f.Close()
		os.Remove(name)
		out = append(out, ok(areaOutput, "writable", "created and removed a file in "+probe))
	}

	var st unix.Statfs_t
	if err := unix.Statfs(probe, &st); err != nil {
		return append(out, warn(areaOutput, "free space", errText(err), "check the file system holding OUTPUT_DIR"))
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	reserve := max(cfg.OutputReserve, 0)
	d := bytesize.Format(free) + " free"
	if reserve > 0 {
		d += ", " + bytesize.Format(reserve) + " of it kept free (OUTPUT_RESERVE)"
	}
	switch {
	case free < reserve+failFree:
		out = append(out, fail(areaOutput, "free space", d,
			fmt.Sprintf("free space, move OUTPUT_DIR or lower OUTPUT_RESERVE: the downloader halts when a download would leave less than %s", bytesize.Format(reserve))))
	case free < reserve+warnFree:
		out = append(out, warn(areaOutput, "free space", d,
			"less than 10 GiB beyond OUTPUT_RESERVE: check the expected volume with alharvest --dry-run"))
	default:
		out = append(out, ok(areaOutput, "free space", d))
	}
	return out
}
