package harvest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alharvest/alharvest/internal/cli"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/logging"
	"github.com/alharvest/alharvest/internal/sim/alsim"
)

// demoCorpus is alsim's corpus for the demo: what a real server shows
// alharvest — shared files, submissions still running, late arrivals
// found by a later sweep, a file whose blob is gone.
func demoCorpus(submissions int) alsim.Config {
	return alsim.Config{
		Seed:          42,
		Submissions:   submissions,
		Incomplete:    3,
		IncompleteFor: 6 * time.Second,
		LateArrivals:  4,
		ArrivalWindow: 8 * time.Second,
		FullLatency:   5 * time.Millisecond, DownloadLatency: 10 * time.Millisecond,
		Faults: alsim.Faults{MissingBlobs: 1},
	}
}

var demoCommand = &cli.Command{
	Name:     "demo",
	Synopsis: "try it: a simulated Assemblyline in this process, a full run, the result checked",
	Help: "Runs alharvest against a simulated Assemblyline (alsim) in this process and checks\n" +
		"the result: no Assemblyline, NATS or second terminal needed. Exit 0 when OUTPUT_DIR\n" +
		"holds exactly the files alsim expects.",
	Run: runDemo,
}

// runDemo is `alharvest demo`: alsim in-process on a free loopback port,
// the one-command run against it (sweeping until the late arrivals are
// in), then OUTPUT_DIR checked against alsim's expected set.
func runDemo(c *cli.Call) error {
	fs := flag.NewFlagSet(c.Path, flag.ContinueOnError)
	out := fs.String("output-dir", "", "where the collected files go (default: a new temporary directory)")
	submissions := fs.Int("submissions", 300, "submissions in the simulated Assemblyline")
	timeout := fs.Duration("timeout", 3*time.Minute, "give up after this long")
	noProgress := fs.Bool("no-progress", false, "no live status line on a terminal")
	if err := c.Parse(fs); err != nil {
		return err
	}
	ctx, stdout, stderr := c.Ctx, c.Stdout, c.Stderr
	work, err := os.MkdirTemp("", "alharvest-demo-")
	if err != nil {
		return err
	}
	if *out == "" {
		*out = filepath.Join(work, "collected")
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	simCtx, stopSim := context.WithCancel(context.WithoutCancel(ctx))
	sim, url, wait, err := alsim.Serve(simCtx, "127.0.0.1:0", demoCorpus(*submissions))
	if err != nil {
		stopSim()
		return err
	}
	defer func() { stopSim(); _ = wait() }()
	const threshold = 7000
	want := sim.Expected(threshold)
	lost := sim.Uncollectable(threshold)
	fmt.Fprintf(stdout, "alsim: a simulated Assemblyline at %s with %d submissions (3 still running, 4 arriving\n"+
		"in the next 8 s, 1 file whose blob is gone); %d files qualify at score %d, %d of them cannot be downloaded.\n"+
		"The same against your server: AL_URL=https://... AL_USER=... AL_APIKEY=... alharvest\n\n",
		url, *submissions, len(want)+len(lost), threshold, len(lost))

	env := map[string]string{
		"AL_URL": url, "AL_USER": alsim.DefaultUser, "AL_APIKEY": alsim.DefaultAPIKey,
		"OUTPUT_DIR": *out, "DATA_DIR": filepath.Join(work, "data"),
		"SCORE_THRESHOLD": strconv.Itoa(threshold), "SEARCH_INTERVAL": "2s", "SEARCH_OVERLAP": "1m",
		// Running submissions are checked again every few seconds, not minutes.
		"SCORER_RETRY_MIN": "200ms", "DOWNLOADER_RETRY_MIN": "200ms", "DOWNLOADER_MAX_ATTEMPTS": "3",
	}
	cfg, _, err := config.Load(config.Alharvest, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
	if err != nil {
		return err
	}
	terminal := cli.IsTerminal(stderr)
	var logOut io.Writer = stderr
	var prog io.Writer
	if terminal && !*noProgress {
		logOut, prog = LogWriter(stderr), stderr
	}
	log := logging.New(logging.Config{Level: "warn", Format: "text", Output: logOut, Binary: config.Alharvest})
	width := func() int { return cli.Width(stderr) }

	// Follow, so the late arrivals are swept too; stop once OUTPUT_DIR has
	// everything and the lost file has been given up on.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
			}
			if got, _ := collectedHashes(*out); slices.Equal(got, want) && deadLettered(sim, lost) {
				// The downloader dead-letters a refused file right
				// after the 404: give it that moment.
				time.Sleep(time.Second)
				stopRun()
				return
			}
		}
	}()
	rep, err := Run(runCtx, Options{Config: cfg, Follow: true, Logger: log, Progress: prog, ProgressWidth: width})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if rep != nil {
		rep.WriteText(stdout)
		fmt.Fprintln(stdout)
	}
	got, err := collectedHashes(*out)
	if err != nil {
		return err
	}
	missing, extra := diff(got, want)
	if len(missing) == 0 && len(extra) == 0 {
		fmt.Fprintf(stdout, "demo OK: %s holds exactly the %d files alsim expects", *out, len(want))
		if len(lost) > 0 {
			fmt.Fprintf(stdout, "; the %d it cannot serve went to the dead letters with the reason", len(lost))
		}
		fmt.Fprintf(stdout, ".\nInspect them: DATA_DIR=%s alharvest dlq list; remove %s when done.\n",
			filepath.Join(work, "data"), work)
		return nil
	}
	fmt.Fprintf(stdout, "demo FAILED: %s lacks %d and has %d unexpected files (first missing: %s)\n",
		*out, len(missing), len(extra), strings.Join(missing[:min(3, len(missing))], ", "))
	return exitcode.With(exitcode.Failed, nil)
}

// deadLettered reports whether alsim saw every lost file asked for (and
// refused it), which is when the downloader can give up on it.
func deadLettered(sim *alsim.Server, lost []string) bool {
	if len(lost) == 0 {
		return true
	}
	st := sim.Stats()
	n := int64(0)
	for code, c := range st.Calls["download"] {
		if code == "404" {
			n += c
		}
	}
	return n >= int64(len(lost))
}

// collectedHashes lists the sha256 of each <sha256>.cart in dir, sorted.
func collectedHashes(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if sha, ok := strings.CutSuffix(e.Name(), ".cart"); ok && e.Type().IsRegular() {
			out = append(out, sha)
		}
	}
	slices.Sort(out)
	return out, nil
}

func diff(got, want []string) (missing, extra []string) {
	for _, w := range want {
		if _, ok := slices.BinarySearch(got, w); !ok {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if _, ok := slices.BinarySearch(want, g); !ok {
			extra = append(extra, g)
		}
	}
	return missing, extra
}
