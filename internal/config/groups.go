// The settings, declared once each, in groups a binary picks from.

package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/alharvest/alharvest/internal/secret"
)

// group registers a set of settings on a loader.
type group func(l *loader, c *Config)

var groups = map[string][]group{
	Searcher:   {alGroup, natsGroup, logGroup, httpGroup("127.0.0.1:9101"), thresholdGroup, searchGroup, webhookGroup},
	Scorer:     {alGroup, natsGroup, logGroup, httpGroup("127.0.0.1:9102"), thresholdGroup, scorerGroup, shutdownGroup, stallGroup},
	Downloader: {alGroup, natsGroup, logGroup, httpGroup("127.0.0.1:9103"), downloaderGroup, outputGroup, shutdownGroup, stallGroup},
	Alharvest: {alGroup, natsGroup, logGroup, httpGroup(""), thresholdGroup, searchGroup, scorerGroup,
		downloaderGroup, outputGroup, dataGroup, shutdownGroup, webhookGroup, stallGroup},
	Admin: {natsGroup, logGroup, dataGroup, stallGroup},
	Feed:  {natsGroup, logGroup, httpGroup(""), feedOutputGroup, shutdownGroup},
}

func alGroup(l *loader, c *Config) {
	l.str(&c.AL.BaseURL, "AL_URL", "", "Assemblyline base URL, e.g. https://al.example.org", false)
	var host string
	l.str(&host, "AL_HOST", "", "alternative to AL_URL: host[:port], meaning https://AL_HOST", false)
	l.str(&c.AL.User, "AL_USER", "", "Assemblyline user name (X-USER)", false)
	l.str((*string)(&c.AL.APIKey), "AL_APIKEY", "", "API key as <key_name>:<password> (X-APIKEY)", true)
	var keyFile string
	l.str(&keyFile, "AL_APIKEY_FILE", "", "read the API key from this file (docker secrets)", false)
	var verify bool
	l.boolean(&verify, "AL_VERIFY", true, "verify Assemblyline's TLS certificate")
	l.str(&c.AL.CAFile, "AL_CA_FILE", "", "extra CA bundle (PEM) to trust for Assemblyline", false)
	l.boolean(&c.AL.AllowPlainHTTP, "AL_ALLOW_HTTP", false, "allow sending the API key over plain http:// to a non-loopback host")
	l.integer(&c.Calls.Max, "AL_MAX_CALLS", 10, "ceiling on this process's concurrent Assemblyline calls in the one-command mode or with AL_SHARED_QUOTA=false, where the process adapts alone below it")
	l.integer(&c.Calls.Quota, "AL_QUOTA", 0, "the user's concurrent-call quota, overriding what alharvest learns from Assemblyline's 503s (0 = learn it)")
	l.boolean(&c.Calls.Shared, "AL_SHARED_QUOTA", true, "share one call budget per Assemblyline user with every process through NATS (false: each process adapts alone)")
	l.integer(&c.AL.MaxRetries, "AL_MAX_RETRIES", 6, "in-process retries of one Assemblyline call on transient errors")
	l.int64(&c.AL.MaxJSONBytes, "AL_MAX_JSON_BYTES", 64<<20, "largest JSON answer read from Assemblyline (bytes)")
	l.int64(&c.AL.MaxDownloadBytes, "AL_MAX_DOWNLOAD_BYTES", 16<<30, "largest cART download accepted (bytes; 0 = no limit)")
	l.finally(func() error {
		c.AL.InsecureSkipVerify = !verify
		urlVar := "AL_URL"
		if c.AL.BaseURL == "" && host != "" {
			c.AL.BaseURL, urlVar = "https://"+host, "AL_HOST"
		}
		if keyFile != "" {
			if c.AL.APIKey != "" {
				return errors.New("set AL_APIKEY or AL_APIKEY_FILE, not both")
			}
			key, err := readSecretFile("AL_APIKEY_FILE", keyFile)
			if err != nil {
				return err
			}
			c.AL.APIKey = secret.String(key)
		}
		switch {
		case c.AL.BaseURL == "":
			return errors.New("AL_URL (or AL_HOST) is required")
		case checkALURL(urlVar, c.AL.BaseURL, c.AL.AllowPlainHTTP) != nil:
			return checkALURL(urlVar, c.AL.BaseURL, c.AL.AllowPlainHTTP)
		case c.AL.User == "":
			return errors.New("AL_USER is required")
		case c.AL.APIKey == "":
			return errors.New("AL_APIKEY (or AL_APIKEY_FILE) is required")
		case !strings.Contains(c.AL.APIKey.Reveal(), ":"):
			return errors.New("AL_APIKEY must look like <key_name>:<password>")
		case c.Calls.Quota < 0:
			return errors.New("AL_QUOTA must not be negative (0 = learn it from Assemblyline)")
		case c.Calls.Max < 1:
			return errors.New("AL_MAX_CALLS must be at least 1")
		case c.AL.MaxJSONBytes < 1<<20:
			return errors.New("AL_MAX_JSON_BYTES must be at least 1 MiB")
		case c.AL.MaxDownloadBytes < 0:
			return errors.New("AL_MAX_DOWNLOAD_BYTES must not be negative")
		}
		c.alarms = append(c.alarms, demoAPIKeyAlarm(c.AL)...)
		return checkALClient(&c.AL, keyFile != "")
	})
}

func natsGroup(l *loader, c *Config) {
	urlUsage, urlDefault := "NATS server URLs, comma-separated", DefaultNATSURL
	if l.binary == Alharvest || l.binary == Admin {
		// These commands keep to their own store unless told otherwise:
		// a default address here would only mislead.
		urlUsage, urlDefault = urlUsage+"; unset, the JetStream store in DATA_DIR", ""
	}
	l.str(&c.NATS.URL, "NATS_URL", urlDefault, urlUsage, false)
	l.str(&c.NATS.Creds, "NATS_CREDS", "", "NATS credentials file (JWT + nkey)", false)
	l.str(&c.NATS.NKey, "NATS_NKEY", "", "NATS nkey seed file", false)
	l.str(&c.NATS.User, "NATS_USER", "", "NATS user name", false)
	l.str((*string)(&c.NATS.Password), "NATS_PASSWORD", "", "NATS password", true)
	l.str((*string)(&c.NATS.Token), "NATS_TOKEN", "", "NATS token", true)
	l.secretFile((*string)(&c.NATS.Password), "NATS_PASSWORD", "NATS_PASSWORD_FILE")
	l.secretFile((*string)(&c.NATS.Token), "NATS_TOKEN", "NATS_TOKEN_FILE")
	l.str(&c.NATS.CAFile, "NATS_CA", "", "CA bundle (PEM) to verify the NATS server", false)
	l.str(&c.NATS.CertFile, "NATS_CERT", "", "client certificate (PEM) for NATS mutual TLS", false)
	l.str(&c.NATS.KeyFile, "NATS_KEY", "", "client key (PEM) for NATS mutual TLS", false)
	l.integer(&c.NATS.Replicas, "NATS_REPLICAS", 1, "replicas of streams, consumers and bucket (3 on a 3-node cluster)")
	l.finally(func() error {
		if c.NATS.Replicas < 1 || c.NATS.Replicas > 5 {
			return errors.New("NATS_REPLICAS must be between 1 and 5")
		}
		if (c.NATS.CertFile == "") != (c.NATS.KeyFile == "") {
			return errors.New("NATS_CERT and NATS_KEY go together")
		}
		return checkDemoNKey(c.NATS.NKey)
	})
}

func logGroup(l *loader, c *Config) {
	levelUsage := "debug, info, warn or error"
	if l.binary == Alharvest {
		levelUsage += " (unset: warn on a terminal, where the progress line says the rest)"
	}
	l.str(&c.Log.Level, "LOG_LEVEL", "info", levelUsage, false)
	l.str(&c.Log.Format, "LOG_FORMAT", "auto", "json, text, or auto (text on a terminal, JSON otherwise)", false)
	l.finally(func() error {
		if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.Log.Level)) {
			return fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", c.Log.Level)
		}
		if !slices.Contains([]string{"json", "text", "auto"}, strings.ToLower(c.Log.Format)) {
			return fmt.Errorf("LOG_FORMAT %q: want json, text or auto", c.Log.Format)
		}
		return nil
	})
}

func httpGroup(def string) group {
	return func(l *loader, c *Config) {
		l.strOpt(&c.HTTPAddr, "HTTP_ADDR", def, "address for /metrics, /healthz and /readyz (empty = off)", false, true)
		l.boolean(&c.Pprof, "HTTP_PPROF", false, "also serve Go's /debug/pprof/ profiles on HTTP_ADDR (for performance work; keep it off the network)")
	}
}

func thresholdGroup(l *loader, c *Config) {
	l.int64(&c.Threshold, "SCORE_THRESHOLD", 7000, "minimum per-file score")
}

func searchGroup(l *loader, c *Config) {
	l.str(&c.Search.Filter, "SEARCH_FILTER", "", "extra Lucene filter for the submission search", false)
	l.duration(&c.Search.Interval, "SEARCH_INTERVAL", 5*time.Minute, "time between sweeps in service mode")
	l.duration(&c.Search.Overlap, "SEARCH_OVERLAP", 10*time.Minute, "how far before the watermark a sweep starts")
	l.integer(&c.Search.PageSize, "SEARCH_PAGE_SIZE", 500, "rows per deep-paging page")
	l.finally(func() error {
		if c.Search.PageSize < 1 || c.Search.PageSize > 10000 {
			return errors.New("SEARCH_PAGE_SIZE must be between 1 and 10000")
		}
		if c.Search.Interval <= 0 {
			return errors.New("SEARCH_INTERVAL must be positive")
		}
		return nil
	})
}

func scorerGroup(l *loader, c *Config) {
	stageGroup(l, &c.Scorer, "SCORER", 16, 30*time.Second, true)
}

func downloaderGroup(l *loader, c *Config) {
	stageGroup(l, &c.Downloader, "DOWNLOADER", 16, 60*time.Second, false)
}

// stageGroup declares a consuming stage's settings; waits says whether
// its messages can wait for Assemblyline to finish work (the scorer's can).
func stageGroup(l *loader, s *Stage, prefix string, conc int, ack time.Duration, waits bool) {
	name := strings.ToLower(prefix)
	l.integer(&s.Concurrency, prefix+"_CONCURRENCY", conc, "messages the "+name+" handles at once in this process")
	l.duration(&s.AckWait, prefix+"_ACK_WAIT", ack, "redelivery deadline of an unacknowledged "+name+" message (kept alive while handled)")
	l.integer(&s.MaxAttempts, prefix+"_MAX_ATTEMPTS", 10, "attempts before a failing "+name+" message is dead-lettered")
	l.duration(&s.RetryMin, prefix+"_RETRY_MIN", time.Second, "first delay before retrying a failed "+name+" message (doubles each attempt)")
	l.duration(&s.RetryMax, prefix+"_RETRY_MAX", 5*time.Minute, "longest delay between attempts of a "+name+" message")
	if waits { // otherwise MaxDeferAge stays 0: the worker's default
		l.duration(&s.MaxDeferAge, prefix+"_MAX_WAIT", 24*time.Hour, "how long a submission still running may keep being retried before it is dead-lettered (retried after 15x "+prefix+"_RETRY_MIN, doubling up to 2x "+prefix+"_RETRY_MAX)")
	}
	l.finally(func() error {
		if s.Concurrency < 1 {
			return fmt.Errorf("%s_CONCURRENCY must be at least 1", prefix)
		}
		if s.AckWait < time.Second {
			return fmt.Errorf("%s_ACK_WAIT must be at least 1s", prefix)
		}
		if s.MaxAttempts < 1 {
			return fmt.Errorf("%s_MAX_ATTEMPTS must be at least 1", prefix)
		}
		if s.RetryMin <= 0 || s.RetryMax < s.RetryMin {
			return fmt.Errorf("%s_RETRY_MIN must be positive and at most %s_RETRY_MAX", prefix, prefix)
		}
		if waits && s.MaxDeferAge <= 0 {
			return fmt.Errorf("%s_MAX_WAIT must be positive", prefix)
		}
		return nil
	})
}

func outputGroup(l *loader, c *Config) {
	l.str(&c.OutputDir, "OUTPUT_DIR", "./collected", "directory receiving <sha256>.cart files", false)
	l.int64(&c.OutputReserve, "OUTPUT_RESERVE", 1<<30, "free space kept on OUTPUT_DIR's file system: a download that would leave less halts the downloader until space is freed (bytes; 0 = none)")
	l.boolean(&c.OutputMetadata, "OUTPUT_METADATA", false, "also write <sha256>.json beside each cART: Assemblyline server, SID, score, file type, times.completed, collection time")
}

// feedOutputGroup is OUTPUT_DIR as the feed reads it: where it finds the
// <sha256>.cart files, with no default (the event's own path).
func feedOutputGroup(l *loader, c *Config) {
	l.str(&c.OutputDir, "OUTPUT_DIR", "", "directory holding the <sha256>.cart files as this feed sees it (another host's or container's mount of the downloader's OUTPUT_DIR); empty = the path each collected event names", false)
}

func dataGroup(l *loader, c *Config) {
	l.str(&c.DataDir, "DATA_DIR", "./.alharvest", "where the one-command mode keeps its JetStream store", false)
	dataSync(l, c)
}

func shutdownGroup(l *loader, c *Config) {
	l.duration(&c.Shutdown, "SHUTDOWN_GRACE", 20*time.Second, "time in-flight work gets to finish after SIGTERM")
}

// DefaultStallAfter is STALL_AFTER's default: five times the longest an
// Assemblyline call may go without a byte before it fails
// (assemblyline.DefaultStallTimeout, 60 s), so a stage that is merely slow
// (a large download, a call retried a few times) is not called stalled,
// and one that is stuck is reported within minutes.
const DefaultStallAfter = 5 * time.Minute

func stallGroup(l *loader, c *Config) {
	l.duration(&c.StallAfter, "STALL_AFTER", DefaultStallAfter, "a stage with work waiting that has settled no message for this long reports stalled on /readyz, in alharvest status and in alharvest_stage_stalled")
	l.finally(func() error {
		if c.StallAfter < time.Second {
			return errors.New("STALL_AFTER must be at least 1s")
		}
		return nil
	})
}
