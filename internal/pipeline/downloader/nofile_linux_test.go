//go:build linux

package downloader_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// exhaustDescriptors lowers this process's soft RLIMIT_NOFILE to what it
// uses plus a little, then opens /dev/null until the kernel answers EMFILE,
// as a process under `prlimit --nofile` with hundreds of idle connections
// would be. It returns the function that gives everything back.
func exhaustDescriptors(t *testing.T) (restore func()) {
	t.Helper()
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	inUse, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open descriptors: %v", err)
	}
	low := orig
	low.Cur = min(orig.Cur, uint64(len(inUse)+64))
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	var held []*os.File
	restore = func() {
		for _, f := range held {
			f.Close()
		}
		held = nil
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
			t.Errorf("restore RLIMIT_NOFILE: %v", err)
		}
	}
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				restore()
				t.Fatalf("filling the descriptor table: %v", err)
			}
			break
		}
		held = append(held, f)
	}
	t.Cleanup(restore)
	return restore
}

// TestOutOfDescriptorsHaltsAndResumes: a downloader that cannot open a
// file or a connection (EMFILE) halts, saying why, spends none of the
// message's attempts and dead-letters nothing; once descriptors are free
// again it resumes by itself, probing at the pace of a pause (not the
// slow schedule of a halt an operator must clear), and collects the file.
func TestOutOfDescriptorsHaltsAndResumes(t *testing.T) {
	h := newHarness(t, alsim.Config{Seed: 41, Submissions: 60})
	sha := h.qualifying(t, 1)[0]
	d := h.downloader(t, nil)

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
		HaltProbe:  func(int) time.Duration { return time.Hour }, // a resources halt must not wait for this
		PauseProbe: func(int) time.Duration { return 100 * time.Millisecond },
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
	restore := exhaustDescriptors(t)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		restore()
		t.Fatal(err)
	}
	// Eventually reports a timeout as a test error and returns; the
	// descriptors are given back right after, whatever it found.
	halted := testenv.Eventually(t, 10*time.Second, "the downloader halted while out of descriptors", w.Halted)
	time.Sleep(600 * time.Millisecond) // several probes at 100 ms, all failing
	reason := w.HaltReason()
	restore()
	if !halted {
		t.FailNow()
	}
	if !strings.Contains(reason, "resources") || !strings.Contains(reason, "too many open files") {
		t.Errorf("halt reason %q, want it to name resources and the errno", reason)
	}
	if n := streamMsgs(t, js, messages.StreamDLQ); n != 0 {
		t.Fatalf("%d dead letters while out of descriptors", n)
	}

	freed := time.Now()
	testenv.Eventually(t, 10*time.Second, "collected once descriptors were free", func() bool {
		return streamMsgs(t, js, messages.StreamFiles) == 0 && !w.Halted()
	})
	t.Logf("halted with %q; collected %s after descriptors were freed", reason, time.Since(freed).Round(time.Millisecond))
	h.checkCollected(t, sha)
	if n := streamMsgs(t, js, messages.StreamDLQ); n != 0 {
		t.Errorf("%d dead letters", n)
	}
	// No attempt was spent: the message was delivered once and held
	// through the halt, never handed back as a failure and redelivered.
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Delivered.Consumer != 1 {
		t.Errorf("%d deliveries, want 1", info.Delivered.Consumer)
	}
}
