package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/version"
)

// Main is the albench command (see cmd/albench): run the named workloads in
// their modes, print the table to stdout (progress to stderr), optionally
// write JSON. `albench naive` is the naive baseline's child process. It
// returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if version.IsFlag(args) {
		fmt.Fprintln(stdout, "albench", version.Get())
		return exitcode.OK
	}
	if len(args) > 0 && args[0] == ModeNaive {
		// The naive baseline runs as a child process so its RSS is its own.
		if err := Naive(); err != nil {
			fmt.Fprintln(stderr, "naive:", err)
			return exitcode.Failed
		}
		return exitcode.OK
	}
	fs := flag.NewFlagSet("albench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workloads := fs.String("workload", "latency", "comma-separated workloads: "+strings.Join(Names(), ", ")+", realtime")
	rt := RealtimeOptions{}
	fs.Float64Var(&rt.Rate, "rate", 10, "realtime: submissions completing per second")
	fs.DurationVar(&rt.Duration, "duration", time.Minute, "realtime: how long submissions keep completing")
	fs.DurationVar(&rt.SweepInterval, "interval", 10*time.Second, "realtime: SEARCH_INTERVAL of the push-drop and sweep modes")
	fs.Float64Var(&rt.Drop, "drop", 0.2, "realtime: fraction of pushes dropped in push-drop mode")
	modes := fs.String("modes", "", "comma-separated modes (one, multi, naive, searcher); default: the workload's own")
	bin := fs.String("bin", "", "directory with the binaries (default: build them now)")
	work := fs.String("work", "", "scratch directory (default: a temporary one)")
	jsonOut := fs.String("json", "", "also write the results as JSON to this file")
	var env multi
	fs.Var(&env, "env", "extra VAR=value for the pipeline processes (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitcode.OK
		}
		return exitcode.Usage
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "albench:", err)
		return exitcode.Failed
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *work == "" {
		d, err := os.MkdirTemp("", "albench-")
		if err != nil {
			return fail(err)
		}
		*work = d
	}
	if *bin == "" {
		*bin = *work + "/bin"
		fmt.Fprintln(stderr, "building binaries into", *bin)
		if err := Build(*bin); err != nil {
			return fail(err)
		}
	}
	var results []*Result
	var realtime []*RealtimeResult
	for _, name := range strings.Split(*workloads, ",") {
		if strings.TrimSpace(name) == "realtime" {
			ms := RealtimeModes
			if *modes != "" {
				ms = strings.Split(*modes, ",")
			}
			for _, m := range ms {
				o := rt
				o.Mode, o.Bin, o.Work, o.Env, o.Log = strings.TrimSpace(m), *bin, *work, env, stderr
				r, err := RunRealtime(ctx, o)
				if err != nil {
					return fail(fmt.Errorf("realtime/%s: %w", m, err))
				}
				realtime = append(realtime, r)
				WriteRealtimeTable(stderr, []*RealtimeResult{r})
			}
			continue
		}
		w, ok := Workloads[strings.TrimSpace(name)]
		if !ok {
			return fail(fmt.Errorf("unknown workload %q (have %s)", name, strings.Join(Names(), ", ")))
		}
		ms := w.Modes
		if *modes != "" {
			ms = strings.Split(*modes, ",")
		}
		fmt.Fprintf(stderr, "%s: %s\n", w.Name, w.About)
		for _, m := range ms {
			r, err := Run(ctx, Options{Workload: w, Mode: strings.TrimSpace(m), Bin: *bin, Work: *work, Env: env, Log: stderr})
			if err != nil {
				return fail(fmt.Errorf("%s/%s: %w", w.Name, m, err))
			}
			results = append(results, r)
			WriteTable(stderr, []*Result{r})
		}
	}
	fmt.Fprintln(stdout)
	if len(results) > 0 {
		WriteTable(stdout, results)
	}
	if len(realtime) > 0 {
		WriteRealtimeTable(stdout, realtime)
	}
	if *jsonOut != "" {
		var all any = results
		if len(realtime) > 0 {
			all = map[string]any{"throughput": results, "realtime": realtime}
		}
		b, _ := json.MarshalIndent(all, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			return fail(err)
		}
	}
	return exitcode.OK
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, " ") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }
