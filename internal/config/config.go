// Package config reads alharvest's configuration from the environment and
// from command-line flags of the same meaning, which override it.
//
// Every setting is declared once, with its environment variable, flag,
// default and help text; Vars lists what a binary reads, which the
// documentation and the compose-file tests rely on.
package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Binaries that read configuration.
const (
	Searcher   = "searcher"
	Scorer     = "scorer"
	Downloader = "downloader"
	Alharvest  = "alharvest"
	// Admin is alharvest's admin subcommands (dlq, status): NATS or a data
	// directory, no Assemblyline.
	Admin = "alharvest-admin"
)

// DefaultNATSURL is where a process looks for NATS when NATS_URL is not set.
const DefaultNATSURL = "nats://127.0.0.1:4222"

// Config is the union of every binary's settings; each binary fills only
// the groups it declares.
type Config struct {
	AL         AL
	NATS       NATS
	Log        Log
	HTTPAddr   string
	Pprof      bool
	Threshold  int64
	Search     Search
	Scorer     Stage
	Downloader Stage
	OutputDir  string
	// OutputReserve is the free space (bytes) the downloader keeps on
	// OUTPUT_DIR's file system (OUTPUT_RESERVE; 0 = none).
	OutputReserve int64
	DataDir       string
	DataSync      time.Duration // DATA_SYNC; zero = fsync every write
	Shutdown      time.Duration

	explicit map[string]bool // settings given rather than defaulted, by env name
	warnings []string        // see Warnings
}

// Explicit reports whether the setting named env (its environment variable)
// was given in the environment or on the command line rather than left at
// its default, so a command can pick a better default of its own.
func (c *Config) Explicit(env string) bool { return c.explicit[env] }

// AL is how to reach Assemblyline.
type AL struct {
	URL        string
	User       string
	APIKey     string // secret: never printed
	VerifyTLS  bool
	CAFile     string
	AllowHTTP  bool
	MaxCalls   int
	MaxRetries int
	// MaxJSONBytes and MaxDownloadBytes bound what alharvest reads from one
	// answer, so a broken or hostile server cannot exhaust memory or disk.
	MaxJSONBytes     int64
	MaxDownloadBytes int64
}

// NATS is how to reach NATS and how to lay out JetStream.
type NATS struct {
	URL      string
	Creds    string
	NKey     string
	User     string
	Password string // secret
	Token    string // secret
	CAFile   string
	CertFile string
	KeyFile  string
	Replicas int
}

// Log configures log/slog output.
type Log struct {
	Level  string
	Format string
}

// Search configures the searcher.
type Search struct {
	Filter   string
	Interval time.Duration
	Overlap  time.Duration
	PageSize int
}

// Stage configures a consuming stage.
type Stage struct {
	Concurrency int
	AckWait     time.Duration
	MaxAttempts int
	// RetryMin and RetryMax bound the exponential delay between attempts
	// after a transient failure.
	RetryMin, RetryMax time.Duration
	// MaxDeferAge bounds how long a not-yet-ready message keeps waiting
	// (SCORER_MAX_WAIT); zero, for a stage whose messages never wait,
	// leaves the worker's default.
	MaxDeferAge time.Duration
}

// Var describes one setting.
type Var struct {
	Env     string
	Flag    string
	Default string
	Usage   string
	Secret  bool
}

// group registers a set of settings on a loader.
type group func(l *loader, c *Config)

var groups = map[string][]group{
	Searcher:   {alGroup, natsGroup, logGroup, httpGroup(":9101"), thresholdGroup, searchGroup},
	Scorer:     {alGroup, natsGroup, logGroup, httpGroup(":9102"), thresholdGroup, scorerGroup, shutdownGroup},
	Downloader: {alGroup, natsGroup, logGroup, httpGroup(":9103"), downloaderGroup, outputGroup, shutdownGroup},
	Alharvest: {alGroup, natsGroup, logGroup, httpGroup(""), thresholdGroup, searchGroup, scorerGroup,
		downloaderGroup, outputGroup, dataGroup, shutdownGroup},
	Admin: {natsGroup, logGroup, dataGroup},
}

func alGroup(l *loader, c *Config) {
	l.str(&c.AL.URL, "AL_URL", "", "Assemblyline base URL, e.g. https://al.example.org", false)
	var host string
	l.str(&host, "AL_HOST", "", "alternative to AL_URL: host[:port], meaning https://AL_HOST", false)
	l.str(&c.AL.User, "AL_USER", "", "Assemblyline user name (X-USER)", false)
	l.str(&c.AL.APIKey, "AL_APIKEY", "", "API key as <key_name>:<password> (X-APIKEY)", true)
	var keyFile string
	l.str(&keyFile, "AL_APIKEY_FILE", "", "read the API key from this file (docker secrets)", false)
	l.boolean(&c.AL.VerifyTLS, "AL_VERIFY", true, "verify Assemblyline's TLS certificate")
	l.str(&c.AL.CAFile, "AL_CA_FILE", "", "extra CA bundle (PEM) to trust for Assemblyline", false)
	l.boolean(&c.AL.AllowHTTP, "AL_ALLOW_HTTP", false, "allow sending the API key over plain http:// to a non-loopback host")
	l.integer(&c.AL.MaxCalls, "AL_MAX_CALLS", 10, "ceiling on this process's concurrent Assemblyline calls; below it the process adapts to the per-user quota it shares with every other process")
	l.integer(&c.AL.MaxRetries, "AL_MAX_RETRIES", 6, "in-process retries of one Assemblyline call on transient errors")
	l.int64(&c.AL.MaxJSONBytes, "AL_MAX_JSON_BYTES", 64<<20, "largest JSON answer read from Assemblyline (bytes)")
	l.int64(&c.AL.MaxDownloadBytes, "AL_MAX_DOWNLOAD_BYTES", 16<<30, "largest cART download accepted (bytes; 0 = no limit)")
	l.finally(func() error {
		if c.AL.URL == "" && host != "" {
			c.AL.URL = "https://" + host
		}
		if keyFile != "" {
			if c.AL.APIKey != "" {
				return errors.New("set AL_APIKEY or AL_APIKEY_FILE, not both")
			}
			b, err := os.ReadFile(keyFile)
			if err != nil {
				return fmt.Errorf("AL_APIKEY_FILE: %w", err)
			}
			c.AL.APIKey = strings.TrimSpace(string(b))
		}
		switch {
		case c.AL.URL == "":
			return errors.New("AL_URL (or AL_HOST) is required")
		case c.AL.User == "":
			return errors.New("AL_USER is required")
		case c.AL.APIKey == "":
			return errors.New("AL_APIKEY (or AL_APIKEY_FILE) is required")
		case !strings.Contains(c.AL.APIKey, ":"):
			return errors.New("AL_APIKEY must look like <key_name>:<password>")
		case c.AL.MaxCalls < 1:
			return errors.New("AL_MAX_CALLS must be at least 1")
		case c.AL.MaxJSONBytes < 1<<20:
			return errors.New("AL_MAX_JSON_BYTES must be at least 1 MiB")
		case c.AL.MaxDownloadBytes < 0:
			return errors.New("AL_MAX_DOWNLOAD_BYTES must not be negative")
		}
		return nil
	})
}

func natsGroup(l *loader, c *Config) {
	l.str(&c.NATS.URL, "NATS_URL", DefaultNATSURL, "NATS server URLs, comma-separated", false)
	l.str(&c.NATS.Creds, "NATS_CREDS", "", "NATS credentials file (JWT + nkey)", false)
	l.str(&c.NATS.NKey, "NATS_NKEY", "", "NATS nkey seed file", false)
	l.str(&c.NATS.User, "NATS_USER", "", "NATS user name", false)
	l.str(&c.NATS.Password, "NATS_PASSWORD", "", "NATS password", true)
	l.str(&c.NATS.Token, "NATS_TOKEN", "", "NATS token", true)
	l.secretFile(&c.NATS.Password, "NATS_PASSWORD", "NATS_PASSWORD_FILE")
	l.secretFile(&c.NATS.Token, "NATS_TOKEN", "NATS_TOKEN_FILE")
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
		return nil
	})
}

func logGroup(l *loader, c *Config) {
	l.str(&c.Log.Level, "LOG_LEVEL", "info", "debug, info, warn or error", false)
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
}

func dataGroup(l *loader, c *Config) {
	l.str(&c.DataDir, "DATA_DIR", "./.alharvest", "where the one-command mode keeps its JetStream store", false)
	dataSync(l, c)
}

func shutdownGroup(l *loader, c *Config) {
	l.duration(&c.Shutdown, "SHUTDOWN_GRACE", 20*time.Second, "time in-flight work gets to finish after SIGTERM")
}

// Vars lists the settings a binary reads, in declaration order.
func Vars(binary string) []Var {
	l := newLoader(binary, func(string) (string, bool) { return "", false })
	var c Config
	for _, g := range groups[binary] {
		g(l, &c)
	}
	return l.vars
}

// Load reads a binary's settings: environment first, then flags in args.
// The returned FlagSet holds the binary's flags plus any extra it declared
// with extra (called before parsing). Use the returned error as-is: it
// names the variable at fault and never contains a secret.
func Load(binary string, args []string, lookupEnv func(string) (string, bool), extra func(fs *flag.FlagSet)) (*Config, *flag.FlagSet, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	gs, ok := groups[binary]
	if !ok {
		return nil, nil, fmt.Errorf("config: unknown binary %q", binary)
	}
	l := newLoader(binary, lookupEnv)
	c := &Config{}
	for _, g := range gs {
		g(l, c)
	}
	if extra != nil {
		extra(l.fs)
	}
	l.fs.Usage = func() { l.usage(l.fs.Output()) }
	if err := l.fs.Parse(args); err != nil {
		return nil, l.fs, err
	}
	c.explicit = l.explicit
	c.warnings = l.commandLineSecrets()
	l.fs.Visit(func(f *flag.Flag) {
		for _, v := range l.vars {
			if v.Flag == f.Name {
				c.explicit[v.Env] = true
			}
		}
	})
	if len(l.errs) > 0 {
		return nil, l.fs, errors.Join(l.errs...)
	}
	for _, f := range l.checks {
		if err := f(); err != nil {
			return nil, l.fs, err
		}
	}
	return c, l.fs, nil
}

type loader struct {
	binary string
	fs     *flag.FlagSet
	lookup func(string) (string, bool)
	vars   []Var
	errs   []error
	checks []func() error
	// explicit holds the settings the environment gave.
	explicit map[string]bool
}

func newLoader(binary string, lookup func(string) (string, bool)) *loader {
	fs := flag.NewFlagSet(binary, flag.ContinueOnError)
	return &loader{binary: binary, fs: fs, lookup: lookup, explicit: map[string]bool{}}
}

func flagName(env string) string { return strings.ReplaceAll(strings.ToLower(env), "_", "-") }

// add declares a setting and returns its flag name and its value from the
// environment, or def. A variable set to the empty string counts as unset —
// compose files often pass ${VAR:-} through — except where emptyMeansOff.
func (l *loader) add(env, def, usage string, secret, emptyMeansOff bool) (string, string) {
	l.vars = append(l.vars, Var{Env: env, Flag: flagName(env), Default: def, Usage: usage, Secret: secret})
	v, ok := l.lookup(env)
	if !ok || (v == "" && !emptyMeansOff) {
		v = def
	} else {
		l.explicit[env] = true
	}
	return flagName(env), v
}

func (l *loader) str(p *string, env, def, usage string, secret bool) {
	l.strOpt(p, env, def, usage, secret, false)
}

// strOpt is str for a setting where an empty value switches something off.
func (l *loader) strOpt(p *string, env, def, usage string, secret, emptyMeansOff bool) {
	name, v := l.add(env, def, usage, secret, emptyMeansOff)
	help := usage + " [$" + env + "]"
	if secret {
		// The flag package prints a flag's default in -h; a secret from the
		// environment must not appear there.
		*p = v
		l.fs.Func(name, help, func(s string) error { *p = s; return nil })
		return
	}
	l.fs.StringVar(p, name, v, help)
}

func (l *loader) boolean(p *bool, env string, def bool, usage string) {
	name, v := l.add(env, strconv.FormatBool(def), usage, false, false)
	b, err := strconv.ParseBool(v)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s=%q: want true or false", env, v))
	}
	l.fs.BoolVar(p, name, b, usage+" [$"+env+"]")
}

func (l *loader) integer(p *int, env string, def int, usage string) {
	name, v := l.add(env, strconv.Itoa(def), usage, false, false)
	n, err := strconv.Atoi(v)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s=%q: want an integer", env, v))
	}
	l.fs.IntVar(p, name, n, usage+" [$"+env+"]")
}

func (l *loader) int64(p *int64, env string, def int64, usage string) {
	name, v := l.add(env, strconv.FormatInt(def, 10), usage, false, false)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s=%q: want an integer", env, v))
	}
	l.fs.Int64Var(p, name, n, usage+" [$"+env+"]")
}

func (l *loader) duration(p *time.Duration, env string, def time.Duration, usage string) {
	name, v := l.add(env, def.String(), usage, false, false)
	d, err := time.ParseDuration(v)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s=%q: want a duration such as 30s or 5m", env, v))
	}
	l.fs.DurationVar(p, name, d, usage+" [$"+env+"]")
}

// finally registers a check that runs after flags are parsed.
func (l *loader) finally(f func() error) { l.checks = append(l.checks, f) }

func (l *loader) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage of %s (every flag can also be set with the environment variable in brackets):\n", l.binary)
	l.fs.PrintDefaults()
}

// redactSecret replaces a set secret in printed configuration.
func redactSecret(s string) string {
	if s == "" {
		return ""
	}
	return "[REDACTED]"
}

// alView and natsView are AL and NATS without their methods, for printing.
type (
	alView   AL
	natsView NATS
)

func (a AL) view() alView {
	v := alView(a)
	v.APIKey = redactSecret(v.APIKey)
	return v
}

func (n NATS) view() natsView {
	v := natsView(n)
	v.Password, v.Token = redactSecret(v.Password), redactSecret(v.Token)
	return v
}

// Format prints AL as fmt would with any verb, the API key redacted. It also
// covers a Config printed whole, since fmt formats its fields with their methods.
func (a AL) Format(f fmt.State, verb rune) { fmt.Fprintf(f, fmt.FormatString(f, verb), a.view()) }

// MarshalJSON encodes AL with the API key redacted (slog's JSON handler uses it).
func (a AL) MarshalJSON() ([]byte, error) { return json.Marshal(a.view()) }

// Format prints NATS as fmt would with any verb, password and token redacted.
func (n NATS) Format(f fmt.State, verb rune) { fmt.Fprintf(f, fmt.FormatString(f, verb), n.view()) }

// MarshalJSON encodes NATS with password and token redacted.
func (n NATS) MarshalJSON() ([]byte, error) { return json.Marshal(n.view()) }
