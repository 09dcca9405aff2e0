// Command albench measures alharvest end to end against alsim and prints one
// table (and, with -json, the same as JSON): wall time against the physical
// bound (alsim's server time / quota), efficiency, calls and quota 503s,
// throughput and each process's peak RSS. Run it from the module root:
//
//	go run ./cmd/albench -workload latency
//	go run ./cmd/albench -workload overhead,bytes -modes one,multi
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

	"github.com/alharvest/alharvest/internal/bench"
	"github.com/alharvest/alharvest/internal/version"
)

func main() {
	if version.IsFlag(os.Args[1:]) {
		fmt.Println("albench", version.Get())
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "naive" {
		// The naive baseline runs as a child process so its RSS is its own.
		if err := bench.Naive(); err != nil {
			fmt.Fprintln(os.Stderr, "naive:", err)
			os.Exit(1)
		}
		return
	}
	workloads := flag.String("workload", "latency", "comma-separated workloads: "+strings.Join(bench.Names(), ", "))
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
	for _, name := range strings.Split(*workloads, ",") {
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
	bench.WriteTable(os.Stdout, results)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
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
