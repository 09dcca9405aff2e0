package alsim

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/alharvest/alharvest/internal/bytesize"
)

// EnvPrefix prefixes the environment variable behind every flag:
// -design-threshold is also ALSIM_DESIGN_THRESHOLD.
const EnvPrefix = "ALSIM_"

// EnvName is the environment variable that sets flag name.
func EnvName(name string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

type timeFlag struct{ t *time.Time }

func (f timeFlag) String() string {
	if f.t == nil || f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339Nano)
}

func (f timeFlag) Set(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	*f.t = t
	return nil
}

// BindFlags registers every Config and Faults setting on fs, each with its
// ALSIM_* variable named in the help text, and returns the function that
// builds the Config once fs is parsed. A flag given as 0 where zero is not
// the default (fractions, quota, cache) means a literal zero.
func BindFlags(fs *flag.FlagSet) func() Config {
	var c Config
	env := func(name, usage string) string { return usage + " [$" + EnvName(name) + "]" }
	i64 := func(p *int64, name string, def int64, usage string) { fs.Int64Var(p, name, def, env(name, usage)) }
	in := func(p *int, name string, def int, usage string) { fs.IntVar(p, name, def, env(name, usage)) }
	fl := func(p *float64, name string, def float64, usage string) {
		fs.Float64Var(p, name, def, env(name, usage))
	}
	dur := func(p *time.Duration, name string, def time.Duration, usage string) {
		fs.DurationVar(p, name, def, env(name, usage))
	}
	bl := func(p *bool, name string, usage string) { fs.BoolVar(p, name, false, env(name, usage)) }
	size := func(p *int64, name string, def int64, usage string) {
		*p = def
		fs.Var((*bytesize.Value)(p), name, env(name, usage))
	}

	// Corpus.
	i64(&c.Seed, "seed", 1, "corpus seed: same seed, same corpus")
	in(&c.Submissions, "submissions", DefaultSubmissions, "number of submissions")
	fl(&c.MatchFraction, "match-fraction", DefaultMatchFraction, "fraction of submissions with max_score >= design threshold")
	i64(&c.DesignThreshold, "design-threshold", DefaultDesignThreshold, "score the corpus edge cases are built around")
	fl(&c.QualifyingPerMatch, "qualifying-per-match", DefaultQualifyingPerMatch, "mean number of qualifying files per matching submission")
	fl(&c.SharedFraction, "shared-fraction", DefaultSharedFraction, "fraction of qualifying file references reusing another submission's file")
	in(&c.FilesMin, "files-min", DefaultFilesMin, "least extra (non-qualifying) files per submission")
	in(&c.FilesMax, "files-max", DefaultFilesMax, "most extra (non-qualifying) files per submission")
	in(&c.ServicesMin, "services-min", DefaultServicesMin, "least services per file")
	in(&c.ServicesMax, "services-max", DefaultServicesMax, "most services per file")
	size(&c.SizeMin, "size-min", DefaultSizeMin, "smallest file (log-uniform sizes)")
	size(&c.SizeMax, "size-max", DefaultSizeMax, "largest file")
	size(&c.BigFileSize, "big-file-size", 0, "add one qualifying file of this size, e.g. 1GiB (0 = none)")
	in(&c.Incomplete, "incomplete", 0, "submissions still running (state submitted)")
	dur(&c.IncompleteFor, "incomplete-for", 0, "running submissions complete this long after start (0 = never)")
	in(&c.LateArrivals, "late-arrivals", 0, "matching submissions that appear during the arrival window")
	dur(&c.ArrivalWindow, "arrival-window", 0, "window after start over which late arrivals appear")
	fs.Var(timeFlag{&c.Now}, "now", env("now", "RFC 3339 anchor for document timestamps (default: start time)"))

	// Credentials.
	fs.StringVar(&c.User, "user", DefaultUser, env("user", "accepted X-USER"))
	fs.StringVar(&c.APIKey, "apikey", DefaultAPIKey, env("apikey", "accepted X-APIKEY (name:password)"))

	// Search.
	dur(&c.CursorKeepAlive, "cursor-keep-alive", DefaultCursorKeepAlive, "deep-paging cursor lifetime after its last page")
	in(&c.MaxOpenCursors, "max-open-cursors", DefaultMaxOpenCursors, "most open deep-paging cursors")

	// Quotas and latency.
	in(&c.Quota, "quota", DefaultQuota, "concurrent API call quota (0 = off)")
	bl(&c.QuotaLeaky, "quota-leaky", "reproduce the leaky quota quirk (a 503 frees another slot)")
	in(&c.DailyQuota, "daily-quota", 0, "daily API call quota (0 = off)")
	dur(&c.SearchLatency, "search-latency", 0, "latency per search page")
	dur(&c.FullLatency, "full-latency", 0, "latency per submission/full")
	dur(&c.DownloadLatency, "download-latency", 0, "latency per download before streaming")
	fl(&c.DownloadRate, "download-rate", 0, "filestore fetch rate in bytes/s added to download latency (0 = infinite)")
	fl(&c.LatencyJitter, "latency-jitter", 0, "spread latencies by ± this fraction")

	// Downloads.
	bl(&c.CartNoCompression, "cart-no-compression", "store cART data uncompressed (saves CPU)")
	size(&c.CartCacheBytes, "cart-cache", DefaultCartCacheBytes, "memory for cached encoded downloads (0 = none)")
	size(&c.SpoolThreshold, "spool-threshold", DefaultSpoolThreshold, "encode downloads larger than this into a temp file")
	fs.StringVar(&c.TempDir, "temp-dir", "", env("temp-dir", "directory for spooled downloads (default: system temp)"))
	bl(&c.DisableRawDownloads, "disable-raw", "refuse encoding=raw like allow_raw_downloads=false")
	bl(&c.Prehash, "prehash", "hash every file before serving")

	// Faults.
	f := &c.Faults
	i64(&f.Seed, "fault-seed", 0, "fault RNG seed (0 = corpus seed)")
	fl(&f.Error5xx, "fault-5xx", 0, "rate of 500/502/503/504 answers")
	fl(&f.Reset, "fault-reset", 0, "rate of connections dropped without a response")
	fl(&f.TruncateDownload, "fault-truncate", 0, "rate of downloads cut short")
	fl(&f.CorruptDownload, "fault-corrupt", 0, "rate of downloads with one byte flipped")
	in(&f.ExpireCursorAfterPages, "fault-expire-cursor-after", 0, "a cursor expires after serving this many pages (0 = never)")
	bl(&f.ExpireCursorEvery, "fault-expire-cursor-every", "expire every cursor, not just the first")
	in(&f.MissingResultsCalls, "fault-missing-results", 0, "first N full calls per matching submission miss a result")
	dur(&f.MissingResultsDelay, "fault-missing-results-delay", 0, "stall before answering with a missing result (real server: ~8s)")
	in(&f.MissingBlobs, "fault-missing-blobs", 0, "qualifying files whose blob is missing (always 404)")
	in(&f.AlwaysCorrupt, "fault-always-corrupt", 0, "qualifying files always served corrupt")
	bindOutageFlags(fs, &c.Outage, env)

	return func() Config {
		out := c
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		literalZero := func(name string, p *float64) {
			if *p == 0 && set[name] {
				*p = -1
			}
		}
		literalZero("match-fraction", &out.MatchFraction)
		literalZero("shared-fraction", &out.SharedFraction)
		if out.Quota == 0 {
			out.Quota = -1
		}
		if out.CartCacheBytes == 0 {
			out.CartCacheBytes = -1
		}
		return out
	}
}

// ApplyEnv sets every flag of fs whose ALSIM_* variable is present, so
// that command-line arguments parsed afterwards take precedence.
func ApplyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil {
			return
		}
		if v, ok := lookup(EnvName(f.Name)); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s: %w", EnvName(f.Name), serr)
			}
		}
	})
	return err
}
