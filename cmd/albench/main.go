// Command albench measures alharvest end to end against alsim and prints one
// table (and, with -json, the same as JSON): wall time against the physical
// bound (alsim's server time / quota), efficiency, calls and quota 503s,
// throughput and each process's peak RSS. Run it from the module root:
//
//	go run ./cmd/albench -workload latency
//	go run ./cmd/albench -workload overhead,bytes -modes one,multi
//	go run ./cmd/albench -workload realtime          # push, push-drop, sweep: time to collect
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alharvest/alharvest/internal/bench"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "naive" {
		// The naive baseline runs as a child process so its RSS is its own.
		if err := bench.Naive(); err != nil {
			fmt.Fprintln(os.Stderr, "naive:", err)
			os.Exit(1)
		}
		return
	}
	workloads := flag.String("workload", "latency", "comma-separated workloads: "+strings.Join(bench.Names(), ", ")+", realtime")
	rt := bench.RealtimeOptions{}
	flag.Float64Var(&rt.Rate, "rate", 10, "realtime: submissions completing per second")
	flag.DurationVar(&rt.Duration, "duration", time.Minute, "realtime: how long submissions keep completing")
	flag.DurationVar(&rt.SweepInterval, "interval", 10*time.Second, "realtime: SEARCH_INTERVAL of the push-drop and sweep modes")
	flag.Float64Var(&rt.Drop, "drop", 0.2, "realtime: fraction of pushes dropped in push-drop mode")
	modes := flag.String("modes", "", "comma-separated modes (one, multi, naive, searcher); default: the workload's own")
	bin := flag.String("bin", "", "directory with the binaries (default: build them now)")
	work := flag.String("work", "", "scratch directory (default: a temporary one)")
	jsonOut := flag.String("json", "", "also write the results as JSON to this file")
	var env multi
	flag.Var(&env, "env", "extra VAR=value for the pipeline processes (repeatable)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *work == "" {
		d, err := os.MkdirTemp("", "albench-")
		if err != nil {
			fail(err)
		}
		*work = d
	}
	if *bin == "" {
		*bin = *work + "/bin"
		fmt.Fprintln(os.Stderr, "building binaries into", *bin)
		if err := bench.Build(*bin); err != nil {
			fail(err)
		}
	}
	var results []*bench.Result
	var realtime []*bench.RealtimeResult
	for _, name := range strings.Split(*workloads, ",") {
		if strings.TrimSpace(name) == "realtime" {
			ms := bench.RealtimeModes
			if *modes != "" {
				ms = strings.Split(*modes, ",")
			}
			for _, m := range ms {
				o := rt
				o.Mode, o.Bin, o.Work, o.Env, o.Log = strings.TrimSpace(m), *bin, *work, env, os.Stderr
				r, err := bench.RunRealtime(ctx, o)
				if err != nil {
					fail(fmt.Errorf("realtime/%s: %w", m, err))
				}
				realtime = append(realtime, r)
				bench.WriteRealtimeTable(os.Stderr, []*bench.RealtimeResult{r})
			}
			continue
		}
		w, ok := bench.Workloads[strings.TrimSpace(name)]
		if !ok {
			fail(fmt.Errorf("unknown workload %q (have %s)", name, strings.Join(bench.Names(), ", ")))
		}
		ms := w.Modes
		if *modes != "" {
			ms = strings.Split(*modes, ",")
		}
		fmt.Fprintf(os.Stderr, "%s: %s\n", w.Name, w.About)
		for _, m := range ms {
			r, err := bench.Run(ctx, bench.Options{Workload: w, Mode: strings.TrimSpace(m), Bin: *bin, Work: *work, Env: env, Log: os.Stderr})
			if err != nil {
				fail(fmt.Errorf("%s/%s: %w", w.Name, m, err))
			}
			results = append(results, r)
			bench.WriteTable(os.Stderr, []*bench.Result{r})
		}
	}
	fmt.Println()
	if len(results) > 0 {
		bench.WriteTable(os.Stdout, results)
	}
	if len(realtime) > 0 {
		bench.WriteRealtimeTable(os.Stdout, realtime)
	}
	if *jsonOut != "" {
		var all any = results
		if len(realtime) > 0 {
			all = map[string]any{"throughput": results, "realtime": realtime}
		}
		b, _ := json.MarshalIndent(all, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			fail(err)
		}
	}
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, " ") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "albench:", err)
	os.Exit(1)
}
