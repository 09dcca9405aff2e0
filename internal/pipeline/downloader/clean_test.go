package downloader

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/alharvest/alharvest/internal/failure"
)

func TestCleanTempRemovesOnlyAbandonedFiles(t *testing.T) {
	dir := t.TempDir()
	sha := strings.Repeat("ab", 32)

	lf, err := createNamed(dir, sha)
	if err != nil {
		t.Fatal(err)
	}
	live := &tempFile{f: lf, dir: dir, sha: sha}
	defer live.release()

	// A temporary nobody holds: what a killed downloader leaves behind.
	abandoned := filepath.Join(dir, tempPrefix+sha+"-123.part")
	if err := os.WriteFile(abandoned, []byte("partial"), 0o640); err != nil {
		t.Fatal(err)
	}
	// Files that are not ours stay whatever their name looks like.
	keep := []string{sha + ".cart", "notes.txt", tempPrefix + "x.partial", "x.part"}
	for _, k := range keep {
		if err := os.WriteFile(filepath.Join(dir, k), nil, 0o640); err != nil {
			t.Fatal(err)
		}
	}

	n, err := CleanTemp(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("removed %d files, want 1", n)
	}
	if _, err := os.Stat(abandoned); !os.IsNotExist(err) {
		t.Error("abandoned temporary file still there")
	}
	if _, err := os.Stat(live.f.Name()); err != nil {
		t.Errorf("live temporary file removed: %v", err)
	}
	for _, k := range keep {
		if _, err := os.Stat(filepath.Join(dir, k)); err != nil {
			t.Errorf("%s removed: %v", k, err)
		}
	}
}

// TestCleanTempKeepsALiveUnnamedDownload covers the moment an unnamed
// download whose final name is taken has a .part name before the rename.
func TestCleanTempKeepsALiveUnnamedDownload(t *testing.T) {
	dir := t.TempDir()
	d, err := New(nil, Config{OutputDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !d.anonymous {
		t.Skip("no O_TMPFILE here")
	}
	sha := strings.Repeat("ef", 32)
	tmp, err := d.createTemp(sha)
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.release()
	named := filepath.Join(dir, tempPrefix+sha+"-1.part")
	if err := linkAnonymous(tmp.f, named); err != nil {
		t.Fatal(err)
	}
	if n, err := CleanTemp(dir, nil); n != 0 || err != nil {
		t.Errorf("CleanTemp removed %d (err %v), want 0", n, err)
	}
	if _, err := os.Stat(named); err != nil {
		t.Errorf("live download's temporary name removed: %v", err)
	}
}

func TestCleanTempMissingDir(t *testing.T) {
	if n, err := CleanTemp(filepath.Join(t.TempDir(), "nope"), nil); n != 0 || err != nil {
		t.Errorf("got %d, %v", n, err)
	}
}

func TestPathStaysInsideOutputDir(t *testing.T) {
	d, err := New(nil, Config{OutputDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	good := strings.Repeat("0f", 32)
	p, err := d.path(good)
	if err != nil || filepath.Dir(p) != d.Dir() || filepath.Base(p) != good+".cart" {
		t.Fatalf("path(%s) = %s, %v", good, p, err)
	}
	for _, bad := range []string{
		"../../etc/passwd",
		"../../../../../../../../../../../../../../../../../../etc/passwd",
		strings.ToUpper(good),
		good[:63], good + "0",
		good[:30] + "/" + good[31:],
		good[:30] + "\x00" + good[31:],
		"",
	} {
		if p, err := d.path(bad); err == nil {
			t.Errorf("path(%q) = %s, want an error", bad, p)
		}
	}
}

func TestOutputDirIsCreatedRestrictive(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "collected")
	old := umask(0)
	defer umask(old)
	if _, err := New(nil, Config{OutputDir: dir}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm&0o007 != 0 {
		t.Errorf("output directory mode %v is open to others", perm)
	}
}

func TestDiskErrorClassification(t *testing.T) {
	tests := []struct {
		err  error
		want failure.Action
	}{
		{&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, failure.Halt},
		{&os.PathError{Op: "open", Path: "x", Err: syscall.EROFS}, failure.Halt},
		{&os.PathError{Op: "open", Path: "x", Err: syscall.EACCES}, failure.Halt},
		{&os.LinkError{Op: "rename", Old: "a", New: "b", Err: syscall.EEXIST}, failure.Retry},
		{&os.LinkError{Op: "rename", Old: "a", New: "b", Err: syscall.EISDIR}, failure.Retry},
	}
	for _, tc := range tests {
		if got := failure.ActionFor(diskError(fmt.Errorf("wrapped: %w", tc.err))); got != tc.want {
			t.Errorf("%v: action %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestUnwritableOutputDirFailsAtStart(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes anywhere; permission bits cannot make a directory unwritable")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if _, err := New(nil, Config{OutputDir: dir}); err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Errorf("New on a read-only directory: %v", err)
	}
}

// TestTemporaryFiles covers both kinds of temporary file: unnamed
// (O_TMPFILE) where available, and hidden named files elsewhere.
func TestTemporaryFiles(t *testing.T) {
	for _, anonymous := range []bool{true, false} {
		t.Run(fmt.Sprintf("anonymous=%t", anonymous), func(t *testing.T) {
			dir := t.TempDir()
			d, err := New(nil, Config{OutputDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if anonymous && !d.anonymous {
				t.Skip("no O_TMPFILE here")
			}
			d.anonymous = anonymous
			sha := strings.Repeat("cd", 32)
			final := filepath.Join(dir, sha+".cart")

			// Abandoned: nothing may stay behind (named files are removed
			// on release; a crash is what CleanTemp is for).
			tmp, err := d.createTemp(sha)
			if err != nil {
				t.Fatal(err)
			}
			tmp.f.Write([]byte("partial"))
			tmp.release()
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("left behind: %v", entries)
			}

			// Committed, then committed again over an existing file.
			for _, content := range []string{"first", "second"} {
				tmp, err := d.createTemp(sha)
				if err != nil {
					t.Fatal(err)
				}
				tmp.f.Write([]byte(content))
				if err := tmp.commit(final); err != nil {
					t.Fatal(err)
				}
				tmp.release()
				if got, _ := os.ReadFile(final); string(got) != content {
					t.Fatalf("final holds %q, want %q", got, content)
				}
				st, _ := os.Stat(final)
				if st.Mode().Perm() != FilePerm {
					t.Errorf("mode %v, want %v whatever the umask", st.Mode().Perm(), FilePerm)
				}
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("want only the final file, have %v", entries)
			}
		})
	}
}
