package alsim

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config describes one simulated Assemblyline: its corpus, credentials,
// latency, quotas and initial faults. The zero value is usable: every zero
// field means "the documented default". Fields whose default is not zero
// but where zero is also a meaningful setting (fractions, the quota) take a
// negative value to mean a literal zero / off.
type Config struct {
	// Seed makes the whole corpus (SIDs, files, scores, timestamps)
	// reproducible. Default 1.
	Seed int64
	// Submissions is the corpus size. Default 1000.
	Submissions int
	// MatchFraction is the share of submissions whose max_score reaches
	// DesignThreshold. Default 0.3; negative means none.
	MatchFraction float64
	// DesignThreshold is the score the corpus is built around (edge cases
	// sit exactly at, just below and just above it). Default 7000. Expected
	// works for any threshold, not only this one.
	DesignThreshold int64
	// QualifyingPerMatch is the mean number of files reaching
	// DesignThreshold in a matching submission (at least one). Default 3.
	QualifyingPerMatch float64
	// SharedFraction is the share of qualifying file references that reuse
	// a file some other submission already has, so the same sha256 shows up
	// in many submissions. Default 0.5; negative means none.
	SharedFraction float64
	// FilesMin and FilesMax bound the number of extra, non-qualifying files
	// (roots and extracted children) per submission. Defaults 2 and 6.
	FilesMin, FilesMax int
	// ServicesMin and ServicesMax bound the services that ran on each file
	// of a submission. Defaults 2 and 5.
	ServicesMin, ServicesMax int
	// SizeMin and SizeMax bound the log-uniform file size in bytes.
	// Defaults 1 KiB and 256 KiB.
	SizeMin, SizeMax int64
	// BigFileSize, when positive, adds one qualifying file of exactly that
	// many bytes (e.g. 1 GiB) to one matching submission, to exercise
	// streaming downloads.
	BigFileSize int64
	// Incomplete submissions are still running: state "submitted",
	// max_score 0, no results, a tree of root files only.
	Incomplete int
	// IncompleteFor is how long after server start the incomplete
	// submissions finish (with their real results). Zero means never.
	IncompleteFor time.Duration
	// LateArrivals matching submissions complete in the future, spread
	// evenly over ArrivalWindow after server start; until then they are
	// invisible to search and "submitted" in full.
	LateArrivals  int
	ArrivalWindow time.Duration
	// Now anchors document timestamps: past submissions are dated before
	// it, future ones after. Default: the time New is called. Fix it to get
	// byte-identical documents across runs.
	Now time.Time

	// User and APIKey are the only accepted credentials (X-USER and
	// X-APIKEY). Defaults "admin" and "devkey:devpassword".
	User, APIKey string

	// CursorKeepAlive is how long a deep-paging cursor survives after its
	// last page request. Default 5m, as Assemblyline asks of Elasticsearch.
	CursorKeepAlive time.Duration
	// MaxOpenCursors bounds open point-in-time cursors, like
	// Elasticsearch's search.max_open_pit_context. Default 500.
	MaxOpenCursors int

	// Quota is the per-user concurrent API call quota. Default 10;
	// negative turns it off.
	Quota int
	// QuotaLeaky reproduces the inferred Assemblyline quirk where a
	// rejected call also frees another caller's slot.
	QuotaLeaky bool
	// DailyQuota is the per-user daily API call quota; zero is off.
	DailyQuota int

	// Latencies are held while the call occupies its quota slot:
	// SearchLatency per search page, FullLatency per submission/full,
	// DownloadLatency plus size/DownloadRate (bytes per second; zero means
	// infinitely fast) per download, before its body is streamed.
	SearchLatency, FullLatency, DownloadLatency time.Duration
	DownloadRate                                float64
	// LatencyJitter spreads every latency uniformly by ± that fraction.
	LatencyJitter float64

	// CartNoCompression stores cART data uncompressed, which costs far
	// less CPU on random content; still valid cART.
	CartNoCompression bool
	// CartCacheBytes bounds the in-memory cache of encoded downloads.
	// Default 64 MiB; negative disables it.
	CartCacheBytes int64
	// SpoolThreshold is the encoded size above which a download is built
	// in a temporary file instead of memory, as the real server always
	// does. Default 8 MiB.
	SpoolThreshold int64
	// TempDir holds spooled downloads. Default os.TempDir().
	TempDir string
	// DisableRawDownloads answers encoding=raw with the 403 the real
	// server gives when allow_raw_downloads is off.
	DisableRawDownloads bool
	// Prehash computes every file's digests while building (sha256, and
	// md5 and sha1 for cART footers), so that during a benchmark the
	// simulator spends no time hashing.
	Prehash bool

	// Faults are the fault-injection settings in force at start.
	Faults Faults
	// Outage schedules one Assemblyline outage after start (see
	// OutageMode); Server.SetOutage and /_alsim/outage switch it at run time.
	Outage Outage
}

// Defaults, exported so the command line can show them.
const (
	DefaultSubmissions        = 1000
	DefaultMatchFraction      = 0.3
	DefaultDesignThreshold    = 7000
	DefaultQualifyingPerMatch = 3.0
	DefaultSharedFraction     = 0.5
	DefaultFilesMin           = 2
	DefaultFilesMax           = 6
	DefaultServicesMin        = 2
	DefaultServicesMax        = 5
	DefaultSizeMin            = 1 << 10
	DefaultSizeMax            = 256 << 10
	DefaultUser               = "admin"
	DefaultAPIKey             = "devkey:devpassword"
	DefaultCursorKeepAlive    = 5 * time.Minute
	DefaultMaxOpenCursors     = 500
	DefaultQuota              = 10
	DefaultCartCacheBytes     = 64 << 20
	DefaultSpoolThreshold     = 8 << 20
)

// withDefaults returns c with every zero field replaced by its default and
// negative "literal zero" markers resolved.
func (c Config) withDefaults() Config {
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Submissions == 0 {
		c.Submissions = DefaultSubmissions
	}
	c.MatchFraction = fraction(c.MatchFraction, DefaultMatchFraction)
	c.SharedFraction = fraction(c.SharedFraction, DefaultSharedFraction)
	if c.DesignThreshold == 0 {
		c.DesignThreshold = DefaultDesignThreshold
	}
	if c.QualifyingPerMatch == 0 {
		c.QualifyingPerMatch = DefaultQualifyingPerMatch
	}
	if c.FilesMin == 0 && c.FilesMax == 0 {
		c.FilesMin, c.FilesMax = DefaultFilesMin, DefaultFilesMax
	}
	if c.ServicesMin == 0 && c.ServicesMax == 0 {
		c.ServicesMin, c.ServicesMax = DefaultServicesMin, DefaultServicesMax
	}
	if c.SizeMin == 0 {
		c.SizeMin = DefaultSizeMin
	}
	if c.SizeMax == 0 {
		c.SizeMax = max(DefaultSizeMax, c.SizeMin)
	}
	if c.User == "" {
		c.User = DefaultUser
	}
	if c.APIKey == "" {
		c.APIKey = DefaultAPIKey
	}
	if c.CursorKeepAlive == 0 {
		c.CursorKeepAlive = DefaultCursorKeepAlive
	}
	if c.MaxOpenCursors == 0 {
		c.MaxOpenCursors = DefaultMaxOpenCursors
	}
	if c.Quota == 0 {
		c.Quota = DefaultQuota
	} else if c.Quota < 0 {
		c.Quota = 0
	}
	if c.CartCacheBytes == 0 {
		c.CartCacheBytes = DefaultCartCacheBytes
	} else if c.CartCacheBytes < 0 {
		c.CartCacheBytes = 0
	}
	if c.SpoolThreshold == 0 {
		c.SpoolThreshold = DefaultSpoolThreshold
	}
	return c
}

func fraction(v, def float64) float64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// Validate reports every setting that cannot work, after defaults apply.
func (c Config) Validate() error {
	d := c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if d.Submissions < 1 || d.Submissions > 20_000_000 {
		bad("submissions must be in 1..20000000, got %d", d.Submissions)
	}
	if d.MatchFraction > 1 {
		bad("match fraction must be in 0..1, got %v", d.MatchFraction)
	}
	if d.SharedFraction > 1 {
		bad("shared fraction must be in 0..1, got %v", d.SharedFraction)
	}
	if d.DesignThreshold < 10 || d.DesignThreshold > 1_000_000_000 {
		bad("design threshold must be in 10..1e9, got %d", d.DesignThreshold)
	}
	if d.QualifyingPerMatch < 1 || d.QualifyingPerMatch > 50 {
		bad("qualifying files per match must be in 1..50, got %v", d.QualifyingPerMatch)
	}
	if d.FilesMin < 0 || d.FilesMax < d.FilesMin || d.FilesMax > 500 {
		bad("files per submission must satisfy 0 <= min <= max <= 500, got %d..%d", d.FilesMin, d.FilesMax)
	}
	if d.ServicesMin < 1 || d.ServicesMax < d.ServicesMin || d.ServicesMax > len(services) {
		bad("services per file must satisfy 1 <= min <= max <= %d, got %d..%d", len(services), d.ServicesMin, d.ServicesMax)
	}
	if d.SizeMin < 1 || d.SizeMax < d.SizeMin || d.SizeMax > 1<<32 {
		bad("file sizes must satisfy 1 <= min <= max <= 4 GiB, got %d..%d", d.SizeMin, d.SizeMax)
	}
	if d.BigFileSize < 0 || d.BigFileSize > 1<<40 {
		bad("big file size must be in 0..1 TiB, got %d", d.BigFileSize)
	}
	if d.Incomplete < 0 || d.LateArrivals < 0 || d.Incomplete+d.LateArrivals > d.Submissions/2 {
		bad("incomplete (%d) plus late arrivals (%d) must not exceed half the submissions (%d)", d.Incomplete, d.LateArrivals, d.Submissions)
	}
	if d.IncompleteFor < 0 || d.ArrivalWindow < 0 {
		bad("incomplete-for and arrival window must not be negative")
	}
	if d.LateArrivals > 0 && d.ArrivalWindow <= 0 {
		bad("late arrivals need a positive arrival window")
	}
	if d.User == "" || strings.ContainsAny(d.User, "\r\n") {
		bad("user must be a non-empty header value")
	}
	if !strings.Contains(d.APIKey, ":") || strings.ContainsAny(d.APIKey, "\r\n") {
		bad("API key must look like name:password, got %q", d.APIKey)
	}
	if d.CursorKeepAlive < 0 || d.MaxOpenCursors < 0 {
		bad("cursor keep-alive and max open cursors must not be negative")
	}
	if d.DailyQuota < 0 {
		bad("daily quota must not be negative")
	}
	if d.SearchLatency < 0 || d.FullLatency < 0 || d.DownloadLatency < 0 || d.DownloadRate < 0 {
		bad("latencies and download rate must not be negative")
	}
	if d.LatencyJitter < 0 || d.LatencyJitter > 1 {
		bad("latency jitter must be in 0..1, got %v", d.LatencyJitter)
	}
	if d.SpoolThreshold < 0 {
		bad("spool threshold must not be negative")
	}
	if err := d.Faults.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := d.Outage.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
