// Package downloader is the last stage: for each qualifying file it makes
// sure OUTPUT_DIR/<sha256>.cart exists and is a verified cART of exactly that
// file, and announces it on alharvest.collected.
//
// A file reaches its final name only by an atomic rename of a temporary file
// that was fully downloaded, verified and fsynced in the same directory, so a
// reader of OUTPUT_DIR never sees a partial or corrupt file, whatever dies
// and whenever.
package downloader

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/alharvest/alharvest/internal/cart"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/pkg/messages"
)

// Permissions of what the downloader creates: collected files are malware,
// so nobody but the owner and its group reads them and nobody executes them.
const (
	DirPerm  fs.FileMode = 0o750
	FilePerm fs.FileMode = 0o640
)

// Fetcher is the part of Assemblyline the downloader reads.
type Fetcher interface {
	// Download streams the cART encoding of a file to consume, calling it
	// again from the start if the connection breaks mid-way.
	Download(ctx context.Context, sha256 string, consume func(body io.Reader, size int64) error) error
}

// Observer is told what happened to each file (metrics, reports).
type Observer interface {
	// Collected reports a file written now (fresh) or found already in place.
	Collected(size int64, fresh bool)
	// VerifyFailed reports a downloaded body that failed cART verification.
	VerifyFailed()
}

// Config tunes the downloader.
type Config struct {
	// OutputDir receives <sha256>.cart files (OUTPUT_DIR).
	OutputDir string
	// Metadata also writes <sha256>.json, the collected event, beside each
	// cART (OUTPUT_METADATA).
	Metadata bool
	// Reserve is the free space kept on OUTPUT_DIR's file system
	// (OUTPUT_RESERVE): a download that would leave less halts the stage
	// (failure.Storage) until space is freed, rather than filling the disk
	// — and the JetStream store on it — to the last byte. Zero: no reserve.
	Reserve  int64
	Logger   *slog.Logger
	Observer Observer
}

// Downloader is the worker.Handler of the files queue.
type Downloader struct {
	al        Fetcher
	dir       string // absolute
	cfg       Config
	dirSync   *dirSyncer
	anonymous bool      // unnamed temporary files work in dir
	files     fileLocks // one handler per hash at a time
	// short is the length of the latest download refused for want of
	// space; 0 when none is pending.
	short atomic.Int64
}

var _ worker.Handler[messages.File] = (*Downloader)(nil)

// New creates OUTPUT_DIR if needed and returns a downloader writing there.
func New(al Fetcher, cfg Config) (*Downloader, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.OutputDir == "" {
		return nil, errors.New("downloader: no output directory")
	}
	dir, err := filepath.Abs(cfg.OutputDir)
	if err != nil {
		return nil, fmt.Errorf("downloader: output directory: %w", err)
	}
	if err := os.MkdirAll(dir, DirPerm); err != nil {
		return nil, fmt.Errorf("downloader: create output directory: %w", err)
	}
	d := &Downloader{al: al, dir: dir, cfg: cfg, dirSync: newDirSyncer(dir)}
	// Fail at start, not on the first file, when the directory is not ours
	// to write; and find out whether unnamed temporary files can be linked
	// into place here (they need O_TMPFILE and /proc).
	named, err := createNamed(dir, "write-check")
	if err != nil {
		return nil, fmt.Errorf("downloader: output directory %s is not writable: %w", dir, err)
	}
	(&tempFile{f: named}).release()
	d.anonymous = anonymousWorks(dir)
	return d, nil
}

// Dir returns the absolute output directory.
func (d *Downloader) Dir() string { return d.dir }

// Decode reads a files message.
func (d *Downloader) Decode(m *worker.Message) (messages.File, error) {
	return messages.DecodeFile(m.Data)
}

// LogAttrs names the file, for the worker's logs.
func (d *Downloader) LogAttrs(req messages.File) []slog.Attr {
	return []slog.Attr{slog.String("sha256", req.SHA256), slog.String("sid", req.SID)}
}

// Handle collects one file.
func (d *Downloader) Handle(ctx context.Context, req messages.File, m *worker.Message) ([]*nats.Msg, error) {
	final, err := d.path(req.SHA256)
	if err != nil {
		return nil, failure.Wrap(failure.Invalid, err)
	}
	log := d.cfg.Logger.With("sha256", req.SHA256, "sid", req.SID, "attempt", m.Attempt)
	defer d.files.lock(req.SHA256)()

	size, present, err := d.present(final, req.SHA256, log)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", req.SHA256, err)
	}
	if !present {
		// Before asking Assemblyline for anything: a halted stage probes
		// by handling its message again, and this is all a probe costs
		// while the disk stays full.
		if err := d.checkSpace(d.short.Load()); err != nil {
			return nil, fmt.Errorf("file %s: %w", req.SHA256, err)
		}
		d.short.Store(0)
		if size, err = d.fetch(ctx, req.SHA256, final); err != nil {
			return nil, fmt.Errorf("file %s: %w", req.SHA256, err)
		}
		log.Info("collected", "size", size)
	} else {
		log.Debug("already present", "size", size)
	}
	if d.cfg.Observer != nil {
		d.cfg.Observer.Collected(size, !present)
	}

	// Announced even when already present: a previous run may have died
	// between the rename and the announcement; JetStream drops the repeat.
	collected := messages.Collected{
		SHA256: req.SHA256, Path: final, Size: size, Score: req.Score, SID: req.SID,
		Provenance: req.Provenance, CollectedAt: time.Now().UTC(),
	}
	ev, err := messages.NewCollectedMsg(collected)
	if err != nil {
		return nil, failure.Wrap(failure.Invalid, err)
	}
	if d.cfg.Metadata {
		if err := d.writeMetadata(collected, !present); err != nil {
			return nil, fmt.Errorf("file %s: %w", req.SHA256, err)
		}
	}
	return []*nats.Msg{ev}, nil
}

// path returns OUTPUT_DIR/<sha256>.cart, refusing anything that would not
// land directly inside OUTPUT_DIR.
func (d *Downloader) path(sha string) (string, error) {
	if err := messages.ValidateSHA256(sha); err != nil {
		return "", err
	}
	p := filepath.Join(d.dir, sha+".cart")
	if filepath.Dir(p) != d.dir {
		return "", fmt.Errorf("%w: %q escapes the output directory", messages.ErrInvalid, sha)
	}
	return p, nil
}

// errNotOurs: what sits at a final name is not a file the downloader may
// verify and keep (a symlink, FIFO, device, directory, or a hard link).
var errNotOurs = errors.New("not a regular file of its own")

// present reports whether final already holds a verified cART of sha, and
// if so makes it durable. Everything goes through one descriptor opened
// without following a symlink or blocking on a FIFO (openExisting): a
// symlink or other non-regular file never counts and is replaced.
func (d *Downloader) present(final, sha string, log *slog.Logger) (int64, bool, error) {
	f, st, err := openExisting(final)
	if err != nil {
		if failure.ActionFor(err) == failure.Halt {
			// Out of descriptors, say: whatever is there, this process
			// cannot look, and would not get further downloading it.
			return 0, false, err
		}
		if !errors.Is(err, fs.ErrNotExist) {
			log.Warn("output path is not a regular file of ours; replacing it", "err", err)
		}
		return 0, false, nil
	}
	defer f.Close()
	info, err := cart.Verify(f, sha)
	if err != nil {
		if failure.ActionFor(err) == failure.Halt {
			return 0, false, fmt.Errorf("read existing file: %w", err)
		}
		log.Warn("existing file fails verification; downloading again", "err", err)
		return 0, false, nil
	}
	if err := exactMode(f, st); err != nil {
		log.Warn("cannot restrict permissions of existing file", "err", err)
	}
	// Make sure it is on disk before acking: a predecessor may have died
	// between linking the file and syncing the directory.
	if err := f.Sync(); err != nil {
		return 0, false, diskError(fmt.Errorf("fsync %s: %w", final, err))
	}
	if err := d.dirSync.sync(); err != nil {
		return 0, false, diskError(fmt.Errorf("fsync %s: %w", d.dir, err))
	}
	return info.Size, true, nil
}

// exactMode gives a file found at a final name exactly FilePerm. Put by
// someone else, it may be executable, world-readable or setuid: it is
// malware, so it ends with the mode the downloader gives its own files.
func exactMode(f *os.File, st fs.FileInfo) error {
	const bits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky
	if st.Mode()&bits == FilePerm {
		return nil
	}
	return f.Chmod(FilePerm)
}

// fetch downloads into a temporary file next to final, verifies it while it
// streams, makes it durable, and renames it into place.
func (d *Downloader) fetch(ctx context.Context, sha, final string) (int64, error) {
	tmp, err := d.createTemp(sha)
	if err != nil {
		return 0, diskError(fmt.Errorf("create temporary file: %w", err))
	}
	defer tmp.release()

	var size int64
	err = d.al.Download(ctx, sha, func(body io.Reader, length int64) error {
		if total, ok := capacity(d.dir); ok && length > total {
			// It could never fit, however much space is freed: this file's
			// problem, not a full disk to wait out.
			return failure.Errorf(failure.TooLarge, "the cART is %d bytes, more than the whole output file system (%d bytes)", length, total)
		}
		if err := d.checkSpace(max(length, 0)); err != nil {
			// Remembered, so that halt probes wait for this much space
			// without asking Assemblyline again.
			d.short.Store(length)
			return err
		}
		if err := tmp.reset(); err != nil {
			return err
		}
		w := writerPool.Get().(*bufio.Writer)
		defer writerPool.Put(w)
		w.Reset(storageWriter{tmp.f})
		info, err := cart.Verify(io.TeeReader(body, w), sha)
		if err != nil {
			if failure.KindOf(err) == failure.Corrupt && d.cfg.Observer != nil {
				d.cfg.Observer.VerifyFailed()
			}
			return err
		}
		if err := w.Flush(); err != nil {
			return err // already a Storage error
		}
		size = info.Size
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := tmp.commit(final); err != nil {
		return 0, err
	}
	// The rename is on disk only once the directory is: without this a
	// power cut could lose a file whose message was already acked.
	if err := d.dirSync.sync(); err != nil {
		return 0, diskError(fmt.Errorf("fsync %s: %w", d.dir, err))
	}
	return size, nil
}

// checkSpace fails with failure.Storage (the stage halts, and resumes once
// a probe finds space) when writing need more bytes would leave less than
// the reserve free on OUTPUT_DIR's file system. It reads free space
// (statfs f_bavail), not the file system's size.
func (d *Downloader) checkSpace(need int64) error {
	if d.cfg.Reserve <= 0 {
		return nil
	}
	free, ok := available(d.dir)
	if !ok || free-need >= d.cfg.Reserve {
		return nil
	}
	return failure.Errorf(failure.Storage, "output directory %s is nearly full: %d bytes free, a download of %d bytes would leave less than the %d bytes kept free (OUTPUT_RESERVE); free space there and the downloader resumes by itself",
		d.dir, free, need, d.cfg.Reserve)
}

// writerPool recycles the write buffers of downloads.
var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 256<<10) }}

// storageWriter tags write errors with diskError.
type storageWriter struct{ f *os.File }

func (w storageWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		err = diskError(fmt.Errorf("write temporary file: %w", err))
	}
	return n, err
}

// diskError classifies a local file-system error. A forbidden or failing
// disk fails every file alike, so the stage halts (Storage) until an
// operator fixes it; anything else — say a directory squatting on a file's
// final name — concerns one file and is retried, then dead-lettered. (A
// full or read-only disk, or a process out of descriptors, is classified by
// failure.KindOf wherever it is met; EACCES, EPERM and EIO mean the disk
// only here, where the call is known to have touched it.)
func diskError(err error) error {
	for _, errno := range []syscall.Errno{syscall.EACCES, syscall.EPERM, syscall.EIO} {
		if errors.Is(err, errno) {
			return failure.Wrap(failure.Storage, err)
		}
	}
	return err
}
