package bench

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/alharvest/alharvest/internal/cli"
	"github.com/alharvest/alharvest/internal/exitcode"
)

// Main is the albench command (see cmd/albench): run the named workloads in
// their modes, print the table to stdout (progress to stderr), optionally
// write JSON. `albench naive` is the naive baseline's child process. It
// returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	return cli.Main(Program, args, stdout, stderr)
}

// Program is the albench command.
var Program = &cli.Command{
	Name: "albench",
	Help: "Measures alharvest end to end against alsim and prints one table: wall time against the\n" +
		"physical bound, efficiency, calls and quota 503s, throughput and each process's peak RSS.\n" +
		"Run it from the module root.",
	Run: run,
}

func run(c *cli.Call) error {
	stdout, stderr := c.Stdout, c.Stderr
	if len(c.Args) > 0 && c.Args[0] == ModeNaive {
		// The naive baseline runs as a child process so its RSS is its own.
		if err := Naive(); err != nil {
			return fmt.Errorf("naive: %w", err)
		}
		return nil
	}
	fs := flag.NewFlagSet(c.Path, flag.ContinueOnError)
	workloads := fs.String("workload", "latency", "comma-separated workloads: "+strings.Join(Names(), ", ")+", realtime")
	rt := RealtimeOptions{}
	fs.Float64Var(&rt.Rate, "rate", 10, "realtime: submissions completing per second")
	fs.DurationVar(&rt.Duration, "duration", time.Minute, "realtime: how long submissions keep completing")
	fs.DurationVar(&rt.SweepInterval, "interval", 10*time.Second, "realtime: SEARCH_INTERVAL of the push-drop and sweep modes")
	fs.Float64Var(&rt.Drop, "drop", 0.2, "realtime: fraction of pushes dropped in push-drop mode")
	modes := fs.String("modes", "", "comma-separated modes: one, multi, multi-N, multi-N-aimd, naive, searcher, push, push-drop, sweep; default: the workload's own")
	bin := fs.String("bin", "", "directory with the binaries (default: build them now)")
	work := fs.String("work", "", "scratch directory (default: a temporary one)")
	jsonOut := fs.String("json", "", "also write the results as JSON to this file")
	var env multi
	fs.Var(&env, "env", "extra VAR=value for the pipeline processes (repeatable)")
	if err := c.Parse(fs); err != nil {
		return err
	}
	ctx := c.Ctx
	if *work == "" {
		d, err := os.MkdirTemp("", "albench-")
		if err != nil {
			return err
		}
		*work = d
	}
	if *bin == "" {
		*bin = *work + "/bin"
		fmt.Fprintln(stderr, "building binaries into", *bin)
		if err := Build(*bin); err != nil {
			return err
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
					return fmt.Errorf("realtime/%s: %w", m, err)
				}
				realtime = append(realtime, r)
				WriteRealtimeTable(stderr, []*RealtimeResult{r})
			}
			continue
		}
		w, ok := Workloads[strings.TrimSpace(name)]
		if !ok {
			return exitcode.Use(fmt.Errorf("unknown workload %q (have %s)", name, strings.Join(Names(), ", ")))
		}
		ms := w.Modes
		if *modes != "" {
			ms = strings.Split(*modes, ",")
		}
		fmt.Fprintf(stderr, "%s: %s\n", w.Name, w.About)
		for _, m := range ms {
			r, err := Run(ctx, Options{Workload: w, Mode: strings.TrimSpace(m), Bin: *bin, Work: *work, Env: env, Log: stderr})
			if err != nil {
				return fmt.Errorf("%s/%s: %w", w.Name, m, err)
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
			return err
		}
	}
	return nil
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, " ") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }
