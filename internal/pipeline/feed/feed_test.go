package feed

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/cart"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// writeCart writes content as dir/<sha256>.cart and returns its event.
func writeCart(t testing.TB, dir string, content string) messages.Collected {
	t.Helper()
	sum := sha256.Sum256([]byte(content))
	sha := hex.EncodeToString(sum[:])
	var b bytes.Buffer
	if _, err := cart.Pack(&b, strings.NewReader(content), nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, sha+".cart")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return messages.Collected{SHA256: sha, Path: path, Size: int64(b.Len()), Score: 7100, SID: "4EZNjXD44dmYMRbXYPAe6t",
		Provenance:  messages.Provenance{Server: "https://al.example.org", Names: []string{"a.exe", "b.dll"}},
		CollectedAt: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
}

func eventMsg(t testing.TB, c messages.Collected) *worker.Message {
	t.Helper()
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return &worker.Message{Subject: messages.SubjectCollected, Data: data, Attempt: 2}
}

type recorder struct {
	ran     []string
	refused []string
}

func (r *recorder) Ran(result string, _ time.Duration) { r.ran = append(r.ran, result) }
func (r *recorder) Refused(reason string)              { r.refused = append(r.refused, reason) }
func (r *recorder) Running(int)                        {}

func TestHandlerHandsTheFile(t *testing.T) {
	dir := t.TempDir()
	c := writeCart(t, dir, "MZ malware")
	var out testenv.Buffer
	rec := &recorder{}
	h, err := New(Config{Program: Program{Argv: sh(`echo "$1 $ALHARVEST_PATH $ALHARVEST_SHA256 $ALHARVEST_SID $ALHARVEST_SCORE $ALHARVEST_SIZE $ALHARVEST_FEED $ALHARVEST_ATTEMPT $ALHARVEST_SERVER $ALHARVEST_COLLECTED_AT"; printf '%s\n' "$ALHARVEST_NAMES"; cat`)},
		Durable: "inbox", Stdout: &out, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	m := eventMsg(t, c)
	if _, err := worker.HandleOnce(context.Background(), h, m); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{c.Path, c.Path, c.SHA256, c.SID, "7100", itoa(c.Size), "inbox", "2", "https://al.example.org", "2026-12-07T12:00:00Z"}, " ") +
		"\na.exe\nb.dll\n" + string(m.Data)
	if got := out.String(); got != want {
		t.Errorf("program saw\n%s\nwant\n%s", got, want)
	}
	if strings.Join(rec.ran, ",") != "ok" {
		t.Errorf("observed %v", rec.ran)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// What the feed does about each kind of trouble, decided by failure.ActionFor
// in the worker loop: a missing or wrong file is a dead letter at once (the
// program never runs), a failing program is retried, a directory that is
// not there halts the feed.
func TestHandlerOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		outputDir func(dir string) string
		event     func(t *testing.T, dir string) messages.Collected
		script    string
		ok        bool // handled without error
		action    failure.Action
		reason    string
		refused   string
	}{
		{name: "program fails", script: `echo "inbox is read-only" >&2; exit 4`, action: failure.Retry,
			reason: "program exited with status 4; stderr: inbox is read-only"},
		{name: "program times out", script: `sleep 30`, action: failure.Retry, reason: "timed out"},
		{name: "file gone", action: failure.DeadLetter, reason: "no longer exists", refused: "missing",
			event: func(t *testing.T, dir string) messages.Collected {
				c := writeCart(t, dir, "gone")
				os.Remove(c.Path)
				return c
			}},
		{name: "wrong size", action: failure.DeadLetter, reason: "the event says", refused: "unverified",
			event: func(t *testing.T, dir string) messages.Collected {
				c := writeCart(t, dir, "sized")
				c.Size++
				return c
			}},
		{name: "not the announced content", action: failure.DeadLetter, reason: "fails verification", refused: "unverified",
			event: func(t *testing.T, dir string) messages.Collected {
				c := writeCart(t, dir, "original")
				other := writeCart(t, t.TempDir(), "replaced!")
				b, _ := os.ReadFile(other.Path)
				os.WriteFile(c.Path, b, 0o644)
				c.Size = other.Size
				return c
			}},
		{name: "a symlink, not the file", action: failure.DeadLetter, reason: "not a regular file", refused: "unverified",
			event: func(t *testing.T, dir string) messages.Collected {
				c := writeCart(t, t.TempDir(), "elsewhere")
				link := filepath.Join(dir, filepath.Base(c.Path))
				if err := os.Symlink(c.Path, link); err != nil {
					t.Fatal(err)
				}
				c.Path = link
				return c
			}},
		{name: "an event path outside <dir>/<sha256>.cart", action: failure.DeadLetter, reason: "is not an absolute",
			event: func(t *testing.T, dir string) messages.Collected {
				c := writeCart(t, dir, "x")
				c.Path = "/etc/passwd"
				return c
			}},
		{name: "a relative event path", action: failure.DeadLetter, reason: "is not an absolute",
			event: func(t *testing.T, dir string) messages.Collected {
				c := writeCart(t, dir, "x")
				c.Path = "../" + filepath.Base(c.Path)
				return c
			}},
		{name: "directory not mounted", action: failure.Halt, reason: "unusable",
			outputDir: func(dir string) string { return filepath.Join(dir, "not-mounted") }},
		{name: "output dir overrides a hostile path", script: `test "$1" = "$EXPECT"`, ok: true,
			outputDir: func(dir string) string { return dir },
			event: func(t *testing.T, dir string) messages.Collected {
				c := writeCart(t, dir, "remapped")
				t.Setenv("EXPECT", c.Path)
				c.Path = "/../../etc/shadow"
				return c
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var c messages.Collected
			if tc.event != nil {
				c = tc.event(t, dir)
			} else {
				c = writeCart(t, dir, "content of "+tc.name)
			}
			script := tc.script
			if script == "" {
				script = `echo ran > "` + filepath.Join(dir, "ran") + `"`
			}
			outDir := ""
			if tc.outputDir != nil {
				outDir = tc.outputDir(dir)
			}
			rec := &recorder{}
			h, err := New(Config{Program: Program{Argv: sh(script), Timeout: 300 * time.Millisecond}, OutputDir: outDir, Observer: rec})
			if err != nil {
				t.Fatal(err)
			}
			_, err = worker.HandleOnce(context.Background(), h, eventMsg(t, c))
			if tc.ok {
				if err != nil {
					t.Fatalf("handled with %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("handled without error")
			}
			if got := failure.ActionFor(err); got != tc.action || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("%v → %s, want %s with %q", err, got, tc.action, tc.reason)
			}
			if tc.refused != "" {
				if _, statErr := os.Stat(filepath.Join(dir, "ran")); statErr == nil {
					t.Error("the program ran on a file that failed the checks")
				}
				if strings.Join(rec.refused, ",") != tc.refused {
					t.Errorf("refused %v, want %s", rec.refused, tc.refused)
				}
			}
		})
	}
}

func TestHandlerRefusesUndecodableEvents(t *testing.T) {
	h, err := New(Config{Program: Program{Argv: sh("exit 0")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{``, `not json`, `{"sha256":"ABC","path":"/x"}`, `{"sha256":"` + strings.Repeat("a", 64) + `"}`} {
		_, err := worker.HandleOnce(context.Background(), h, &worker.Message{Data: []byte(data)})
		if failure.ActionFor(err) != failure.DeadLetter {
			t.Errorf("%q: %v, want a dead letter", data, err)
		}
	}
}

// deploy/feed-example.sh, run by the feed: copies the cART into the inbox,
// again without harm, and fails with its reason when the inbox is missing.
func TestExampleProgram(t *testing.T) {
	dir, inbox := t.TempDir(), t.TempDir()
	c := writeCart(t, dir, "for the inbox")
	var out testenv.Buffer
	h, err := New(Config{Program: Program{Argv: []string{"/bin/sh", "../../../deploy/feed-example.sh", inbox}}, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := worker.HandleOnce(context.Background(), h, eventMsg(t, c)); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := os.ReadFile(c.Path)
	got, err := os.ReadFile(filepath.Join(inbox, c.SHA256+".cart"))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("inbox copy: %v (%d bytes, want %d)", err, len(got), len(want))
	}
	if entries, _ := os.ReadDir(inbox); len(entries) != 1 {
		t.Errorf("inbox holds %d entries, want the one file", len(entries))
	}
	if !strings.Contains(out.String(), "handed "+c.SHA256) || !strings.Contains(out.String(), "already in inbox") {
		t.Errorf("program output %q", out.String())
	}
	h, _ = New(Config{Program: Program{Argv: []string{"/bin/sh", "../../../deploy/feed-example.sh", filepath.Join(inbox, "missing")}}})
	_, err = worker.HandleOnce(context.Background(), h, eventMsg(t, c))
	if err == nil || !strings.Contains(err.Error(), "is not a directory") || failure.ActionFor(err) != failure.Retry {
		t.Errorf("missing inbox: %v", err)
	}
}
