//go:build linux

package downloader_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/pipeline/downloader"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// smallFS mounts an 8 MiB tmpfs for the test, or skips where mounting is
// not permitted (not root, no CAP_SYS_ADMIN, not Linux).
func smallFS(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("cannot mount a small tmpfs here: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// fill writes a file into dir that leaves about left bytes free.
func fill(t *testing.T, dir string, left int64) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	n := freeBytes(t, dir) - left
	if n <= 0 {
		t.Fatalf("only %d bytes free", freeBytes(t, dir))
	}
	if err := os.WriteFile(p, make([]byte, n), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFullDiskHaltsAndResumes: with less free space on OUTPUT_DIR's file
// system than the reserve plus the download, the downloader halts with a
// clear reason instead of failing downloads, keeps the reserve free, and
// resumes by itself once space is freed.
func TestFullDiskHaltsAndResumes(t *testing.T) {
	const reserve = 2 << 20
	tests := []struct {
		name  string
		left  func(size int64) int64 // free space to leave, given the file's size
		calls int64                  // Assemblyline download calls while halted
	}{
		// Less than the reserve free: halted before asking Assemblyline.
		{"reserve already gone", func(int64) int64 { return reserve - 256<<10 }, 0},
		// The reserve is free, but this download would eat into it: halted
		// once the download announces its length.
		{"download would eat into the reserve", func(size int64) int64 { return reserve + size/2 }, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, alsim.Config{Seed: 41, Submissions: 60, SizeMin: 600 << 10, SizeMax: 1 << 20})
			sha := h.qualifying(t, 1)[0]
			size := h.files[sha].Size
			mnt := smallFS(t)
			out := filepath.Join(mnt, "collected")
			d, err := downloader.New(h.al, downloader.Config{OutputDir: out, Reserve: reserve, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			filler := fill(t, mnt, tc.left(size))

			srv := natstest.Start(t)
			_, js := natstest.Connect(t, srv.URL)
			natstest.Provision(t, js)
			ctx := context.Background()
			cons, err := broker.Consumer(ctx, js, messages.StreamFiles, messages.ConsumerDownloader, broker.ConsumerConfig{AckWait: 5 * time.Second}, nil)
			if err != nil {
				t.Fatal(err)
			}
			w := worker.New(js, cons, d, worker.Config{
				Stage: messages.StageDownloader, MaxAttempts: 2,
				RetryDelay: func(int) time.Duration { return 20 * time.Millisecond },
				HaltProbe:  func(int) time.Duration { return 100 * time.Millisecond },
				Grace:      2 * time.Second, Logger: quiet,
			})
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- w.Run(runCtx) }()
			t.Cleanup(func() { cancel(); <-done })

			m, err := messages.NewFileMsg(messages.File{SHA256: sha, SID: "4EZNjXD44dmYMRbXYPAe6t", Score: 7777})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := js.PublishMsg(ctx, m); err != nil {
				t.Fatal(err)
			}
			testenv.Eventually(t, 10*time.Second, "downloader halted", w.Halted)
			time.Sleep(500 * time.Millisecond) // several probes at 100 ms
			if r := w.HaltReason(); !strings.Contains(r, "storage") {
				t.Errorf("halt reason %q", r)
			}
			if n := h.downloads(); n != tc.calls {
				t.Errorf("%d download calls while halted, want %d", n, tc.calls)
			}
			if n := streamMsgs(t, js, messages.StreamDLQ); n != 0 {
				t.Errorf("%d dead letters; a full disk must not dead-letter", n)
			}
			if _, err := os.Stat(filepath.Join(out, sha+".cart")); err == nil {
				t.Error("a file was written while the disk was full")
			}
			if free := freeBytes(t, mnt); free < reserve-256<<10 {
				t.Errorf("%d bytes free; the downloader ate into the reserve of %d", free, reserve)
			}

			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			testenv.Eventually(t, 10*time.Second, "collected after space was freed", func() bool {
				return streamMsgs(t, js, messages.StreamFiles) == 0 && !w.Halted()
			})
			h.out = out
			h.checkCollected(t, sha)
			if n := streamMsgs(t, js, messages.StreamDLQ); n != 0 {
				t.Errorf("%d dead letters", n)
			}
		})
	}
}
