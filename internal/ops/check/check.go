// Package check is `alharvest check`, a doctor for a setup: it resolves the
// configuration and tries, the way the pipeline will, each thing a run
// depends on — Assemblyline (reachability, TLS, credentials, search
// permission, quota), NATS (connection, JetStream, streams, consumers,
// bucket), the one-command mode's data directory (created, written,
// synced) and the output directory (writable, free space, permissions) —
// and says for each ok, warn or fail with what to do about it.
package check

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/secret"
)

// Status is the verdict on one line.
type Status string

// Verdicts, from good to bad.
const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Result is one checked item.
type Result struct {
	Area   string `json:"area"`
	Name   string `json:"check"`
	Status Status `json:"status"`
	// Detail says what was found; Fix, for warn and fail, what to do.
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report is a whole check.
type Report struct {
	// Config is the resolved configuration, secrets redacted.
	Config  []Setting `json:"config"`
	Results []Result  `json:"results"`
	// OK is true when no line failed.
	OK bool `json:"ok"`
}

// Options adjust a check.
type Options struct {
	// NATSExplicit: check the NATS server of NATS_URL; otherwise the
	// one-command mode's embedded store in DATA_DIR.
	NATSExplicit bool
	// Timeout bounds each network check (default 15 s).
	Timeout time.Duration
	Logger  *slog.Logger
	// Settings is the configuration to print (see Settings).
	Settings []Setting
}

// Setting is one configuration variable as resolved.
type Setting struct {
	Env   string `json:"env"`
	Value string `json:"value"`
	// Given is true when the environment or a flag set it (not a default).
	Given bool `json:"given"`
}

// Settings lists a binary's variables with the values fs resolved, secrets
// as secret.Mask when set: the flag package never holds their values.
func Settings(binary string, fs *flag.FlagSet, cfg *config.Config) []Setting {
	var out []Setting
	for _, v := range config.Vars(binary) {
		s := Setting{Env: v.Env, Given: cfg.Explicit(v.Env)}
		if f := fs.Lookup(v.Flag); f != nil {
			s.Value = f.Value.String()
		}
		if v.Secret {
			s.Value = ""
			if s.Given {
				s.Value = secret.Mask
			}
		} else if strings.HasSuffix(v.Env, "_URL") || strings.HasSuffix(v.Env, "_HOST") {
			// A URL may carry user:password@ (nats://user:pass@host).
			s.Value = secret.MaskURL(s.Value)
		}
		out = append(out, s)
	}
	return out
}

// Run checks everything and returns the report; it never returns early, so
// one broken part does not hide the state of the others.
func Run(ctx context.Context, cfg *config.Config, o Options) *Report {
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := &Report{Config: o.Settings}
	r.add(checkAssemblyline(ctx, cfg, o)...)
	r.add(checkNATS(ctx, cfg, o)...)
	r.add(checkOutput(cfg)...)
	if !o.NATSExplicit {
		r.add(checkDataDir(cfg)...)
	}
	r.OK = true
	for _, res := range r.Results {
		if res.Status == Fail {
			r.OK = false
		}
	}
	return r
}

func (r *Report) add(rs ...Result) { r.Results = append(r.Results, rs...) }

// WriteText prints the report for a person: the configuration, then one
// line per check with its fix indented below.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintln(w, "configuration (secrets redacted; * = set, the rest are defaults):")
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for _, s := range r.Config {
		mark := " "
		if s.Given {
			mark = "*"
		}
		fmt.Fprintf(tw, "  %s %s\t%s\n", mark, s.Env, s.Value)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", res.Status, res.Area, res.Name, res.Detail)
		if res.Fix != "" {
			fmt.Fprintf(tw, "\t\t\t-> %s\n", res.Fix)
		}
	}
	tw.Flush()
	ok, warn, fail := 0, 0, 0
	for _, res := range r.Results {
		switch res.Status {
		case OK:
			ok++
		case Warn:
			warn++
		case Fail:
			fail++
		}
	}
	verdict := "ready to run"
	if fail > 0 {
		verdict = "not ready: fix the failed checks"
	}
	fmt.Fprintf(w, "\n%d ok, %d warn, %d fail: %s\n", ok, warn, fail, verdict)
}

func ok(area, name, detail string) Result {
	return Result{Area: area, Name: name, Status: OK, Detail: detail}
}
func warn(area, name, detail, fix string) Result {
	return Result{Area: area, Name: name, Status: Warn, Detail: detail, Fix: fix}
}
func fail(area, name, detail, fix string) Result {
	return Result{Area: area, Name: name, Status: Fail, Detail: detail, Fix: fix}
}

// errText is an error's message on one line.
func errText(err error) string {
	if err == nil {
		return ""
	}
	var s []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			s = append(s, l)
		}
	}
	return strings.Join(s, "; ")
}
