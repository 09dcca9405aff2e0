package downloader

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/pkg/messages"
)

// MetadataPath is where OUTPUT_METADATA puts a file's provenance: beside
// its cART, as <sha256>.json.
func MetadataPath(cartPath string) string {
	return strings.TrimSuffix(cartPath, ".cart") + ".json"
}

// writeMetadata writes ev as <sha256>.json beside the cART, with the same
// care as the cART itself: a hidden, locked temporary file in OUTPUT_DIR,
// fsynced, renamed into place, directory fsynced. A reader never sees a
// partial file; a crash leaves the old one or none. Unless fresh (the cART
// was just written), an existing metadata file is kept — if it is a
// regular file of its own (see openExisting), given exactly FilePerm;
// anything else there (a symlink, a hard link, a FIFO) is replaced, never
// followed.
func (d *Downloader) writeMetadata(ev messages.Collected, fresh bool) error {
	final := MetadataPath(ev.Path)
	if !fresh {
		f, st, err := openExisting(final)
		if err == nil {
			defer f.Close()
			if err := exactMode(f, st); err != nil {
				return diskError(fmt.Errorf("metadata: chmod %s: %w", filepath.Base(final), err))
			}
			return nil
		}
		if failure.ActionFor(err) == failure.Halt {
			return fmt.Errorf("metadata: open %s: %w", filepath.Base(final), err)
		}
	}
	body, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		return err
	}
	f, err := createNamed(d.dir, ev.SHA256)
	if err != nil {
		return diskError(fmt.Errorf("metadata: %w", err))
	}
	tmp := &tempFile{f: f, dir: d.dir, sha: ev.SHA256}
	defer tmp.release()
	if _, err := f.Write(append(body, '\n')); err != nil {
		return diskError(fmt.Errorf("metadata: write %s: %w", filepath.Base(final), err))
	}
	if err := f.Sync(); err != nil {
		return diskError(fmt.Errorf("metadata: fsync %s: %w", filepath.Base(final), err))
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return diskError(fmt.Errorf("metadata: rename to %s: %w", filepath.Base(final), err))
	}
	tmp.committed = true
	if err := d.dirSync.sync(); err != nil {
		return diskError(fmt.Errorf("fsync %s: %w", d.dir, err))
	}
	return nil
}
