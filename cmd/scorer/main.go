// Command scorer consumes submission IDs from alharvest.sids, sums the
// result scores of each file of each submission, and publishes every file
// that reaches SCORE_THRESHOLD to alharvest.files. Run as many replicas as
// you like; they share the durable consumer "scorer".
package main

import (
	"os"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/service"
)

func main() { os.Exit(service.Main(config.Scorer, os.Args[1:], os.Stdout, os.Stderr)) }
