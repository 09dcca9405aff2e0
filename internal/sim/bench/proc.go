package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// proc is a child process. Its peak RSS is sampled from the kernel's
// VmHWM while it runs: the rusage maximum reported at exit is unusable,
// because Go starts children with vfork and the kernel charges the child
// with the parent's resident set until the exec.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
	hwmKiB  atomic.Int64
}

func startProc(dir, name, bin string, args, env []string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	if env != nil {
		cmd.Env = env
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go p.sampleHWM()
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, then SIGKILL after timeout.
func (p *proc) stop(timeout time.Duration) {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// sampleHWM records the process's VmHWM (peak resident set since its
// exec) every 20 ms until it exits.
func (p *proc) sampleHWM() {
	path := "/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status"
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					kib, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
					if kib > p.hwmKiB.Load() {
						p.hwmKiB.Store(kib)
					}
				}
			}
		}
		select {
		case <-p.done:
			return
		case <-t.C:
		}
	}
}

// peakRSS is the process's high-water resident set in MiB.
func (p *proc) peakRSS() float64 { return float64(p.hwmKiB.Load()) / 1024 }

// cpu is the process's user+system CPU seconds (after exit).
func (p *proc) cpu() float64 {
	if p.cmd.ProcessState == nil {
		return 0
	}
	return (p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()).Seconds()
}

// waitLine waits for the process to log a line containing marker and
// returns what follows it: how alsim and nats-server, each listening on a
// port of its own choosing, say where they listen.
func (p *proc) waitLine(timeout time.Duration, marker string) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if f, err := os.Open(p.logPath); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if _, rest, ok := strings.Cut(sc.Text(), marker); ok {
					f.Close()
					return strings.TrimSpace(rest), nil
				}
			}
			f.Close()
		}
		if !p.running() {
			return "", fmt.Errorf("%s exited: %v (log %s)", p.name, p.err, p.logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "", fmt.Errorf("%s did not start within %s", p.name, timeout)
}

func fetchJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func fetchLines(url string) ([]string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}

// startSim starts alsim from bin with args (which pick its port) and
// returns it with the base URL it announces once it serves.
func startSim(dir, bin string, args []string) (*proc, string, error) {
	sim, err := startProc(dir, "alsim", filepath.Join(bin, "alsim"), args, nil)
	if err != nil {
		return nil, "", err
	}
	url, err := sim.waitLine(60*time.Second, "export AL_URL=")
	if err != nil {
		sim.stop(10 * time.Second)
		return nil, "", err
	}
	return sim, url, nil
}
