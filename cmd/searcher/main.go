// Command searcher deep-pages Assemblyline's submission search for
// max_score >= SCORE_THRESHOLD and publishes each SID to alharvest.sids. As a
// service it sweeps every SEARCH_INTERVAL from its watermark; with --once it
// sweeps once and exits 0. Its flags and run are in internal/service.
package main

import (
	"os"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/service"
)

func main() { os.Exit(service.Main(config.Searcher, os.Args[1:], os.Stdout, os.Stderr)) }
