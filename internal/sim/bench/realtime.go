package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alharvest/alharvest/internal/metrics"
	"github.com/alharvest/alharvest/internal/sim/alsim"
)

// Real-time modes: how a completed submission reaches alharvest.
const (
	ModePush     = "push"      // alsim pushes every completion; sweeps hourly
	ModePushDrop = "push-drop" // alsim drops RealtimeOptions.Drop of the pushes; sweeps every SweepInterval
	ModeSweep    = "sweep"     // no push; sweeps every SweepInterval
)

// RealtimeModes lists the real-time modes in the order to run them.
var RealtimeModes = []string{ModePush, ModePushDrop, ModeSweep}

// RealtimeOptions configure the real-time measurement: submissions complete
// in alsim at Rate per second for Duration while `alharvest --follow`
// runs, and each late file's time from completion (alsim's clock) to its
// verified cART in OUTPUT_DIR is recorded.
type RealtimeOptions struct {
	Mode string
	// Bin and Work as in Options.
	Bin, Work string
	// Rate is completions per second (default 10); Duration how long they
	// keep coming (default 60 s).
	Rate     float64
	Duration time.Duration
	// SweepInterval is SEARCH_INTERVAL in the push-drop and sweep modes
	// (default 10 s; push mode sweeps every hour).
	SweepInterval time.Duration
	// Drop is the fraction of pushes alsim drops in push-drop mode (default 0.2).
	Drop float64
	Env  []string
	Log  io.Writer
}

// RealtimeResult is one real-time measurement.
type RealtimeResult struct {
	Mode          string  `json:"mode"`
	Rate          float64 `json:"completions_per_s"`
	SweepInterval Seconds `json:"search_interval_s"`
	Drop          float64 `json:"push_drop"`
	// Files is late files measured (completing once the pipeline was up);
	// Missing is those that never arrived within the drain timeout.
	Files   int `json:"files"`
	Missing int `json:"missing"`
	// Twice counts downloads beyond one per file (must be 0).
	Twice int64 `json:"downloaded_twice"`
	// P50, P95, P99 and Max are the time from completion to the verified
	// file in OUTPUT_DIR.
	P50 Seconds `json:"p50_s"`
	P95 Seconds `json:"p95_s"`
	P99 Seconds `json:"p99_s"`
	Max Seconds `json:"max_s"`
	// ByWebhook and BySweep count SIDs queued first by each source.
	ByWebhook int64 `json:"sids_by_webhook"`
	BySweep   int64 `json:"sids_by_sweep"`
	// Expected is alsim's whole expected set; AllCollected says OUTPUT_DIR
	// holds every file of it at the end.
	Expected     int  `json:"expected"`
	AllCollected bool `json:"all_collected"`
}

// RunRealtime performs one real-time measurement.
func RunRealtime(ctx context.Context, o RealtimeOptions) (*RealtimeResult, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Rate <= 0 {
		o.Rate = 10
	}
	if o.Duration <= 0 {
		o.Duration = time.Minute
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = 10 * time.Second
	}
	if o.Drop <= 0 {
		o.Drop = 0.2
	}
	if !slices.Contains(RealtimeModes, o.Mode) {
		return nil, fmt.Errorf("unknown real-time mode %q (have %s)", o.Mode, strings.Join(RealtimeModes, ", "))
	}
	dir, err := os.MkdirTemp(o.Work, "realtime-"+o.Mode+"-")
	if err != nil {
		return nil, err
	}
	res := &RealtimeResult{Mode: o.Mode, Rate: o.Rate, SweepInterval: Seconds(o.SweepInterval)}

	late := int(o.Rate * o.Duration.Seconds())
	// alharvest is told its receiver and metrics addresses up front, so it
	// gets ports that were free a moment ago; alsim picks its own.
	hookAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	const token = "albench-webhook-token"
	simArgs := []string{"serve", "-addr", "127.0.0.1:0",
		// Only the late arrivals (and the few threshold edge cases) match;
		// no shared files, so each file's completion is its submission's.
		"-submissions", strconv.Itoa(2*late + 100), "-match-fraction", "0", "-shared-fraction", "0",
		"-late-arrivals", strconv.Itoa(late), "-arrival-window", o.Duration.String(),
		"-qualifying-per-match", "2", "-size-min", "1024", "-size-max", "16384",
		"-quota", "0", "-cart-no-compression", "-prehash"}
	interval := o.SweepInterval
	switch o.Mode {
	case ModePush:
		interval = time.Hour
		fallthrough
	case ModePushDrop:
		simArgs = append(simArgs, "-webhook-url", "http://"+hookAddr+"/webhooks/assemblyline",
			"-webhook-header", "Authorization: Bearer "+token, "-webhook-min-score", strconv.Itoa(threshold))
		if o.Mode == ModePushDrop {
			res.Drop = o.Drop
			simArgs = append(simArgs, "-webhook-drop", strconv.FormatFloat(o.Drop, 'f', -1, 64))
		}
	}
	res.SweepInterval = Seconds(interval)

	sim, simURL, err := startSim(dir, o.Bin, simArgs)
	if err != nil {
		return nil, err
	}
	defer sim.stop(10 * time.Second)
	arrivals, err := fetchArrivals(simURL + "/_alsim/arrivals?threshold=" + strconv.Itoa(threshold))
	if err != nil {
		return nil, err
	}
	res.Expected = len(arrivals)

	out := filepath.Join(dir, "collected")
	tokenFile := filepath.Join(dir, "webhook-token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		return nil, err
	}
	env := append(os.Environ(),
		"AL_URL="+simURL, "AL_USER="+alsim.DefaultUser, "AL_APIKEY="+alsim.DefaultAPIKey,
		"OUTPUT_DIR="+out, "SCORE_THRESHOLD="+strconv.Itoa(threshold), "HTTP_ADDR="+metricsAddr,
		"LOG_LEVEL=info", "LOG_FORMAT=json", "DATA_DIR="+filepath.Join(dir, "data"),
		"SEARCH_INTERVAL="+interval.String(),
	)
	if o.Mode != ModeSweep {
		env = append(env, "WEBHOOK_ADDR="+hookAddr, "WEBHOOK_TOKEN_FILE="+tokenFile)
	}
	env = append(env, o.Env...)
	fmt.Fprintf(o.Log, "realtime/%s: %d completions over %s, SEARCH_INTERVAL %s\n", o.Mode, late, o.Duration, interval)

	ah, err := startProc(dir, "alharvest", filepath.Join(o.Bin, "alharvest"), []string{"--follow", "--no-progress"}, env)
	if err != nil {
		return nil, err
	}
	defer ah.stop(30 * time.Second)
	if err := waitTCP(metricsAddr, 60*time.Second); err != nil {
		return nil, fmt.Errorf("alharvest: %w (log %s)", err, ah.logPath)
	}
	// Measure completions from a second after the pipeline is up: earlier
	// pushes met a closed port, as they would with the receiver down.
	from := time.Now().Add(time.Second)
	var lastArrival time.Time
	for _, at := range arrivals {
		lastArrival = maxTime(lastArrival, at)
	}
	seen := map[string]time.Time{}
	deadline := lastArrival.Add(2*interval + 30*time.Second)
	if o.Mode == ModePush {
		deadline = lastArrival.Add(30 * time.Second)
	}
	for len(seen) < len(arrivals) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if !ah.running() {
			return nil, fmt.Errorf("alharvest exited: %v (log %s)", ah.err, ah.logPath)
		}
		entries, _ := os.ReadDir(out)
		now := time.Now()
		for _, e := range entries {
			if sha, ok := strings.CutSuffix(e.Name(), ".cart"); ok {
				if _, had := seen[sha]; !had {
					seen[sha] = now
				}
			}
		}
	}
	var lat []time.Duration
	for sha, at := range arrivals {
		if at.Before(from) {
			continue
		}
		res.Files++
		got, ok := seen[sha]
		if !ok {
			res.Missing++
			continue
		}
		lat = append(lat, max(0, got.Sub(at)))
	}
	res.AllCollected = len(seen) == len(arrivals)
	if len(lat) > 0 {
		slices.Sort(lat)
		q := func(p float64) Seconds { return Seconds(lat[min(len(lat)-1, int(p*float64(len(lat))))]) }
		res.P50, res.P95, res.P99, res.Max = q(0.50), q(0.95), q(0.99), Seconds(lat[len(lat)-1])
	}
	// Let a last sweep finish, then read the counters.
	time.Sleep(time.Second)
	m, err := metrics.Scrape("http://" + metricsAddr + "/metrics")
	if err != nil {
		return nil, err
	}
	res.ByWebhook = int64(m[`alharvest_sids_found_total{source="webhook"}`])
	res.BySweep = int64(m[`alharvest_sids_found_total{source="sweep"}`])
	res.Twice = int64(m[`alharvest_files_collected_total{result="new"}`]) - int64(len(seen))
	return res, nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// fetchArrivals reads alsim's /_alsim/arrivals: sha256 -> completion time.
func fetchArrivals(url string) (map[string]time.Time, error) {
	lines, err := fetchLines(url)
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(lines))
	for _, l := range lines {
		sha, ns, ok := strings.Cut(l, " ")
		n, err := strconv.ParseInt(ns, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("arrivals: bad line %q", l)
		}
		out[sha] = time.Unix(0, n)
	}
	return out, nil
}

// WriteRealtimeTable prints real-time results as one table.
func WriteRealtimeTable(w io.Writer, results []*RealtimeResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tcompletions/s\tSEARCH_INTERVAL\tpush drop\tfiles\tp50\tp95\tp99\tmax\tmissing\ttwice\tSIDs webhook/sweep\tall collected\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%.0f%%\t%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d/%d\t%v\t\n",
			r.Mode, r.Rate, time.Duration(r.SweepInterval), 100*r.Drop, r.Files, r.P50, r.P95, r.P99, r.Max,
			r.Missing, r.Twice, r.ByWebhook, r.BySweep, r.AllCollected)
	}
	tw.Flush()
}

// freeAddr returns a loopback address whose port was free a moment ago, for
// a process that must be told its address before it starts.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitTCP waits until something accepts connections on addr.
func waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s after %s", addr, timeout)
}
