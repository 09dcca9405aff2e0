// Package e2e runs alharvest the way it is deployed: the searcher, scorer and
// downloader binaries as separate processes over a real nats-server process,
// against alsim. It also hosts the crash, restart and fault tests.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/dlq"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
	"github.com/alharvest/alharvest/internal/sim/bench"
	"github.com/alharvest/alharvest/internal/testenv"
)

// long enables the full-size crash and fault runs; CI runs shortened ones.
var long = flag.Bool("long", false, "run the full-size crash and fault tests (minutes)")

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// binaries builds the commands once per test run and returns their directory.
func binaries(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds every binary and runs separate processes (minutes)")
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "alharvest-e2e-bin-")
		if binErr != nil {
			return
		}
		binErr = bench.Build(binDir)
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

// stack is one deployment under test: a nats-server process, alsim and the
// stage processes.
type stack struct {
	t    *testing.T
	nats *natstest.Process
	sim  *alsim.Server
	out  string
	logs string
	env  []string
	js   jetstream.JetStream

	mu    sync.Mutex
	procs []*proc
}

func newStack(t *testing.T, simCfg alsim.Config, extraEnv ...string) *stack {
	t.Helper()
	binaries(t) // build first: a build failure ends the test before anything starts
	s := &stack{t: t, out: filepath.Join(t.TempDir(), "collected"), logs: t.TempDir()}
	if dir := os.Getenv("E2E_LOGS"); dir != "" {
		// Keep the process logs for a post-mortem.
		s.logs = filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
		if err := os.MkdirAll(s.logs, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.nats = natstest.StartProcess(t)
	sim, alURL := alsimtest.Serve(t, simCfg)
	s.sim = sim
	// Cleanups run last first: the processes stop, then their logs are
	// dumped if the test failed, then alsim and nats-server go away.
	t.Cleanup(func() {
		if t.Failed() {
			s.dumpLogs()
		}
	})
	t.Cleanup(s.stopAll)
	cfg := sim.Config()
	s.env = append(os.Environ(),
		"AL_URL="+alURL, "AL_USER="+cfg.User, "AL_APIKEY="+cfg.APIKey,
		"NATS_URL="+s.nats.URL, "OUTPUT_DIR="+s.out, "SCORE_THRESHOLD=7000",
		"HTTP_ADDR=", "LOG_FORMAT=json", "LOG_LEVEL=debug",
		"SCORER_ACK_WAIT=3s", "DOWNLOADER_ACK_WAIT=3s", "SHUTDOWN_GRACE=5s",
		"SEARCH_PAGE_SIZE=50",
	)
	s.env = append(s.env, extraEnv...)
	_, s.js = natstest.Connect(t, s.nats.URL)
	return s
}

// proc is one stage process.
type proc struct {
	name string
	args []string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// start runs a binary with the stack's environment; its stderr goes to a
// log file kept for failure reports.
func (s *stack) start(name string, args ...string) *proc {
	s.t.Helper()
	p := &proc{name: name, args: args}
	s.launch(p)
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p
}

func (s *stack) launch(p *proc) {
	s.t.Helper()
	f, err := os.OpenFile(filepath.Join(s.logs, p.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	bin := strings.Fields(p.name)[0]
	p.cmd = exec.Command(filepath.Join(binaries(s.t), bin), p.args...)
	p.cmd.Env = s.env
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.done = make(chan struct{})
	if err := p.cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", p.name, err)
	}
	go func() { p.err = p.cmd.Wait(); f.Close(); close(p.done) }()
}

// restart starts a stopped or killed process again.
func (s *stack) restart(p *proc) {
	s.t.Helper()
	<-p.done
	s.launch(p)
}

// kill sends SIGKILL and waits for the process to die.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// term sends SIGTERM and returns the exit error after it exits (or after timeout).
func (p *proc) term(timeout time.Duration) (exited bool, err error) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true, p.err
	case <-time.After(timeout):
		return false, nil
	}
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (s *stack) stopAll() {
	s.mu.Lock()
	procs := slices.Clone(s.procs)
	s.mu.Unlock()
	for _, p := range procs {
		if p.running() {
			if exited, _ := p.term(10 * time.Second); !exited {
				p.kill()
			}
		}
	}
}

// dumpLogs prints the tail of every process log (on failure).
func (s *stack) dumpLogs() {
	entries, _ := os.ReadDir(s.logs)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(s.logs, e.Name()))
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		s.t.Logf("---- %s (last %d lines)\n%s", e.Name(), len(lines), strings.Join(lines, "\n"))
	}
}

// deadLetters lists the DLQ.
func (s *stack) deadLetters() []dlq.Letter {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := dlq.List(ctx, s.js, dlq.Filter{})
	if err != nil {
		return nil
	}
	return l
}

// checkOutput asserts OUTPUT_DIR holds exactly want, every file a valid cART
// of its name, with nothing else (no temporary files).
func (s *stack) checkOutput(want []string) {
	s.t.Helper()
	alsimtest.CheckCollected(s.t, s.out, want)
}

// countOutput counts .cart files in OUTPUT_DIR.
func (s *stack) countOutput() int {
	entries, _ := os.ReadDir(s.out)
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".cart") {
			n++
		}
	}
	return n
}

// grepLogs counts log lines containing substr across all processes.
func (s *stack) grepLogs(substr string) int {
	entries, _ := os.ReadDir(s.logs)
	n := 0
	for _, e := range entries {
		f, err := os.Open(filepath.Join(s.logs, e.Name()))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if bytes.Contains(sc.Bytes(), []byte(substr)) {
				n++
			}
		}
		f.Close()
	}
	return n
}

// waitDrained waits until the searcher has exited and both queues are empty
// twice in a row.
func (s *stack) waitDrained(timeout time.Duration, searcher *proc) bool {
	s.t.Helper()
	quiet := 0
	return testenv.Eventually(s.t, timeout, "queues drained", func() bool {
		if searcher != nil && searcher.running() {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if bench.Drained(ctx, s.js) {
			quiet++
		} else {
			quiet = 0
		}
		return quiet >= 3
	})
}
