// Package bench measures alharvest end to end against alsim: the one-command
// run, the separate processes over a nats-server, and the naive sequential
// solution of the original exercise, on the same corpus, latency model and
// quota. It reports wall time against the physical bound — the server time
// alsim accounted divided by the quota — with quota rejections, throughput
// and each process's peak RSS from the kernel's accounting.
package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/alsim"
	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/pkg/messages"
)

// Modes of running the pipeline.
const (
	ModeOne   = "one"   // alharvest, one process with embedded JetStream
	ModeMulti = "multi" // nats-server + searcher + 2 scorers + 2 downloaders; "multi-N[-aimd]": N + N
	ModeNaive = "naive" // the exercise's sequential solution, ported to Go
)

// threshold is the SCORE_THRESHOLD every mode collects at.
const threshold = 7000

// Replicas of each consuming stage in multi mode; multi-N modes choose their own.
const scorers = 2

// Options configure one measurement.
type Options struct {
	Workload Workload
	Mode     string
	// Bin holds alharvest, searcher, scorer, downloader, alsim and nats-server.
	Bin string
	// Work is a scratch directory (OUTPUT_DIR, stores, logs).
	Work string
	// Env adds settings to every pipeline process (e.g. AL_MAX_CALLS=5).
	Env []string
	// Log receives progress lines.
	Log io.Writer
}

// Result is one measurement.
type Result struct {
	Workload string `json:"workload"`
	Mode     string `json:"mode"`
	// Wall is the pipeline's elapsed time, from starting its processes to
	// the last file collected and every queue drained.
	Wall Seconds `json:"wall_s"`
	// Ideal is alsim's accounted server time divided by the quota: the
	// least wall time any client could need (0 without a quota).
	Ideal      Seconds `json:"ideal_s"`
	Efficiency float64 `json:"efficiency"`
	Calls      int64   `json:"calls"`
	Quota503   int64   `json:"quota_503"`
	Quota503Pc float64 `json:"quota_503_pct"`
	PeakCalls  int64   `json:"peak_concurrent_calls"`
	// Submissions scored (full calls answered 200), files and bytes in OUTPUT_DIR.
	Submissions int64   `json:"submissions"`
	Files       int64   `json:"files"`
	Bytes       int64   `json:"bytes"`
	SubsPerSec  float64 `json:"submissions_per_s"`
	FilesPerSec float64 `json:"files_per_s"`
	MBPerSec    float64 `json:"mb_per_s"`
	// RSS is each process's peak resident set size in MiB.
	RSS map[string]float64 `json:"peak_rss_mib"`
	// CPU is each process's user+system CPU time in seconds: where the
	// machine's time went.
	CPU map[string]float64 `json:"cpu_s"`
	// Expected is alsim's expected set size; Missing is how many of it did not arrive.
	Expected int `json:"expected"`
	Missing  int `json:"missing"`
}

// Seconds marshals a duration as fractional seconds.
type Seconds time.Duration

// MarshalJSON implements json.Marshaler.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(time.Duration(s).Seconds(), 'f', 3, 64)), nil
}

// String prints seconds with two decimals.
func (s Seconds) String() string { return fmt.Sprintf("%.2fs", time.Duration(s).Seconds()) }

// Run performs one measurement.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	dir, err := os.MkdirTemp(o.Work, o.Workload.Name+"-"+o.Mode+"-")
	if err != nil {
		return nil, err
	}
	res := &Result{Workload: o.Workload.Name, Mode: o.Mode, RSS: map[string]float64{}, CPU: map[string]float64{}}

	sim, err := startProc(dir, "alsim", filepath.Join(o.Bin, "alsim"), append([]string{"serve", "-addr", "127.0.0.1:0"}, o.Workload.Sim...), nil)
	if err != nil {
		return nil, err
	}
	defer sim.stop(10 * time.Second)
	simURL, err := sim.waitLine(60*time.Second, "export AL_URL=")
	if err != nil {
		return nil, err
	}
	expected, err := fetchLines(simURL + "/_alsim/expected?threshold=" + strconv.Itoa(threshold))
	if err != nil {
		return nil, err
	}
	res.Expected = len(expected)
	resp, err := http.Post(simURL+"/_alsim/stats/reset", "", nil)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	fmt.Fprintf(o.Log, "%s/%s: alsim ready at %s, %d files expected\n", o.Workload.Name, o.Mode, simURL, len(expected))

	out := filepath.Join(dir, "collected")
	env := append(os.Environ(),
		"AL_URL="+simURL, "AL_USER="+alsim.DefaultUser, "AL_APIKEY="+alsim.DefaultAPIKey,
		"OUTPUT_DIR="+out, "SCORE_THRESHOLD="+strconv.Itoa(threshold), "HTTP_ADDR=", "LOG_LEVEL=warn", "LOG_FORMAT=json",
		"DATA_DIR="+filepath.Join(dir, "data"),
	)
	env = append(env, o.Env...)

	var wall time.Duration
	switch o.Mode {
	case ModeOne:
		wall, err = runSingle(dir, "alharvest", filepath.Join(o.Bin, "alharvest"), []string{"--no-progress"}, env, res)
	case ModeSearcher:
		wall, err = runMulti(ctx, dir, o, env, res, 0)
	case ModeMulti:
		wall, err = runMulti(ctx, dir, o, env, res, scorers)
	case ModeNaive:
		var self string
		if self, err = os.Executable(); err == nil {
			wall, err = runSingle(dir, "naive", self, []string{"naive"}, env, res)
		}
	default:
		n, aimd, ok := parseReplicas(o.Mode)
		if !ok {
			err = fmt.Errorf("unknown mode %q", o.Mode)
			break
		}
		if aimd {
			env = append(env, "AL_SHARED_QUOTA=false")
		}
		wall, err = runMulti(ctx, dir, o, env, res, n)
	}
	if err != nil {
		return nil, err
	}
	res.Wall = Seconds(wall)

	var st alsim.Stats
	if err := fetchJSON(simURL+"/_alsim/stats", &st); err != nil {
		return nil, err
	}
	for ep, byCode := range st.Calls {
		for code, n := range byCode {
			res.Calls += n
			if ep == "full" && code == "200" {
				res.Submissions += n
			}
		}
	}
	res.Quota503 = st.QuotaRejected
	if res.Calls > 0 {
		res.Quota503Pc = 100 * float64(res.Quota503) / float64(res.Calls)
	}
	res.PeakCalls = st.PeakInFlight
	if st.Quota > 0 {
		res.Ideal = Seconds(st.ServerTimeTotal / time.Duration(st.Quota))
		res.Efficiency = float64(res.Ideal) / float64(res.Wall)
	}
	got := map[string]bool{}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if sha, ok := strings.CutSuffix(e.Name(), ".cart"); ok {
			got[sha] = true
			res.Files++
			if info, err := e.Info(); err == nil {
				res.Bytes += info.Size()
			}
		}
	}
	for _, sha := range expected {
		if !got[sha] {
			res.Missing++
		}
	}
	secs := wall.Seconds()
	res.SubsPerSec = float64(res.Submissions) / secs
	res.FilesPerSec = float64(res.Files) / secs
	res.MBPerSec = float64(res.Bytes) / (1 << 20) / secs
	sim.stop(10 * time.Second)
	res.RSS["alsim"], res.CPU["alsim"] = sim.peakRSS(), sim.cpu()
	_ = os.RemoveAll(out) // keep the scratch dir small; logs stay
	return res, nil
}

// runSingle runs a pipeline that is one process (alharvest, or the naive
// baseline) to its end.
func runSingle(dir, name, bin string, args, env []string, res *Result) (time.Duration, error) {
	start := time.Now()
	p, err := startProc(dir, name, bin, args, env)
	if err != nil {
		return 0, err
	}
	<-p.done
	wall := time.Since(start)
	res.RSS[name], res.CPU[name] = p.peakRSS(), p.cpu()
	if p.err != nil {
		return 0, fmt.Errorf("%s: %v (log %s)", name, p.err, p.logPath)
	}
	return wall, nil
}

// parseReplicas reads a mode "multi-N" (N scorers and N downloaders
// sharing the user's budget) or "multi-N-aimd" (the same, each process
// adapting alone, as before the shared budget).
func parseReplicas(mode string) (n int, aimd bool, ok bool) {
	rest, ok := strings.CutPrefix(mode, ModeMulti+"-")
	if !ok {
		return 0, false, false
	}
	rest, aimd = strings.CutSuffix(rest, "-aimd")
	n, err := strconv.Atoi(rest)
	if err != nil || n < 1 || n > 64 {
		return 0, false, false
	}
	return n, aimd, true
}

// runMulti runs nats-server, the searcher and replicas scorers and as many
// downloaders (none: the searcher alone).
func runMulti(ctx context.Context, dir string, o Options, env []string, res *Result, replicas int) (time.Duration, error) {
	// -p -1: nats-server picks a free port and logs it once it listens.
	ns, err := startProc(dir, "nats-server", filepath.Join(o.Bin, "nats-server"),
		[]string{"-js", "-a", "127.0.0.1", "-p", "-1", "-sd", filepath.Join(dir, "nats")}, nil)
	if err != nil {
		return 0, err
	}
	defer ns.stop(10 * time.Second)
	addr, err := ns.waitLine(20*time.Second, "Listening for client connections on ")
	if err != nil {
		return 0, err
	}
	url := "nats://" + addr
	env = append(env, "NATS_URL="+url)
	nc, err := nats.Connect(url)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}

	start := time.Now()
	nScorers, nDownloaders := replicas, replicas
	var stages []*proc
	for i := range nScorers {
		p, err := startProc(dir, fmt.Sprintf("scorer-%d", i+1), filepath.Join(o.Bin, "scorer"), nil, env)
		if err != nil {
			return 0, err
		}
		stages = append(stages, p)
	}
	for i := range nDownloaders {
		p, err := startProc(dir, fmt.Sprintf("downloader-%d", i+1), filepath.Join(o.Bin, "downloader"), nil, env)
		if err != nil {
			return 0, err
		}
		stages = append(stages, p)
	}
	searcher, err := startProc(dir, "searcher", filepath.Join(o.Bin, "searcher"), []string{"--once"}, env)
	if err != nil {
		return 0, err
	}
	defer func() {
		for _, p := range stages {
			p.stop(30 * time.Second)
		}
	}()

	quiet := 0
	var wall time.Duration
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if searcher.running() {
			continue
		}
		if searcher.err != nil {
			return 0, fmt.Errorf("searcher: %v (log %s)", searcher.err, searcher.logPath)
		}
		if o.Mode == ModeSearcher {
			wall = time.Since(start)
			break
		}
		if Drained(ctx, js) {
			if quiet == 0 {
				wall = time.Since(start)
			}
			quiet++
			if quiet >= 3 {
				break
			}
		} else {
			quiet = 0
		}
	}
	res.RSS["searcher"], res.CPU["searcher"] = searcher.peakRSS(), searcher.cpu()
	for _, p := range stages {
		p.stop(30 * time.Second)
		res.RSS[p.name], res.CPU[p.name] = p.peakRSS(), p.cpu()
	}
	ns.stop(10 * time.Second)
	res.RSS["nats-server"], res.CPU["nats-server"] = ns.peakRSS(), ns.cpu()
	return wall, nil
}

// Drained reports whether both of alharvest's work queues and its deferred
// store exist and hold no message. The store is read first and last: a
// message moves between it and a work queue both ways.
func Drained(ctx context.Context, js jetstream.JetStream) bool {
	n, err := broker.StreamCounts(ctx, js, messages.StreamDeferred, messages.StreamSIDs, messages.StreamFiles)
	if err != nil || n[messages.StreamDeferred] != 0 || n[messages.StreamSIDs] != 0 || n[messages.StreamFiles] != 0 {
		return false
	}
	n, err = broker.StreamCounts(ctx, js, messages.StreamDeferred)
	return err == nil && n[messages.StreamDeferred] == 0
}

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
