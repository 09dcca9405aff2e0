package feed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Program is the user's command, run once per collected file.
type Program struct {
	// Argv is the command and its arguments; the file's path is appended.
	Argv []string
	// Timeout bounds one run; 0 means none. At the timeout the program's
	// whole process group is killed.
	Timeout time.Duration
	// Env is added to the feed's own environment for every run.
	Env []string
	// TailLines is how many of the last lines of stderr a failure reports
	// (default 10).
	TailLines int
}

// RunError is a run that did not exit 0: its exit status (or the signal
// that ended it, or the timeout) and the last lines of its stderr.
type RunError struct {
	// ExitCode is the program's exit status; -1 when a signal ended it or
	// it could not be started.
	ExitCode int
	// Signal names the signal that ended the program, if one did.
	Signal string
	// TimedOut is set when the feed killed the program at its timeout.
	TimedOut bool
	// StartErr is why the program could not be started at all.
	StartErr error
	// Stderr holds the last lines the program wrote to its stderr.
	Stderr string
}

func (e *RunError) Error() string {
	var b strings.Builder
	switch {
	case e.StartErr != nil:
		fmt.Fprintf(&b, "cannot start program: %v", e.StartErr)
	case e.TimedOut:
		b.WriteString("program timed out and was killed")
	case e.Signal != "":
		fmt.Fprintf(&b, "program killed by signal %s", e.Signal)
	default:
		fmt.Fprintf(&b, "program exited with status %d", e.ExitCode)
	}
	if s := strings.TrimSpace(e.Stderr); s != "" {
		fmt.Fprintf(&b, "; stderr: %s", s)
	}
	return b.String()
}

// Run runs the program on path with stdin as its standard input and extra
// added to its environment. Its stdout goes to out (the feed's own log
// stream); the tail of its stderr is kept for the error and also copied
// to errOut. When ctx ends or the timeout passes, the program's process
// group is killed and Run waits for it: no child outlives the run.
func (p Program) Run(ctx context.Context, path string, stdin []byte, extra []string, out, errOut io.Writer) error {
	parent := ctx
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	argv := append(append([]string(nil), p.Argv[1:]...), path)
	cmd := exec.CommandContext(ctx, p.Argv[0], argv...)
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Env = append(append(os.Environ(), p.Env...), extra...)
	if out == nil {
		out = io.Discard
	}
	keep := p.TailLines
	if keep <= 0 {
		keep = 10
	}
	tail := &tailBuffer{lines: 2 * keep, keep: keep}
	cmd.Stdout = out
	if errOut != nil {
		cmd.Stderr = io.MultiWriter(tail, errOut)
	} else {
		cmd.Stderr = tail
	}
	ownGroup(cmd) // and cmd.Cancel kills the group when ctx ends
	// A child the program left running with our stdout or stderr open
	// must not hold the run past the program's own exit.
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		if errors.Is(context.Cause(ctx), context.DeadlineExceeded) && parent.Err() == nil {
			return &RunError{ExitCode: -1, TimedOut: true, Stderr: tail.String()}
		}
		return fmt.Errorf("program stopped: %w", parent.Err())
	}
	re := &RunError{ExitCode: -1, Stderr: tail.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		re.ExitCode = ee.ExitCode()
		re.Signal = signalOf(ee)
	} else if !errors.Is(err, exec.ErrWaitDelay) {
		re.StartErr = err
	} else {
		return nil // exited 0; a left-over child kept an output open
	}
	return re
}

// tailBuffer keeps the last lines written to it, each cut to a bounded
// length, so a chatty program cannot grow the feed's memory.
type tailBuffer struct {
	mu    sync.Mutex
	lines int // lines held before trimming to keep
	keep  int
	buf   []string
	cur   []byte
}

const maxTailLine = 400

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range p {
		if c == '\n' {
			t.push()
			continue
		}
		if len(t.cur) < maxTailLine {
			t.cur = append(t.cur, c)
		}
	}
	return len(p), nil
}

func (t *tailBuffer) push() {
	t.buf = append(t.buf, strings.TrimRight(strings.ToValidUTF8(string(t.cur), "\uFFFD"), "\r"))
	t.cur = t.cur[:0]
	if len(t.buf) > t.lines {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.keep:]...)
	}
}

// String returns the kept lines, the last keep of them, joined by " | "
// (a dead letter's reason is one header line).
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := t.buf
	if len(t.cur) > 0 {
		lines = append(lines[:len(lines):len(lines)], strings.ToValidUTF8(string(t.cur), "\uFFFD"))
	}
	var kept []string
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			kept = append(kept, l)
		}
	}
	if len(kept) > t.keep {
		kept = kept[len(kept)-t.keep:]
	}
	return strings.Join(kept, " | ")
}
