// Command alharvest is the one-command run: an embedded NATS JetStream
// server and the searcher, scorer and downloader in one process. It sweeps
// once, waits until every queue is drained, prints a report and exits (0 =
// all collected, 3 = something was dead-lettered, 1 = failure); --follow
// keeps it running. `alharvest dlq` and `alharvest status` administer a
// running pipeline, local or remote.
package main

import (
	"os"

	"github.com/alharvest/alharvest/internal/harvest"
)

func main() { os.Exit(harvest.Main(os.Args[1:], os.Stdout, os.Stderr)) }
