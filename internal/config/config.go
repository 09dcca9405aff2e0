// Package config reads alharvest's configuration from the environment and
// from command-line flags of the same meaning, which override it.
//
// Every setting is declared once, with its environment variable, flag,
// default and help text; Vars lists what a binary reads, which the
// documentation and the compose-file tests rely on.
package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/alharvest/alharvest/internal/assemblyline"
	"github.com/alharvest/alharvest/internal/secret"
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
	// Feed is `alharvest feed`: NATS, and the directory it reads the
	// collected files from; no Assemblyline.
	Feed = "alharvest-feed"
)

// DefaultNATSURL is where a process looks for NATS when NATS_URL is not set.
const DefaultNATSURL = "nats://127.0.0.1:4222"

// Config is the union of every binary's settings; each binary fills only
// the groups it declares.
type Config struct {
	// AL is how to reach Assemblyline: the client's own configuration
	// (AL_URL, AL_USER, AL_APIKEY, AL_VERIFY, AL_CA_FILE, AL_ALLOW_HTTP,
	// AL_MAX_RETRIES, AL_MAX_*_BYTES). A process adds its gate, observer
	// and logger.
	AL         assemblyline.Config
	Calls      Calls
	NATS       NATS
	Log        Log
	HTTPAddr   string
	Pprof      bool
	Threshold  int64
	Search     Search
	Scorer     Stage
	Downloader Stage
	OutputDir  string
	// OutputMetadata writes <sha256>.json provenance beside each cART.
	OutputMetadata bool
	// OutputReserve is the free space (bytes) the downloader keeps on
	// OUTPUT_DIR's file system (OUTPUT_RESERVE; 0 = none).
	OutputReserve int64
	DataDir       string
	DataSync      time.Duration // DATA_SYNC; zero = fsync every write
	Shutdown      time.Duration
	// StallAfter is how long a stage with work waiting may settle nothing
	// before it reports itself stalled (STALL_AFTER).
	StallAfter time.Duration
	Webhook    Webhook

	explicit map[string]bool // settings given rather than defaulted, by env name
	warnings []string        // see Warnings
	alarms   []string        // see Alarms
}

// Explicit reports whether the setting named env (its environment variable)
// was given in the environment or on the command line rather than left at
// its default, so a command can pick a better default of its own.
func (c *Config) Explicit(env string) bool { return c.explicit[env] }

// Calls bounds how many Assemblyline calls run at once.
type Calls struct {
	// Max is this process's ceiling in the one-command mode or without a
	// shared budget, where it adapts alone below it (AL_MAX_CALLS).
	Max int
	// Quota overrides the per-user concurrent-call quota alharvest learns
	// from Assemblyline's 503s (AL_QUOTA; 0 = learn it).
	Quota int
	// Shared makes every process calling the same user share one budget
	// through NATS; false leaves each process to adapt alone
	// (AL_SHARED_QUOTA).
	Shared bool
}

// NATS is how to reach NATS and how to lay out JetStream.
type NATS struct {
	URL      string
	Creds    string
	NKey     string
	User     string
	Password secret.String
	Token    secret.String
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
	// A binary's extra may replace the usage text (to list subcommands).
	l.fs.Usage = func() { l.usage(l.fs.Output()) }
	if extra != nil {
		extra(l.fs)
	}
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

// Secrets lists the secret values this configuration holds (the
// Assemblyline key and its password part, NATS and webhook passwords and
// tokens), for the log scrubber and the leak tests: the one list every
// binary uses.
func (cfg *Config) Secrets() []string {
	var out []string
	if key := cfg.AL.APIKey.Reveal(); key != "" {
		out = append(out, key)
		if _, pw, ok := strings.Cut(key, ":"); ok && pw != "" {
			out = append(out, pw)
		}
	}
	for _, s := range []string{cfg.NATS.Password.Reveal(), cfg.NATS.Token.Reveal(), cfg.Webhook.Password.Reveal(), cfg.Webhook.Token.Reveal()} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
