package harvest

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/bytesize"
	"github.com/alharvest/alharvest/internal/dlq"
	"github.com/alharvest/alharvest/internal/metrics"
	"github.com/alharvest/alharvest/internal/pipeline/searcher"
)

// Report is what a one-command run did.
type Report struct {
	OutputDir string `json:"output_dir"`
	DataDir   string `json:"data_dir"`
	// SubmissionsFound counts SIDs the sweep returned; SubmissionsScored
	// counts submissions scored (including any left queued by an earlier run
	// or published by another system).
	SubmissionsFound  int   `json:"submissions_found"`
	SubmissionsScored int64 `json:"submissions_scored"`
	// FilesQualified counts files at or above the threshold, per submission
	// (a file shared by two submissions counts twice).
	FilesQualified int64 `json:"files_qualified"`
	// Collected counts files downloaded and verified by this run;
	// AlreadyPresent counts qualifying files found verified in OUTPUT_DIR.
	Collected      int64 `json:"collected"`
	AlreadyPresent int64 `json:"already_present"`
	BytesWritten   int64 `json:"bytes_written"`
	// DeadLettered counts what this run gave up on; DeadLetters lists those
	// letters with their reasons (empty if the dead-letter stream could not
	// be read, which the count does not depend on).
	DeadLettered    int64        `json:"dead_lettered"`
	DeadLetters     []dlq.Letter `json:"dead_letters"`
	Retries         int64        `json:"retries"`
	ALCalls         int64        `json:"al_calls"`
	QuotaRejections int64        `json:"quota_rejections"`
	Watermark       time.Time    `json:"watermark"`
	FullSweep       bool         `json:"full_sweep"`
	// Sweeps counts the sweeps completed (more than one with --follow);
	// SubmissionsFound, Watermark and FullSweep cover all of them.
	Sweeps  int      `json:"sweeps"`
	Elapsed Duration `json:"elapsed"`

	// Sweep is the searcher's own account of the sweep.
	Sweep searcher.SweepResult `json:"-"`
}

// Duration marshals as a Go duration string ("1.5s").
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// addSweep accounts for one more completed sweep of a --follow run: counts
// add up, the first sweep says whether the run began with a full sweep, the
// last one holds the watermark.
func (r *Report) addSweep(res searcher.SweepResult) {
	if r.Sweeps == 0 {
		r.Sweep = res
	} else {
		r.Sweep.Found += res.Found
		r.Sweep.Published += res.Published
		r.Sweep.Restarts += res.Restarts
		r.Sweep.Duration += res.Duration
		r.Sweep.Watermark = res.Watermark
	}
	r.Sweeps++
}

func (r *Report) fill(s metrics.Snapshot, elapsed time.Duration) {
	r.SubmissionsFound = r.Sweep.Found
	r.SubmissionsScored = s.Scored
	r.FilesQualified = s.Qualified
	r.Collected = s.CollectedNew
	r.AlreadyPresent = s.Present
	r.BytesWritten = s.DownloadBytes
	r.Retries = s.Retried
	r.DeadLettered = s.DeadLettered
	r.ALCalls = s.ALCalls
	r.QuotaRejections = s.QuotaRejections
	r.Watermark = r.Sweep.Watermark
	r.FullSweep = r.Sweep.Since.IsZero()
	r.Elapsed = Duration(elapsed.Round(time.Millisecond))
}

// WriteText prints the report for a person.
func (r *Report) WriteText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	sweep := "since watermark"
	if r.FullSweep {
		sweep = "full"
	}
	if r.Sweeps > 1 {
		sweep = fmt.Sprintf("%d sweeps, the first %s", r.Sweeps, sweep)
	} else {
		sweep += " sweep"
	}
	fmt.Fprintf(tw, "submissions found\t%d\t(%s)\n", r.SubmissionsFound, sweep)
	fmt.Fprintf(tw, "submissions scored\t%d\t\n", r.SubmissionsScored)
	fmt.Fprintf(tw, "files qualified\t%d\t(per submission)\n", r.FilesQualified)
	fmt.Fprintf(tw, "collected\t%d\t(%s written)\n", r.Collected, bytesize.Format(r.BytesWritten))
	fmt.Fprintf(tw, "already present\t%d\t\n", r.AlreadyPresent)
	fmt.Fprintf(tw, "dead-lettered\t%d\t\n", r.DeadLettered)
	fmt.Fprintf(tw, "assemblyline calls\t%d\t(%d quota rejections, %d retries)\n", r.ALCalls, r.QuotaRejections, r.Retries)
	fmt.Fprintf(tw, "elapsed\t%s\t\n", time.Duration(r.Elapsed))
	fmt.Fprintf(tw, "output\t%s\t\n", r.OutputDir)
	tw.Flush()
	if r.DeadLettered > int64(len(r.DeadLetters)) {
		fmt.Fprintln(w, "\nthe dead letters could not be listed here; inspect: alharvest dlq list")
	}
	if len(r.DeadLetters) > 0 {
		fmt.Fprintln(w, "\ndead letters (inspect: alharvest dlq list; retry: alharvest dlq replay):")
		for _, l := range r.DeadLetters {
			fmt.Fprintf(w, "  #%d %s %s: %s\n", l.Seq, l.Stage, strings.TrimSpace(l.Payload), l.Reason)
		}
	}
}

func readDLQ(ctx context.Context, js jetstream.JetStream, after uint64) ([]dlq.Letter, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return dlq.List(ctx, js, dlq.Filter{FromSeq: after + 1})
}
