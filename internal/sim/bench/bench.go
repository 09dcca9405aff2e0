// Package bench measures alharvest end to end against alsim: the one-command
// run, the separate processes over a nats-server, and the naive sequential
// solution of the original exercise, on the same corpus, latency model and
// quota. It reports wall time against the physical bound — the server time
// alsim accounted divided by the quota — with quota rejections, throughput
// and each process's peak RSS from the kernel's accounting.
package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/alharvest/alharvest/internal/sim/alsim"
)

// Modes of running the pipeline.
const (
	ModeOne   = "one"   // alharvest, one process with embedded JetStream
	ModeMulti = "multi" // nats-server + searcher + 2 scorers + 2 downloaders; "multi-N[-aimd]": N + N
	ModeNaive = "naive" // a naive sequential client (one call at a time), ported to Go
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
	// FirstCall is how long after starting the processes the server
	// admitted the first call: process start-up, connecting, provisioning
	// and the searcher's first page request, which no sharing of the quota
	// can shorten. EffFromFirst is Ideal over Wall less FirstCall.
	FirstCall    Seconds `json:"first_call_s"`
	EffFromFirst float64 `json:"efficiency_from_first_call"`
	// Idle is the slot time left unused between the first call admitted
	// and the last answered, divided by the quota: the wall time lost to
	// slots nobody held, whether for want of work (the pipeline filling or
	// draining) or for the gate (a slot between processes). Tail is from
	// the last answer to the queues seen drained.
	Idle Seconds `json:"idle_s"`
	Tail Seconds `json:"tail_s"`

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

	started time.Time // when the pipeline's processes were started
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

	sim, simURL, err := startSim(dir, o.Bin, append([]string{"serve", "-addr", "127.0.0.1:0"}, o.Workload.Sim...))
	if err != nil {
		return nil, err
	}
	defer sim.stop(10 * time.Second)
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
		var idle time.Duration
		for level, d := range st.Occupancy {
			idle += time.Duration(max(0, st.Quota-level)) * d
		}
		res.Idle = Seconds(idle / time.Duration(st.Quota))
	}
	if !st.FirstAdmit.IsZero() && !res.started.IsZero() {
		res.FirstCall = Seconds(st.FirstAdmit.Sub(res.started))
		res.Tail = Seconds(res.started.Add(wall).Sub(st.LastLeave))
		if res.Ideal > 0 && wall > time.Duration(res.FirstCall) {
			res.EffFromFirst = float64(res.Ideal) / float64(wall-time.Duration(res.FirstCall))
		}
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
