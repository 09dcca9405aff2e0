package downloader

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// CleanTemp removes temporary files that no live downloader holds: leftovers
// of a process that was killed mid-download. Replicas sharing the directory
// on one host keep each other's files because those are locked.
func CleanTemp(dir string, log *slog.Logger) (removed int, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, tempPrefix) || !strings.HasSuffix(name, ".part") {
			continue
		}
		p := filepath.Join(dir, name)
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if tryLockFile(f) {
			if err := os.Remove(p); err == nil {
				removed++
				if log != nil {
					log.Info("removed abandoned temporary file", "file", name)
				}
			}
		}
		f.Close()
	}
	return removed, nil
}
