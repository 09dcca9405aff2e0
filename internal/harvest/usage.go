package harvest

import (
	"flag"
	"fmt"
	"text/tabwriter"
)

// subcommands lists what `alharvest -h` offers besides the run itself, in
// the order a new user needs them.
var subcommands = []struct{ name, about string }{
	{"demo", "try it: a simulated Assemblyline in this process, a full run, the result checked"},
	{"check", "test the setup: Assemblyline, NATS, OUTPUT_DIR; secrets redacted (--json)"},
	{"status", "queues, dead letters, watermark (--json, --watch 2s)"},
	{"dlq list|replay", "inspect or retry dead letters"},
	{"healthcheck", "probe this container's HTTP_ADDR (for Docker)"},
	{"recollect SID|SHA256...", "collect again on purpose, bypassing the duplicate windows"},
	{"feed -- CMD [ARG...]", "run your next program on every collected file, durably (docs/feed.md)"},
	{"contract [SUBJECT]", "print the NATS contract: AsyncAPI 3.0 and JSON Schemas"},
	{"version", "version, VCS revision and Go version (--json); also --version"},
}

func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, "Usage: alharvest [flags]        one sweep, collect, report, exit (0 ok, 3 dead letters, 1 failure, 2 usage)\n"+
		"       alharvest --dry-run [flags]  sweep and score only: what a run would collect; writes nothing\n"+
		"       alharvest COMMAND [flags]\n\nCommands:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range subcommands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.about)
	}
	tw.Flush()
	fmt.Fprint(w, "\n`alharvest COMMAND -h` shows a command's flags.\n\n"+
		"Flags (each can also be set with the environment variable in brackets):\n")
	fs.PrintDefaults()
}
