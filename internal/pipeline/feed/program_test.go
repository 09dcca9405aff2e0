package feed

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/testenv"
)

func sh(script string) []string { return []string{"/bin/sh", "-c", script, "prog"} }

func TestProgramRun(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		timeout time.Duration
		want    string // substring of the error; "" = success
		check   func(t *testing.T, re *RunError)
	}{
		{name: "exit 0", script: `exit 0`},
		{name: "exit status and the last lines of stderr", script: `i=0; while [ $i -lt 30 ]; do echo "line $i" >&2; i=$((i+1)); done; echo "disk full" >&2; exit 3`,
			want: "program exited with status 3; stderr: line 21 | ",
			check: func(t *testing.T, re *RunError) {
				if re.ExitCode != 3 || !strings.HasSuffix(re.Stderr, "line 29 | disk full") || strings.Contains(re.Stderr, "line 20 ") {
					t.Errorf("exit %d, stderr tail %q", re.ExitCode, re.Stderr)
				}
			}},
		{name: "a signal", script: `kill -TERM $$`, want: "killed by signal terminated"},
		{name: "cannot start", script: "", want: "cannot start program"},
		{name: "timeout", script: `echo started >&2; sleep 30`, timeout: 300 * time.Millisecond, want: "timed out",
			check: func(t *testing.T, re *RunError) {
				if !re.TimedOut || re.Stderr != "started" {
					t.Errorf("timed out %t, stderr %q", re.TimedOut, re.Stderr)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Program{Argv: sh(tc.script), Timeout: tc.timeout}
			if tc.name == "cannot start" {
				p.Argv = []string{filepath.Join(t.TempDir(), "no-such-program")}
			}
			err := p.Run(context.Background(), "/x.cart", nil, nil, nil, nil)
			if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run: %v, want %q", err, tc.want)
			}
			if tc.check != nil {
				var re *RunError
				if !errors.As(err, &re) {
					t.Fatalf("%T is not a *RunError", err)
				}
				tc.check(t, re)
			}
		})
	}
}

// The program gets the path as its last argument, the event on stdin and
// the extra environment; its stdout goes where the feed says.
func TestProgramSeesPathStdinAndEnv(t *testing.T) {
	var out testenv.Buffer
	p := Program{Argv: sh(`printf '%s|%s|%s|' "$1" "$ALHARVEST_SHA256" "$EXTRA"; cat`), Env: []string{"EXTRA=x"}}
	err := p.Run(context.Background(), "/dir/f.cart", []byte(`{"a":1}`), []string{"ALHARVEST_SHA256=abc"}, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), `/dir/f.cart|abc|x|{"a":1}`; got != want {
		t.Errorf("program wrote %q, want %q", got, want)
	}
}

// A timeout and a shutdown kill the program's whole process group: a child
// it started in the background dies with it.
func TestProgramKillsItsProcessGroup(t *testing.T) {
	for _, how := range []string{"timeout", "shutdown"} {
		t.Run(how, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "child.pid")
			p := Program{Argv: sh(`sleep 60 & echo $! > "` + pidFile + `"; wait`)}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if how == "timeout" {
				p.Timeout = 500 * time.Millisecond
			} else {
				time.AfterFunc(500*time.Millisecond, cancel)
			}
			start := time.Now()
			err := p.Run(ctx, "/x.cart", nil, nil, nil, nil)
			if took := time.Since(start); took > 20*time.Second {
				t.Errorf("Run returned after %s", took)
			}
			if how == "shutdown" && failure.ActionFor(err) != failure.HandBack {
				t.Errorf("a run stopped by shutdown: %v (%s), want a hand-back", err, failure.ActionFor(err))
			}
			if how == "timeout" && failure.ActionFor(err) != failure.Retry {
				t.Errorf("a timed-out run: %v, want a retry", err)
			}
			b, rerr := os.ReadFile(pidFile)
			if rerr != nil {
				t.Fatal(rerr)
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			testenv.Eventually(t, 5*time.Second, "the background child to be gone", func() bool {
				return syscall.Kill(pid, 0) != nil
			})
		})
	}
}

// A child the program leaves running with stderr open does not hold the
// run once the program exited.
func TestProgramDoesNotWaitForLeftOverChildren(t *testing.T) {
	p := Program{Argv: sh(`(sleep 30 >&2 &) ; exit 0`)}
	start := time.Now()
	if err := p.Run(context.Background(), "/x.cart", nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("Run took %s", took)
	}
}

func TestTailBufferBoundsLines(t *testing.T) {
	tb := &tailBuffer{lines: 4, keep: 2}
	for i := range 1000 {
		tb.Write([]byte("line " + strconv.Itoa(i) + "\n" + strings.Repeat("x", 0)))
	}
	tb.Write([]byte(strings.Repeat("y", 5000)))
	got := tb.String()
	if !strings.HasPrefix(got, "line 999 | yyy") || len(got) > 2*maxTailLine || len(tb.buf) > 4 {
		t.Errorf("tail %q (%d held)", got, len(tb.buf))
	}
}
