package bench

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
)

// Workload is a corpus, latency model and quota for alsim, named.
type Workload struct {
	Name string
	// About says what the workload measures.
	About string
	// Sim is alsim's command line (after "serve -addr ...").
	Sim []string
	// Modes the workload is meant for, in the order to run them.
	Modes []string
}

// Workloads are the measurements docs/performance.md reports.
var Workloads = map[string]Workload{
	"latency": {
		Name:  "latency",
		About: "latency-bound: 2000 matching submissions, ~3 qualifying files each (half shared), 50 ms/page, 30 ms/full, 20 ms + 50 MB/s per download, quota 10",
		Sim: []string{"-submissions", "2000", "-match-fraction", "1", "-qualifying-per-match", "3", "-shared-fraction", "0.5",
			"-search-latency", "50ms", "-full-latency", "30ms", "-download-latency", "20ms", "-download-rate", "52428800",
			"-quota", "10", "-cart-no-compression", "-prehash"},
		Modes: []string{ModeOne, ModeMulti, ModeNaive},
	},
	"replicas": {
		Name: "replicas",
		About: "scaling against one quota: 1000 matching submissions, ~3 qualifying files each (half shared), 50 ms/page, 30 ms/full, 20 ms + 50 MB/s per download, quota 10; " +
			"N scorers + N downloaders sharing the budget (multi-N) or each adapting alone (multi-N-aimd)",
		Sim: []string{"-submissions", "1000", "-match-fraction", "1", "-qualifying-per-match", "3", "-shared-fraction", "0.5",
			"-search-latency", "50ms", "-full-latency", "30ms", "-download-latency", "20ms", "-download-rate", "52428800",
			"-quota", "10", "-cart-no-compression", "-prehash"},
		Modes: []string{"multi-2-aimd", "multi-2", "multi-5-aimd", "multi-5", "multi-10-aimd", "multi-10"},
	},
	"overhead": {
		Name:  "overhead",
		About: "overhead-bound: no latency, no quota, 6000 submissions (all matching), small files: what alharvest itself costs per submission",
		Sim: []string{"-submissions", "6000", "-match-fraction", "1", "-qualifying-per-match", "2", "-shared-fraction", "0.5",
			"-size-min", "512", "-size-max", "4096", "-files-min", "1", "-files-max", "3",
			"-quota", "0", "-cart-no-compression", "-prehash", "-cart-cache", "256MiB"},
		Modes: []string{ModeOne, ModeMulti},
	},
	"bytes": {
		Name:  "bytes",
		About: "overhead-bound bytes: no latency, no quota, 150 submissions with 4-16 MiB files: MB/s of verified cART written",
		Sim: []string{"-submissions", "150", "-match-fraction", "1", "-qualifying-per-match", "2", "-shared-fraction", "0",
			"-size-min", "4194304", "-size-max", "16777216", "-quota", "0", "-cart-no-compression", "-prehash", "-cart-cache", "0", "-spool-threshold", "64MiB"},
		Modes: []string{ModeOne, ModeMulti},
	},
	"bigfile": {
		Name:  "bigfile",
		About: "memory: one 1 GiB qualifying file streams through a downloader",
		Sim: []string{"-submissions", "5", "-match-fraction", "1", "-qualifying-per-match", "1", "-big-file-size", "1GiB",
			"-quota", "0", "-cart-no-compression", "-prehash", "-cart-cache", "0"},
		Modes: []string{ModeMulti},
	},
	"growth-1k":   growth("1k", "1000"),
	"growth-10k":  growth("10k", "10000"),
	"growth-100k": growth("100k", "100000"),
	"searcher-10k": {
		Name:  "searcher-10k",
		About: "searcher memory: one sweep over 10 000 matching submissions (deep paging past the 10 000-result window)",
		Sim:   []string{"-submissions", "10000", "-match-fraction", "1", "-quota", "0"},
		Modes: []string{ModeSearcher},
	},
	"searcher-200k": {
		Name:  "searcher-200k",
		About: "searcher memory: one sweep over 200 000 matching submissions",
		Sim:   []string{"-submissions", "200000", "-match-fraction", "1", "-quota", "0"},
		Modes: []string{ModeSearcher},
	},
}

// ModeSearcher runs only nats-server and `searcher --once`.
const ModeSearcher = "searcher"

func growth(label, n string) Workload {
	return Workload{
		Name:  "growth-" + label,
		About: "growth: " + n + " submissions (30 % matching), small files, no latency, quota 10",
		Sim: []string{"-submissions", n, "-size-min", "512", "-size-max", "8192",
			"-quota", "10", "-cart-no-compression", "-prehash"},
		Modes: []string{ModeOne},
	}
}

// Names lists the workloads, sorted.
func Names() []string {
	var out []string
	for n := range Workloads {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Build compiles every binary the benchmark runs into dir: the module's
// commands and nats-server (from its go.mod). It must run inside the
// alharvest module, in any directory of it.
func Build(dir string) error {
	args := []string{"build", "-o", dir + string(os.PathSeparator),
		"github.com/alharvest/alharvest/cmd/...", "github.com/nats-io/nats-server/v2"}
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}
