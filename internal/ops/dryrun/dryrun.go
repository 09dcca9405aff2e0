// Package dryrun is `alharvest --dry-run`: a full sweep and the scoring of
// every submission found, exactly as the pipeline scores them, without
// downloading anything and without touching NATS, DATA_DIR or OUTPUT_DIR.
// It sizes a first run: which files qualify, with what score, from which
// submissions, and which are already in OUTPUT_DIR.
package dryrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"text/tabwriter"

	"github.com/alharvest/alharvest/internal/assemblyline"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/pipeline/scorer"
)

// Source is the part of Assemblyline a dry run reads.
type Source interface {
	SearchSubmissions(ctx context.Context, req assemblyline.SearchRequest, fn func([]assemblyline.SearchItem) error) error
	SubmissionFull(ctx context.Context, sid string) (*assemblyline.Submission, error)
}

// Options configure a dry run.
type Options struct {
	Threshold int64
	// Filter is SEARCH_FILTER; PageSize SEARCH_PAGE_SIZE.
	Filter   string
	PageSize int
	// OutputDir is where collected files would go (only read).
	OutputDir string
	// Concurrency bounds the submissions scored at once (default 8).
	Concurrency int
	Logger      *slog.Logger
}

// File is one qualifying file.
type File struct {
	SHA256 string `json:"sha256"`
	// Score is the highest summed score among the submissions it qualified in.
	Score int64    `json:"score"`
	SIDs  []string `json:"sids"`
	// Present: OUTPUT_DIR already holds <sha256>.cart (not verified here).
	Present bool `json:"present"`
}

// Result is what a dry run found.
type Result struct {
	Threshold   int64 `json:"threshold"`
	Submissions int   `json:"submissions"`
	// Running lists submissions not completed yet: a run would wait for them.
	Running []string `json:"running"`
	// Failed maps submissions that could not be scored to why.
	Failed  map[string]string `json:"failed"`
	Files   []File            `json:"files"`
	Present int               `json:"present"`
	ToFetch int               `json:"to_download"`
}

// Run sweeps and scores. It fails only when the sweep fails or Assemblyline
// refuses the credentials; a submission that cannot be scored is listed.
func Run(ctx context.Context, al Source, o Options) (*Result, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	req := assemblyline.SearchRequest{Query: "max_score:>=" + strconv.FormatInt(o.Threshold, 10), Rows: o.PageSize}
	if o.Filter != "" {
		req.Filters = []string{o.Filter}
	}
	var sids []string
	seen := map[string]bool{}
	if err := al.SearchSubmissions(ctx, req, func(items []assemblyline.SearchItem) error {
		for _, it := range items {
			if !seen[it.SID] {
				seen[it.SID] = true
				sids = append(sids, it.SID)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}

	res := &Result{Threshold: o.Threshold, Submissions: len(sids), Running: []string{}, Failed: map[string]string{}}
	var (
		mu    sync.Mutex
		files = map[string]*File{}
		fatal error
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan string)
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sid := range work {
				sub, err := al.SubmissionFull(ctx, sid)
				mu.Lock()
				switch k := failure.KindOf(err); {
				case err == nil:
					for _, f := range scorer.Qualifying(sid, sub.Results, o.Threshold) {
						e := files[f.SHA256]
						if e == nil {
							e = &File{SHA256: f.SHA256}
							files[f.SHA256] = e
						}
						e.Score = max(e.Score, f.Score)
						e.SIDs = append(e.SIDs, sid)
					}
				case k == failure.NotReady:
					res.Running = append(res.Running, sid)
				case k == failure.Auth || k == failure.Forbidden || k == failure.QuotaDaily:
					if fatal == nil {
						fatal = err
						cancel()
					}
				case ctx.Err() != nil:
				default:
					res.Failed[sid] = err.Error()
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, sid := range sids {
		select {
		case work <- sid:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if fatal != nil {
		return nil, fatal
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return nil, err
	}

	for _, sha := range slices.Sorted(maps.Keys(files)) {
		f := files[sha]
		slices.Sort(f.SIDs)
		if fi, err := os.Stat(filepath.Join(o.OutputDir, sha+".cart")); err == nil && fi.Mode().IsRegular() {
			f.Present = true
			res.Present++
		} else {
			res.ToFetch++
		}
		res.Files = append(res.Files, *f)
	}
	if res.Files == nil {
		res.Files = []File{}
	}
	slices.Sort(res.Running)
	return res, nil
}

// WriteText prints one line per qualifying file, then a summary.
func (r *Result) WriteText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "sha256\tscore\tpresent\tsids")
	for _, f := range r.Files {
		present := "no"
		if f.Present {
			present = "yes"
		}
		sids := f.SIDs[0]
		if len(f.SIDs) > 1 {
			sids = fmt.Sprintf("%s (+%d more)", f.SIDs[0], len(f.SIDs)-1)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", f.SHA256, f.Score, present, sids)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d files qualify (score >= %d) in %d submissions: %d to download, %d already present.\n",
		len(r.Files), r.Threshold, r.Submissions, r.ToFetch, r.Present)
	if len(r.Running) > 0 {
		fmt.Fprintf(w, "%d submissions are still running; a run waits for them and may find more files.\n", len(r.Running))
	}
	if len(r.Failed) > 0 {
		fmt.Fprintf(w, "%d submissions could not be scored:\n", len(r.Failed))
		for _, sid := range slices.Sorted(maps.Keys(r.Failed)) {
			fmt.Fprintf(w, "  %s: %s\n", sid, r.Failed[sid])
		}
	}
	fmt.Fprintln(w, "Nothing was downloaded or written (dry run).")
}
