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
	"os"

	"github.com/alharvest/alharvest/internal/sim/bench"
)

func main() { os.Exit(bench.Main(os.Args[1:], os.Stdout, os.Stderr)) }
