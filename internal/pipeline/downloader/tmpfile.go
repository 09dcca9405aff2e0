package downloader

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// tempPrefix marks the downloader's temporary files in OUTPUT_DIR.
const tempPrefix = ".alharvest-"

// tempFile is a download in progress: an unnamed (O_TMPFILE) file where the
// file system supports it, else a hidden named file in OUTPUT_DIR that its
// owner keeps locked, so a cleanup can tell abandoned temporaries from live
// ones.
type tempFile struct {
	f         *os.File
	dir, sha  string
	anonymous bool
	committed bool
}

// createTemp starts a download of sha: unnamed when the output directory
// allows it (nothing to clean up after a crash), else named and locked.
func (d *Downloader) createTemp(sha string) (*tempFile, error) {
	if d.anonymous {
		if f, err := openAnonymous(d.dir); err == nil {
			// Locked too: if its final name is taken, commit gives it a
			// temporary .part name for a moment, which a replica starting
			// up must not mistake for an abandoned file.
			if err := lockFile(f); err == nil {
				return &tempFile{f: f, dir: d.dir, sha: sha, anonymous: true}, nil
			}
			f.Close()
		}
	}
	f, err := createNamed(d.dir, sha)
	if err != nil {
		return nil, err
	}
	return &tempFile{f: f, dir: d.dir, sha: sha}, nil
}

// anonymousWorks reports whether an unnamed file can be created in dir and
// linked into place.
func anonymousWorks(dir string) bool {
	f, err := openAnonymous(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	probe := filepath.Join(dir, fmt.Sprintf("%sprobe-%d.part", tempPrefix, time.Now().UnixNano()))
	if err := linkAnonymous(f, probe); err != nil {
		return false
	}
	os.Remove(probe)
	return true
}

// createNamed creates a locked, hidden temporary file in dir.
func createNamed(dir, sha string) (*os.File, error) {
	f, err := os.CreateTemp(dir, tempPrefix+sha+"-*.part")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(FilePerm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// reset empties the file for another try: a download that broke mid-way
// starts again from the first byte.
func (t *tempFile) reset() error {
	if err := t.f.Truncate(0); err != nil {
		return diskError(fmt.Errorf("truncate temporary file: %w", err))
	}
	if _, err := t.f.Seek(0, io.SeekStart); err != nil {
		return diskError(fmt.Errorf("rewind temporary file: %w", err))
	}
	return nil
}

// commit fsyncs the file and gives it its final name atomically, so after
// a crash the file is either absent or complete under that name.
func (t *tempFile) commit(final string) error {
	if err := t.f.Sync(); err != nil {
		return diskError(fmt.Errorf("fsync %s: %w", t.f.Name(), err))
	}
	if t.anonymous {
		err := linkAnonymous(t.f, final)
		if err == nil {
			t.committed = true
			return nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return diskError(fmt.Errorf("link into place: %w", err))
		}
		// Something (an invalid file, or another replica's copy) holds the
		// name: link under a temporary name, then rename over it.
		named := filepath.Join(t.dir, fmt.Sprintf("%s%s-%d.part", tempPrefix, t.sha, time.Now().UnixNano()))
		if err := linkAnonymous(t.f, named); err != nil {
			return diskError(fmt.Errorf("link into place: %w", err))
		}
		if err := os.Rename(named, final); err != nil {
			os.Remove(named)
			return diskError(fmt.Errorf("rename into place: %w", err))
		}
		t.committed = true
		return nil
	}
	if err := os.Rename(t.f.Name(), final); err != nil {
		return diskError(fmt.Errorf("rename into place: %w", err))
	}
	t.committed = true
	return nil
}

// release closes the file and, unless it was committed, removes it.
func (t *tempFile) release() {
	name := t.f.Name()
	t.f.Close() // also drops the lock; an unnamed file simply vanishes
	if !t.committed && !t.anonymous {
		os.Remove(name)
	}
}
