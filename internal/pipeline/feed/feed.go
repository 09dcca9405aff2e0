// Package feed hands each collected file to the user's next program,
// durably: `alharvest feed -- CMD [ARG...]` runs `CMD ARG... <path>` once
// per collected event, with the event as JSON on the program's stdin and
// its fields in the program's environment.
//
// The feed is a Handler on the worker loop, like the stages: the worker
// owns consuming the feed's durable consumer on ALHARVEST_COLLECTED,
// acking, retrying with backoff and dead-lettering. This package is the
// job itself: find the file, check that it is the file the event
// announces, run the program, and say what its outcome means.
//
//   - exit status 0 acks the event;
//   - a non-zero exit, a signal or the timeout retries it with backoff,
//     and after MaxAttempts dead-letters it (stage "feed") with the exit
//     status and the last lines of the program's stderr as the reason;
//   - a file that no longer exists, or is not the cART of the event's
//     sha256 and size, is dead-lettered at once: the program never sees it;
//   - a directory that is not there at all (an unmounted volume) halts the
//     feed rather than dead-lettering every event: it probes until the
//     directory is back.
//
// Delivery is at least once: a file is acked only after its program
// exited 0, so a feed or host that dies while a program runs hands the
// same file again after a restart.
package feed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/alharvest/alharvest/internal/cart"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/pkg/messages"
)

// Observer receives the feed's events, for metrics.
type Observer interface {
	// Ran reports one finished run of the program: result is "ok",
	// "failed" (non-zero exit or signal), "timeout" or "start" (could not
	// be started).
	Ran(result string, took time.Duration)
	// Refused reports an event dead-lettered before any run: reason is
	// "missing" (no file) or "unverified" (not the announced cART).
	Refused(reason string)
	// Running changes the number of programs running now.
	Running(delta int)
}

type nopObserver struct{}

func (nopObserver) Ran(string, time.Duration) {}
func (nopObserver) Refused(string)            {}
func (nopObserver) Running(int)               {}

// Config configures a Handler.
type Config struct {
	// Program is what runs on each file.
	Program Program
	// OutputDir, when set, is where the feed finds the files: the event's
	// path is ignored and the file is OutputDir/<sha256>.cart, so a feed in
	// another container or host than the downloader reads its own mount of
	// the directory, and no event can point it anywhere else. Empty: the
	// event's path, which must be absolute and end in /<sha256>.cart.
	OutputDir string
	// Durable is the feed's consumer name, given to the program as
	// ALHARVEST_FEED.
	Durable string
	// Stdout and Stderr receive the program's output (default: discarded).
	// The last lines of its stderr are also kept for a failure's reason.
	Stdout, Stderr io.Writer
	// Observer defaults to a no-op.
	Observer Observer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Handler runs the program on each collected event: a worker.Handler.
type Handler struct {
	cfg Config
}

var _ worker.Handler[messages.Collected] = (*Handler)(nil)

// New returns a Handler for cfg. The program must be named.
func New(cfg Config) (*Handler, error) {
	if len(cfg.Program.Argv) == 0 || cfg.Program.Argv[0] == "" {
		return nil, errors.New("feed: no program to run (alharvest feed [flags] -- CMD [ARG...])")
	}
	if cfg.OutputDir != "" {
		abs, err := filepath.Abs(cfg.OutputDir)
		if err != nil {
			return nil, fmt.Errorf("feed: output directory: %w", err)
		}
		cfg.OutputDir = abs
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg}, nil
}

// Decode parses and validates a collected event; one that does not decode
// is dead-lettered with the reason.
func (h *Handler) Decode(m *worker.Message) (messages.Collected, error) {
	return messages.DecodeCollected(m.Data)
}

// LogAttrs names the file.
func (h *Handler) LogAttrs(c messages.Collected) []slog.Attr {
	return []slog.Attr{slog.String("sha256", c.SHA256), slog.String("sid", c.SID)}
}

// Handle checks the file and runs the program on it. It produces no
// messages: the program's exit status is the outcome.
func (h *Handler) Handle(ctx context.Context, c messages.Collected, m *worker.Message) ([]*nats.Msg, error) {
	path, err := h.Path(c)
	if err != nil {
		return nil, err
	}
	if err := h.check(path, c); err != nil {
		return nil, err
	}
	h.cfg.Observer.Running(1)
	defer h.cfg.Observer.Running(-1)
	start := time.Now()
	err = h.cfg.Program.Run(ctx, path, m.Data, Env(c, path, h.cfg.Durable, m.Attempt), h.cfg.Stdout, h.cfg.Stderr)
	took := time.Since(start)
	var re *RunError
	switch {
	case err == nil:
		h.cfg.Observer.Ran("ok", took)
		return nil, nil
	case errors.As(err, &re) && re.TimedOut:
		h.cfg.Observer.Ran("timeout", took)
		return nil, failure.Errorf(failure.Timeout, "after %s: %w", h.cfg.Program.Timeout, err)
	case errors.As(err, &re) && re.StartErr != nil:
		h.cfg.Observer.Ran("start", took)
		return nil, err
	case errors.As(err, &re):
		h.cfg.Observer.Ran("failed", took)
		return nil, err
	default: // shutdown: handed back (Canceled)
		return nil, err
	}
}

// Path returns where the feed reads the event's file: OutputDir/<sha256>.cart
// when OutputDir is set, otherwise the event's own path, which must be
// absolute, clean, and named <sha256>.cart.
func (h *Handler) Path(c messages.Collected) (string, error) {
	name := c.SHA256 + ".cart" // 64 lowercase hex characters: never a path of its own
	dir := h.cfg.OutputDir
	if dir == "" {
		p := c.Path
		if !filepath.IsAbs(p) || filepath.Clean(p) != p || filepath.Base(p) != name {
			return "", failure.Errorf(failure.Invalid, "event path %q is not an absolute <dir>/%s; run the feed with --output-dir to read the file from a directory of its own", printable(p), name)
		}
		dir = filepath.Dir(p)
	}
	// A directory that is not there is the feed's problem (a volume not
	// mounted, the wrong --output-dir), not the event's: every event would
	// fail alike, so the feed halts and probes instead of dead-lettering.
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return "", failure.Errorf(failure.Storage, "directory of collected files %s unusable: %w (mount it, or map it with --output-dir)", dir, err)
	}
	return filepath.Join(dir, name), nil
}

// check makes sure path is the regular file the event announces: its size,
// and a verified cART of its sha256.
func (h *Handler) check(path string, c messages.Collected) error {
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		h.cfg.Observer.Refused("missing")
		return failure.Errorf(failure.NotFound, "collected file %s no longer exists", path)
	case err != nil:
		return fmt.Errorf("collected file %s: %w", path, err)
	case !st.Mode().IsRegular():
		h.cfg.Observer.Refused("unverified")
		return failure.Errorf(failure.Invalid, "collected file %s is not a regular file (%s)", path, st.Mode().Type())
	case c.Size > 0 && st.Size() != c.Size:
		h.cfg.Observer.Refused("unverified")
		return failure.Errorf(failure.Invalid, "collected file %s is %d bytes, the event says %d", path, st.Size(), c.Size)
	}
	if _, err := cart.VerifyFile(path, c.SHA256); err != nil {
		if errors.Is(err, cart.ErrCorrupt) {
			h.cfg.Observer.Refused("unverified")
			return failure.Errorf(failure.Invalid, "collected file %s fails verification: %w", path, err)
		}
		if errors.Is(err, fs.ErrPermission) {
			return failure.Errorf(failure.Storage, "collected file %s: %w", path, err)
		}
		if errors.Is(err, fs.ErrNotExist) {
			h.cfg.Observer.Refused("missing")
			return failure.Errorf(failure.NotFound, "collected file %s no longer exists", path)
		}
		return fmt.Errorf("verify %s: %w", path, err)
	}
	return nil
}

// Env returns the variables a program run gets: ALHARVEST_SHA256,
// ALHARVEST_PATH (where the feed found the file), ALHARVEST_SID,
// ALHARVEST_SCORE, ALHARVEST_SIZE, ALHARVEST_FEED, ALHARVEST_ATTEMPT, and
// those of the provenance fields the event sets: ALHARVEST_SERVER,
// ALHARVEST_TYPE, ALHARVEST_COMPLETED, ALHARVEST_COLLECTED_AT (RFC 3339)
// and ALHARVEST_NAMES (one name a line; names never contain a newline).
func Env(c messages.Collected, path, durable string, attempt int) []string {
	env := []string{
		"ALHARVEST_SHA256=" + c.SHA256,
		"ALHARVEST_PATH=" + path,
		"ALHARVEST_SID=" + c.SID,
		"ALHARVEST_SCORE=" + strconv.FormatInt(c.Score, 10),
		"ALHARVEST_SIZE=" + strconv.FormatInt(c.Size, 10),
		"ALHARVEST_FEED=" + durable,
		"ALHARVEST_ATTEMPT=" + strconv.Itoa(attempt),
	}
	add := func(k, v string) {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	add("ALHARVEST_SERVER", c.Server)
	add("ALHARVEST_TYPE", c.Type)
	if !c.Completed.IsZero() {
		add("ALHARVEST_COMPLETED", c.Completed.UTC().Format(time.RFC3339Nano))
	}
	if !c.CollectedAt.IsZero() {
		add("ALHARVEST_COLLECTED_AT", c.CollectedAt.UTC().Format(time.RFC3339Nano))
	}
	add("ALHARVEST_NAMES", strings.Join(c.Names, "\n"))
	return env
}

// printable shortens and cleans an event's text for a reason.
func printable(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
