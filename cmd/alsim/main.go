// Command alsim simulates the parts of the Assemblyline 4 REST API that
// alharvest uses (search, submission/full, file/download), over a
// deterministic synthetic corpus, with latency, quotas and fault injection.
//
//	alsim [serve] [-addr 127.0.0.1:8980] [flags]   serve until SIGINT/SIGTERM
//	alsim expected [-threshold N] [flags]          print the sha256s alharvest must collect
//	alsim uncollectable [-threshold N] [flags]     print the qualifying files that can never be downloaded
//
// Every flag can also come from an ALSIM_* environment variable (shown in
// -h); flags win over the environment.
package main

import (
	"os"

	"github.com/alharvest/alharvest/internal/sim/alsim"
)

func main() { os.Exit(alsim.Main(os.Args[1:], os.Stdout, os.Stderr)) }
