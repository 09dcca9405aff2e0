package downloader_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/assemblyline"
	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/cart"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/pipeline/downloader"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

const threshold = alsim.DefaultDesignThreshold

var quiet = slog.New(slog.DiscardHandler)

// harness is a simulated Assemblyline, a real client for it and an
// OUTPUT_DIR that is a subdirectory of its own temporary directory, so a
// test can check that nothing is written beside OUTPUT_DIR either.
type harness struct {
	sim    *alsim.Server
	al     *assemblyline.Client
	parent string
	out    string
	files  map[string]alsim.FileScore // every file of the corpus by sha256
}

func newHarness(t *testing.T, cfg alsim.Config) *harness {
	t.Helper()
	return newHarnessRetries(t, cfg, 3)
}

// newHarnessRetries sets the client's in-process retries (negative: none).
func newHarnessRetries(t *testing.T, cfg alsim.Config, maxRetries int) *harness {
	t.Helper()
	sim, url := alsimtest.Serve(t, cfg)
	al := alsimtest.Client(t, url, maxRetries)
	h := &harness{sim: sim, al: al, parent: t.TempDir(), files: map[string]alsim.FileScore{}}
	h.out = filepath.Join(h.parent, "collected")
	for i := range sim.Corpus().Len() {
		for _, f := range sim.Corpus().Submission(i).Files {
			h.files[f.SHA256] = f
		}
	}
	return h
}

// downloader returns a downloader on the harness's OUTPUT_DIR; every call
// returns a new one, as separate replicas would be.
func (h *harness) downloader(t *testing.T, obs downloader.Observer) *downloader.Downloader {
	t.Helper()
	d, err := downloader.New(h.al, downloader.Config{OutputDir: h.out, Logger: quiet, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// qualifying returns n files alharvest must collect.
func (h *harness) qualifying(t *testing.T, n int) []string {
	t.Helper()
	want := h.sim.Expected(threshold)
	if len(want) < n {
		t.Fatalf("corpus has %d qualifying files, want at least %d", len(want), n)
	}
	return want[:n]
}

func (h *harness) downloads() int64 {
	var n int64
	for _, v := range h.sim.Stats().Calls["download"] {
		n += v
	}
	return n
}

func (h *harness) final(sha string) string { return filepath.Join(h.out, sha+".cart") }

// entries lists a directory's names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// checkOnly fails if OUTPUT_DIR holds anything but the wanted names (so
// no temporary file either).
func (h *harness) checkOnly(t *testing.T, names ...string) {
	t.Helper()
	got := entries(t, h.out)
	slices.Sort(got)
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Errorf("OUTPUT_DIR holds %q, want %q", got, names)
	}
}

// checkCollected asserts the file under its final name is a verified,
// regular, non-executable, private cART of sha.
func (h *harness) checkCollected(t *testing.T, sha string) cart.Info {
	t.Helper()
	p := h.final(sha)
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatalf("final file: %v", err)
	}
	if !st.Mode().IsRegular() {
		t.Errorf("%s is %v, not a regular file", p, st.Mode())
	}
	if perm := st.Mode().Perm(); perm&0o111 != 0 || perm&0o007 != 0 {
		t.Errorf("%s has mode %v: executable or open to others", p, perm)
	}
	info, err := cart.VerifyFile(p, sha)
	if err != nil {
		t.Fatalf("%s does not verify: %v", p, err)
	}
	if info.Size != st.Size() {
		t.Errorf("cart size %d, file size %d", info.Size, st.Size())
	}
	if f, ok := h.files[sha]; ok && info.ContentSize != f.Size {
		t.Errorf("content size %d, want %d", info.ContentSize, f.Size)
	}
	return info
}

func fileMsg(sha, sid string, score int64) *worker.Message {
	data := fmt.Sprintf(`{"sha256":%q,"sid":%q,"score":%d}`, sha, sid, score)
	return &worker.Message{Subject: messages.SubjectFiles, Data: []byte(data), Attempt: 1, FirstSeen: time.Now()}
}

func rawMsg(data string) *worker.Message {
	return &worker.Message{Subject: messages.SubjectFiles, Data: []byte(data), Attempt: 1, FirstSeen: time.Now()}
}

// checkEvent asserts outs is exactly one valid collected event for the file.
func (h *harness) checkEvent(t *testing.T, outs []*nats.Msg, sha, sid string, score int64) {
	t.Helper()
	if len(outs) != 1 {
		t.Fatalf("%d outputs, want one collected event", len(outs))
	}
	m := outs[0]
	if m.Subject != messages.SubjectCollected {
		t.Errorf("event on %q", m.Subject)
	}
	if id := m.Header.Get(messages.HeaderMsgID); id != sha {
		t.Errorf("Nats-Msg-Id %q, want %s", id, sha)
	}
	ev, err := messages.DecodeCollected(m.Data)
	if err != nil {
		t.Fatalf("event %s: %v", m.Data, err)
	}
	abs, _ := filepath.Abs(h.final(sha))
	if ev.Path != abs || !filepath.IsAbs(ev.Path) {
		t.Errorf("event path %q, want %q", ev.Path, abs)
	}
	st, err := os.Stat(ev.Path)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Size != st.Size() || ev.SHA256 != sha || ev.SID != sid || ev.Score != score {
		t.Errorf("event %+v; file size %d, want sha %s sid %s score %d", ev, st.Size(), sha, sid, score)
	}
}

// observer records what the downloader reports (a plain recorder, not a fake
// of any external system).
type observer struct {
	mu           sync.Mutex
	fresh, found int
	verifyFailed int
}

func (o *observer) Collected(size int64, fresh bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if fresh {
		o.fresh++
	} else {
		o.found++
	}
}

func (o *observer) VerifyFailed() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.verifyFailed++
}

func TestCollectsAFile(t *testing.T) {
	h := newHarness(t, alsim.Config{Seed: 31, Submissions: 60})
	obs := &observer{}
	d := h.downloader(t, obs)
	shas := h.qualifying(t, 3)
	for _, sha := range shas {
		before := h.downloads()
		outs, err := worker.HandleOnce(context.Background(), d, fileMsg(sha, "4EZNjXD44dmYMRbXYPAe6t", 7123))
		if err != nil {
			t.Fatalf("%s: %v", sha, err)
		}
		h.checkCollected(t, sha)
		h.checkEvent(t, outs, sha, "4EZNjXD44dmYMRbXYPAe6t", 7123)
		if n := h.downloads() - before; n != 1 {
			t.Errorf("%d download calls for one file", n)
		}
	}
	names := []string{}
	for _, s := range shas {
		names = append(names, s+".cart")
	}
	h.checkOnly(t, names...)
	if got := entries(t, h.parent); !slices.Equal(got, []string{"collected"}) {
		t.Errorf("beside OUTPUT_DIR: %q", got)
	}
	if obs.fresh != 3 || obs.found != 0 || obs.verifyFailed != 0 {
		t.Errorf("observer %+v", obs)
	}
	// OUTPUT_DIR itself is private.
	if st, _ := os.Stat(h.out); st.Mode().Perm()&0o007 != 0 {
		t.Errorf("OUTPUT_DIR mode %v", st.Mode().Perm())
	}
}

func TestAlreadyPresentIsNotDownloadedAgain(t *testing.T) {
	h := newHarness(t, alsim.Config{Seed: 31, Submissions: 60})
	sha := h.qualifying(t, 1)[0]
	if _, err := worker.HandleOnce(context.Background(), h.downloader(t, nil), fileMsg(sha, "abc", 8000)); err != nil {
		t.Fatal(err)
	}
	st1, _ := os.Stat(h.final(sha))
	before := h.downloads()
	obs := &observer{}
	// Another replica, later, with another submission naming the file.
	outs, err := worker.HandleOnce(context.Background(), h.downloader(t, obs), fileMsg(sha, "def", 9000))
	if err != nil {
		t.Fatal(err)
	}
	if n := h.downloads() - before; n != 0 {
		t.Errorf("%d download calls for a file already in place", n)
	}
	h.checkEvent(t, outs, sha, "def", 9000)
	st2, _ := os.Stat(h.final(sha))
	if !os.SameFile(st1, st2) || !st1.ModTime().Equal(st2.ModTime()) {
		t.Error("the file in place was rewritten")
	}
	if obs.found != 1 || obs.fresh != 0 {
		t.Errorf("observer %+v, want one found", obs)
	}
	h.checkOnly(t, sha+".cart")
}

func TestReplacesWhatIsAtTheFinalName(t *testing.T) {
	h := newHarness(t, alsim.Config{Seed: 31, Submissions: 60})
	shas := h.qualifying(t, 2)
	sha, other := shas[0], shas[1]
	// Genuine cART bytes of both files, fetched into a scratch directory.
	scratch := t.TempDir()
	good := map[string][]byte{}
	for _, s := range shas {
		d, err := downloader.New(h.al, downloader.Config{OutputDir: scratch, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := worker.HandleOnce(context.Background(), d, fileMsg(s, "", 0)); err != nil {
			t.Fatal(err)
		}
		good[s], _ = os.ReadFile(filepath.Join(scratch, s+".cart"))
	}
	outside := filepath.Join(h.parent, "precious.txt")
	const precious = "not yours to overwrite"

	tests := []struct {
		name  string
		setup func(t *testing.T, final string)
	}{
		{"garbage", func(t *testing.T, final string) { write(t, final, []byte("MZ garbage"), 0o640) }},
		{"empty file", func(t *testing.T, final string) { write(t, final, nil, 0o640) }},
		{"truncated cART", func(t *testing.T, final string) { write(t, final, good[sha][:len(good[sha])/2], 0o640) }},
		{"one flipped byte", func(t *testing.T, final string) {
			b := bytes.Clone(good[sha])
			b[len(b)/2] ^= 0x01
			write(t, final, b, 0o640)
		}},
		{"the cART of another file", func(t *testing.T, final string) { write(t, final, good[other], 0o640) }},
		{"executable, world-writable garbage", func(t *testing.T, final string) { write(t, final, []byte("#!/bin/sh\n"), 0o777) }},
		{"symlink to a file outside OUTPUT_DIR", func(t *testing.T, final string) { symlink(t, outside, final) }},
		{"symlink to a valid cART outside OUTPUT_DIR", func(t *testing.T, final string) {
			p := filepath.Join(h.parent, "elsewhere.cart")
			write(t, p, good[sha], 0o640)
			symlink(t, p, final)
		}},
		{"dangling symlink", func(t *testing.T, final string) { symlink(t, filepath.Join(h.parent, "nowhere"), final) }},
		{"hard link to a file outside OUTPUT_DIR", func(t *testing.T, final string) {
			if err := os.Link(outside, final); err != nil {
				t.Skip("hard links unsupported:", err)
			}
		}},
		{"hard link to a valid, world-writable cART outside OUTPUT_DIR", func(t *testing.T, final string) {
			p := filepath.Join(h.parent, "shared.cart")
			write(t, p, good[sha], 0o777)
			t.Cleanup(func() {
				// Its inode is not ours: neither chmod nor anything else may touch it.
				if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o777 {
					t.Errorf("the file outside OUTPUT_DIR was changed: %v %v", st.Mode(), err)
				}
				os.Remove(p)
			})
			if err := os.Link(p, final); err != nil {
				t.Skip("hard links unsupported:", err)
			}
		}},
		{"FIFO", func(t *testing.T, final string) {
			if err := mkfifo(final); err != nil {
				t.Skip("FIFOs unsupported:", err)
			}
		}},
		{"symlink to a FIFO outside OUTPUT_DIR", func(t *testing.T, final string) {
			p := filepath.Join(h.parent, "fifo")
			os.Remove(p)
			if err := mkfifo(p); err != nil {
				t.Skip("FIFOs unsupported:", err)
			}
			symlink(t, p, final)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.RemoveAll(h.out)
			d := h.downloader(t, nil)
			write(t, outside, []byte(precious), 0o640)
			tc.setup(t, h.final(sha))
			before := h.downloads()
			outs, err := worker.HandleOnce(context.Background(), d, fileMsg(sha, "abc", 7000))
			if err != nil {
				t.Fatal(err)
			}
			h.checkCollected(t, sha)
			h.checkEvent(t, outs, sha, "abc", 7000)
			if n := h.downloads() - before; n != 1 {
				t.Errorf("%d download calls, want 1", n)
			}
			if b, err := os.ReadFile(outside); err != nil || string(b) != precious {
				t.Errorf("file outside OUTPUT_DIR changed: %q, %v", b, err)
			}
			if got, _ := os.ReadFile(h.final(sha)); !bytes.Equal(got, good[sha]) {
				t.Error("final file differs from the server's cART")
			}
			h.checkOnly(t, sha+".cart")
		})
	}
}

func write(t *testing.T, p string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skip("symlinks unsupported:", err)
	}
}

func TestCorruptBodyLeavesNothing(t *testing.T) {
	tests := []struct {
		name   string
		faults alsim.Faults
		pick   func(t *testing.T, h *harness) string
	}{
		{"every body corrupt", alsim.Faults{CorruptDownload: 1}, func(t *testing.T, h *harness) string { return h.qualifying(t, 1)[0] }},
		{"one file always corrupt", alsim.Faults{AlwaysCorrupt: 1}, func(t *testing.T, h *harness) string {
			u := h.sim.Uncollectable(threshold)
			if len(u) != 1 {
				t.Fatalf("uncollectable %v", u)
			}
			return u[0]
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, alsim.Config{Seed: 32, Submissions: 60, Faults: tc.faults})
			sha := tc.pick(t, h)
			obs := &observer{}
			d := h.downloader(t, obs)
			for attempt := 1; attempt <= 3; attempt++ {
				outs, err := worker.HandleOnce(context.Background(), d, fileMsg(sha, "abc", 7000))
				if err == nil {
					t.Fatalf("corrupt body accepted: %d outputs", len(outs))
				}
				if k, a := failure.KindOf(err), failure.ActionFor(err); k != failure.Corrupt || a != failure.Retry {
					t.Errorf("kind %v action %v, want corrupt/retry: %v", k, a, err)
				}
				if !strings.Contains(err.Error(), sha) {
					t.Errorf("error %q does not name the file", err)
				}
				if len(outs) != 0 {
					t.Errorf("%d outputs", len(outs))
				}
				if _, err := os.Lstat(h.final(sha)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("something is under the final name: %v", err)
				}
				h.checkOnly(t)
			}
			// A corrupt body is not retried in-process: one call per attempt.
			if n := h.downloads(); n != 3 {
				t.Errorf("%d download calls for 3 attempts", n)
			}
			if obs.verifyFailed != 3 || obs.fresh+obs.found != 0 {
				t.Errorf("observer %+v", obs)
			}
		})
	}
}

func TestTruncatedAndResetDownloadsNeverLeaveAPartialFile(t *testing.T) {
	tests := []struct {
		name       string
		maxRetries int
	}{
		{"client retries in-process", 3},
		{"every failure surfaces", -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarnessRetries(t, alsim.Config{Seed: 33, Submissions: 80, SizeMin: 64 << 10, SizeMax: 512 << 10,
				Faults: alsim.Faults{TruncateDownload: 0.5, Reset: 0.3}}, tc.maxRetries)
			d := h.downloader(t, nil)
			shas := h.qualifying(t, 8)
			var retried int
			for _, sha := range shas {
				for attempt := 1; ; attempt++ {
					if attempt > 40 {
						t.Fatalf("%s: not collected after 40 attempts", sha)
					}
					outs, err := worker.HandleOnce(context.Background(), d, fileMsg(sha, "abc", 7000))
					if err != nil {
						// What the worker loop would do: retry later.
						if failure.ActionFor(err) != failure.Retry {
							t.Fatalf("%s: %v (action %v), want a retryable error", sha, err, failure.ActionFor(err))
						}
						retried++
						if _, serr := os.Lstat(h.final(sha)); !errors.Is(serr, os.ErrNotExist) {
							t.Fatalf("%s: a failed download left something under the final name", sha)
						}
						for _, name := range entries(t, h.out) {
							if !strings.HasSuffix(name, ".cart") || strings.HasPrefix(name, ".") {
								t.Fatalf("leftover %s after a failed download", name)
							}
						}
						continue
					}
					h.checkCollected(t, sha)
					h.checkEvent(t, outs, sha, "abc", 7000)
					break
				}
			}
			f := h.sim.Stats().Faults
			if f["truncate_download"] == 0 || f["reset"] == 0 {
				t.Errorf("faults injected: %v; the test proves nothing", f)
			}
			if tc.maxRetries < 0 && retried == 0 {
				t.Error("no failure surfaced without in-process retries")
			}
			names := []string{}
			for _, s := range shas {
				names = append(names, s+".cart")
			}
			h.checkOnly(t, names...)
		})
	}
}

func TestCanceledDownloadLeavesNothing(t *testing.T) {
	h := newHarness(t, alsim.Config{Seed: 33, Submissions: 40, DownloadLatency: 5 * time.Second})
	sha := h.qualifying(t, 1)[0]
	d := h.downloader(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	begin := time.Now()
	_, err := worker.HandleOnce(ctx, d, fileMsg(sha, "abc", 7000))
	if err == nil {
		t.Fatal("no error")
	}
	if a := failure.ActionFor(err); a != failure.HandBack {
		t.Errorf("action %v, want hand_back: %v", a, err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("cancellation took %s", d)
	}
	h.checkOnly(t)
}

// A directory at the final name is neither removed nor worked around.
func TestDirectoryAtTheFinalNameIsLeftAlone(t *testing.T) {
	h := newHarness(t, alsim.Config{Seed: 33, Submissions: 40})
	sha := h.qualifying(t, 1)[0]
	d := h.downloader(t, nil)
	if err := os.MkdirAll(filepath.Join(h.final(sha), "inside"), 0o750); err != nil {
		t.Fatal(err)
	}
	_, err := worker.HandleOnce(context.Background(), d, fileMsg(sha, "abc", 7000))
	if err == nil {
		t.Fatal("collected over a directory")
	}
	// Only this file is blocked: halting the stage would stop every other
	// file (a service's worker probes with this same message forever; the
	// one-command run exits).
	if a := failure.ActionFor(err); a == failure.HandBack || a == failure.Halt {
		t.Errorf("action %v for one blocked file name, want retry or dead_letter: %v", a, err)
	}
	if _, err := os.Stat(filepath.Join(h.final(sha), "inside")); err != nil {
		t.Errorf("directory contents touched: %v", err)
	}
	h.checkOnly(t, sha+".cart")
}

func TestMissingBlobIsDeadLettered(t *testing.T) {
	h := newHarness(t, alsim.Config{Seed: 34, Submissions: 60, Faults: alsim.Faults{MissingBlobs: 1}})
	missing := h.sim.Uncollectable(threshold)
	if len(missing) != 1 {
		t.Fatalf("uncollectable %v", missing)
	}
	tests := []struct{ name, sha string }{
		{"blob missing from the filestore", missing[0]},
		{"hash unknown to Assemblyline", strings.Repeat("0123456789abcdef", 4)},
	}
	d := h.downloader(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := worker.HandleOnce(context.Background(), d, fileMsg(tc.sha, "abc", 7000))
			if err == nil {
				t.Fatal("no error")
			}
			if a := failure.ActionFor(err); a != failure.DeadLetter {
				t.Errorf("action %v, want dead_letter: %v", a, err)
			}
			if !strings.Contains(strings.ToLower(err.Error()), "not found") || !strings.Contains(err.Error(), tc.sha) {
				t.Errorf("reason %q should say not found and name the file", err)
			}
			h.checkOnly(t)
		})
	}
}

func TestInvalidMessagesWriteNothing(t *testing.T) {
	h := newHarness(t, alsim.Config{Seed: 35, Submissions: 60})
	good := h.qualifying(t, 1)[0]
	d := h.downloader(t, nil)
	tests := []struct {
		name, data, reason string
	}{
		{"path traversal", `{"sha256":"../../etc/passwd"}`, "16 characters long"},
		{"long path traversal", `{"sha256":"` + strings.Repeat("../", 20) + `etc/passwd000"}`, "characters long"},
		{"traversal padded to 64", `{"sha256":"` + "../../../../tmp/x" + good[17:] + `"}`, "other than lowercase hex"},
		{"uppercase", `{"sha256":"` + strings.ToUpper(good) + `"}`, "other than lowercase hex"},
		{"63 characters", `{"sha256":"` + good[:63] + `"}`, "63 characters long"},
		{"65 characters", `{"sha256":"` + good + `0"}`, "65 characters long"},
		{"NUL byte", `{"sha256":"` + good[:30] + `\u0000` + good[31:] + `"}`, "other than lowercase hex"},
		{"slash", `{"sha256":"` + good[:30] + `/` + good[31:] + `"}`, "other than lowercase hex"},
		{"trailing newline in the hash", `{"sha256":"` + good[:63] + `\n"}`, "other than lowercase hex"},
		{"empty hash", `{"sha256":""}`, "0 characters long"},
		{"no hash", `{"sid":"abc","score":9000}`, "0 characters long"},
		{"hash of the wrong type", `{"sha256":12}`, "malformed JSON"},
		{"bad sid", `{"sha256":"` + good + `","sid":"../x"}`, "outside base62"},
		{"bare hash", good, "not a JSON object"},
		{"invalid JSON", `{"sha256":"` + good, "malformed JSON"},
		{"trailing data", `{"sha256":"` + good + `"} {}`, "trailing data"},
		{"empty", ``, "not a JSON object"},
		{"oversized", `{"sha256":"` + good + `","pad":"` + strings.Repeat("a", messages.MaxMessageSize) + `"}`, "exceeds"},
	}
	before := h.downloads()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outs, err := worker.HandleOnce(context.Background(), d, rawMsg(tc.data))
			if err == nil {
				t.Fatalf("accepted: %d outputs", len(outs))
			}
			if a, k := failure.ActionFor(err), failure.KindOf(err); a != failure.DeadLetter || k != failure.Invalid {
				t.Errorf("action %v kind %v, want dead_letter/invalid: %v", a, k, err)
			}
			if !errors.Is(err, messages.ErrInvalid) {
				t.Errorf("%v does not wrap messages.ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("reason %q does not say %q", err, tc.reason)
			}
			if len(outs) != 0 {
				t.Errorf("%d outputs", len(outs))
			}
		})
	}
	if n := h.downloads() - before; n != 0 {
		t.Errorf("invalid messages caused %d download calls", n)
	}
	h.checkOnly(t)
	if got := entries(t, h.parent); !slices.Equal(got, []string{"collected"}) {
		t.Errorf("invalid messages wrote beside OUTPUT_DIR: %q", got)
	}
}

func TestConcurrentReplicasCollectOneFile(t *testing.T) {
	h := newHarness(t, alsim.Config{Seed: 36, Submissions: 60, DownloadLatency: 5 * time.Millisecond, LatencyJitter: 1})
	shas := h.qualifying(t, 6)
	const replicas = 4
	for _, sha := range shas {
		var wg sync.WaitGroup
		var ok atomic.Int32
		start := make(chan struct{})
		for r := range replicas {
			d := h.downloader(t, nil)
			wg.Go(func() {
				<-start
				outs, err := worker.HandleOnce(context.Background(), d, fileMsg(sha, "abc", 7000))
				if err != nil {
					t.Errorf("replica %d: %v", r, err)
					return
				}
				if len(outs) == 1 {
					ok.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if ok.Load() != replicas {
			t.Errorf("%s: %d of %d replicas reported the file collected", sha[:12], ok.Load(), replicas)
		}
		h.checkCollected(t, sha)
	}
	names := []string{}
	for _, s := range shas {
		names = append(names, s+".cart")
	}
	h.checkOnly(t, names...)
}

// raceEnabled reports a -race build, which makes hashing and decoding a
// big file about twenty times slower.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

func TestBigFileStreams(t *testing.T) {
	size := int64(64 << 20)
	if raceEnabled() {
		size = 16 << 20 // keeps the race run of the package near 20 s
	}
	h := newHarness(t, alsim.Config{Seed: 37, Submissions: 40, BigFileSize: size, CartNoCompression: true, TempDir: t.TempDir()})
	id := h.sim.Corpus().BigFile()
	if id < 0 {
		t.Fatal("no big file in the corpus")
	}
	sha := h.sim.Corpus().FileSHA256(id)
	if !slices.Contains(h.sim.Expected(threshold), sha) {
		t.Fatal("the big file does not qualify")
	}
	d := h.downloader(t, nil)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	peakBefore := ms.HeapInuse
	stop := make(chan struct{})
	var peak atomic.Uint64
	go func() {
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	outs, err := worker.HandleOnce(context.Background(), d, fileMsg(sha, "abc", 7500))
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	info := h.checkCollected(t, sha)
	if info.ContentSize != size {
		t.Errorf("content size %d, want %d", info.ContentSize, size)
	}
	h.checkEvent(t, outs, sha, "abc", 7500)
	h.checkOnly(t, sha+".cart")
	// Streaming: neither side holds the file in memory.
	grew := int64(peak.Load()) - int64(peakBefore)
	t.Logf("heap grew by %d MiB", grew>>20)
	if grew > size/2 {
		t.Errorf("heap grew by %d MiB while downloading a %d MiB file", grew>>20, size>>20)
	}
}

// Through the worker loop on a real JetStream: hostile messages end in the
// DLQ with their reason and leave the work queue; good ones are collected.
func TestDownloaderThroughWorker(t *testing.T) {
	h := newHarness(t, alsim.Config{Seed: 38, Submissions: 60, Faults: alsim.Faults{MissingBlobs: 1, AlwaysCorrupt: 1}})
	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL)
	natstest.Provision(t, js)
	ctx := context.Background()
	cons, err := broker.Consumer(ctx, js, messages.StreamFiles, messages.ConsumerDownloader, broker.ConsumerConfig{AckWait: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	good := h.qualifying(t, 3)
	var missing, corrupt string
	for _, u := range h.sim.Uncollectable(threshold) {
		if _, err := worker.HandleOnce(ctx, h.downloader(t, nil), fileMsg(u, "", 0)); failure.KindOf(err) == failure.Corrupt {
			corrupt = u
		} else {
			missing = u
		}
	}
	if missing == "" || corrupt == "" {
		t.Fatal("corpus lacks a missing and a corrupt file")
	}
	for _, sha := range good {
		m, err := messages.NewFileMsg(messages.File{SHA256: sha, SID: "4EZNjXD44dmYMRbXYPAe6t", Score: 7777})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	hostile := map[string]string{ // payload -> what the reason must say
		`{"sha256":"../../etc/passwd","sid":"x","score":9999}`:                `sha256 "../../etc/passwd" is 16 characters long`,
		`{"sha256":"` + strings.ToUpper(good[0]) + `"}`:                       "other than lowercase hex",
		`{"sha256":"` + missing + `"}`:                                        "not found",
		`{"sha256":"` + corrupt + `"}`:                                        "gave up after 3 attempts",
		`{"sha256":"` + good[1][:40] + "/../../../../x" + good[1][54:] + `"}`: "other than lowercase hex",
	}
	for payload := range hostile {
		if _, err := js.Publish(ctx, messages.SubjectFiles, []byte(payload)); err != nil {
			t.Fatal(err)
		}
	}
	d := h.downloader(t, nil)
	w := worker.New(js, cons, d, worker.Config{
		Stage: messages.StageDownloader, Concurrency: 3, MaxAttempts: 3,
		RetryDelay: func(int) time.Duration { return 20 * time.Millisecond },
		Grace:      2 * time.Second, Logger: quiet,
	})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	if !testenv.Eventually(t, 15*time.Second, "files queue empty and every hostile message dead-lettered", func() bool {
		return streamMsgs(t, js, messages.StreamFiles) == 0 && streamMsgs(t, js, messages.StreamDLQ) == uint64(len(hostile))
	}) {
		t.FailNow()
	}

	// Dead letters: original payload, stage, subject and a reason naming the problem.
	dl := readStream(t, js, messages.StreamDLQ)
	seen := map[string]bool{}
	for _, m := range dl {
		want, ok := hostile[string(m.Data)]
		if !ok {
			t.Errorf("unexpected dead letter %s (%s)", m.Data, m.Header.Get(messages.HeaderReason))
			continue
		}
		seen[string(m.Data)] = true
		if r := m.Header.Get(messages.HeaderReason); !strings.Contains(r, want) {
			t.Errorf("reason %q for %s does not say %q", r, m.Data, want)
		}
		if m.Subject != messages.DLQSubject(messages.StageDownloader) || m.Header.Get(messages.HeaderStage) != messages.StageDownloader ||
			m.Header.Get(messages.HeaderOriginalSubject) != messages.SubjectFiles {
			t.Errorf("dead letter %s on %s with headers %v", m.Data, m.Subject, m.Header)
		}
	}
	if len(seen) != len(hostile) {
		t.Errorf("%d of %d hostile messages dead-lettered", len(seen), len(hostile))
	}

	// Good ones: collected and announced.
	events := readStream(t, js, messages.StreamCollected)
	got := map[string]bool{}
	for _, m := range events {
		ev, err := messages.DecodeCollected(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		got[ev.SHA256] = true
		if ev.Score != 7777 || ev.SID != "4EZNjXD44dmYMRbXYPAe6t" {
			t.Errorf("event %+v", ev)
		}
	}
	if want := setOf(good); !maps.Equal(got, want) {
		t.Errorf("collected events for %v, want %v", slices.Sorted(maps.Keys(got)), good)
	}
	names := []string{}
	for _, sha := range good {
		h.checkCollected(t, sha)
		names = append(names, sha+".cart")
	}
	h.checkOnly(t, names...)
	if got := entries(t, h.parent); !slices.Equal(got, []string{"collected"}) {
		t.Errorf("beside OUTPUT_DIR: %q", got)
	}
}

func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func readStream(t *testing.T, js jetstream.JetStream, name string) []*jetstream.RawStreamMsg {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func setOf(list []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range list {
		m[s] = true
	}
	return m
}
