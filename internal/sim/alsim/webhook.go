package alsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// WebhookConfig plays one Assemblyline post-process action with a webhook
// (see assemblyline-webhooks.md): every submission that completes while
// alsim runs — late arrivals appearing, running submissions finishing —
// with max_score >= MinScore is pushed to URL, with Assemblyline's retry
// policy.
type WebhookConfig struct {
	// URL is the webhook's uri; empty means no pushes.
	URL string
	// Method is POST (Assemblyline's default) or PUT.
	Method string
	// User and Password are HTTP Basic credentials, sent when both are set.
	User, Password string
	// Headers are extra "Name: value" headers, e.g.
	// "Authorization: Bearer <token>".
	Headers []string
	// MinScore is the action's filter, max_score: >=MinScore.
	MinScore int64
	// Retries is the webhook's retries: attempts per push (default 3).
	Retries int
	// Drop is the fraction of pushes never sent, as if the receiver had
	// been down for all of its tries: only a sweep finds those.
	Drop float64
	// Seed chooses which pushes are dropped (default: the corpus seed).
	Seed int64
	// Timeout bounds one attempt (default 10 s).
	Timeout time.Duration
}

// BindWebhookFlags registers the -webhook-* flags on fs (each also an
// ALSIM_* variable) and returns the configuration they fill.
func BindWebhookFlags(fs *flag.FlagSet) *WebhookConfig {
	c := &WebhookConfig{}
	env := func(name, usage string) string { return usage + " [$" + EnvName(name) + "]" }
	fs.StringVar(&c.URL, "webhook-url", "", env("webhook-url", "push each submission that completes to this webhook uri, like an Assemblyline post-process action (empty = off)"))
	fs.StringVar(&c.Method, "webhook-method", http.MethodPost, env("webhook-method", "webhook method, POST or PUT"))
	fs.StringVar(&c.User, "webhook-user", "", env("webhook-user", "webhook HTTP Basic username"))
	fs.StringVar(&c.Password, "webhook-password", "", env("webhook-password", "webhook HTTP Basic password"))
	fs.Func("webhook-header", env("webhook-header", `extra webhook header "Name: value", e.g. "Authorization: Bearer TOKEN" (repeatable)`), func(v string) error {
		if !strings.Contains(v, ":") {
			return errors.New(`want "Name: value"`)
		}
		c.Headers = append(c.Headers, v)
		return nil
	})
	fs.Func("webhook-token-file", env("webhook-token-file", `send "Authorization: Bearer <token>" with the token in this file (the searcher's WEBHOOK_TOKEN_FILE)`), func(path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return fmt.Errorf("%s is empty", path)
		}
		c.Headers = append(c.Headers, "Authorization: Bearer "+tok)
		return nil
	})
	fs.Int64Var(&c.MinScore, "webhook-min-score", DefaultDesignThreshold, env("webhook-min-score", "the action's filter: push submissions with max_score >= this"))
	fs.IntVar(&c.Retries, "webhook-retries", 3, env("webhook-retries", "attempts per push (Assemblyline's webhook retries)"))
	fs.Float64Var(&c.Drop, "webhook-drop", 0, env("webhook-drop", "fraction of pushes dropped (never sent), to exercise the sweep"))
	fs.Int64Var(&c.Seed, "webhook-seed", 0, env("webhook-seed", "seed choosing the dropped pushes (0 = corpus seed)"))
	return c
}

// Validate reports settings that cannot work.
func (c WebhookConfig) Validate() error {
	var errs []error
	if c.URL != "" && !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
		errs = append(errs, fmt.Errorf("webhook url must be http:// or https://, got %q", c.URL))
	}
	if m := strings.ToUpper(c.Method); m != "" && m != http.MethodPost && m != http.MethodPut {
		errs = append(errs, fmt.Errorf("webhook method must be POST or PUT, got %q", c.Method))
	}
	if c.Drop < 0 || c.Drop > 1 {
		errs = append(errs, fmt.Errorf("webhook drop must be in 0..1, got %v", c.Drop))
	}
	if c.Retries < 0 {
		errs = append(errs, errors.New("webhook retries must not be negative"))
	}
	return errors.Join(errs...)
}

// PushStats counts what the pusher did.
type PushStats struct {
	// Due is pushes whose submission completed and matched the filter.
	Due int64 `json:"due"`
	// Dropped is pushes the fault knob suppressed.
	Dropped int64 `json:"dropped"`
	// Delivered is pushes answered 2xx; Failed gave up after every try.
	Delivered int64 `json:"delivered"`
	Failed    int64 `json:"failed"`
	// Attempts is HTTP attempts made, retries included.
	Attempts int64 `json:"attempts"`
}

// Pusher pushes completions to a webhook.
type Pusher struct {
	s      *Server
	cfg    WebhookConfig
	client *http.Client
	log    *slog.Logger

	due, dropped, delivered, failed, attempts atomic.Int64
	wg                                        sync.WaitGroup
}

// NewPusher returns a pusher for s's completions; Run starts it.
func (s *Server) NewPusher(cfg WebhookConfig, log *slog.Logger) (*Pusher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodPost
	}
	cfg.Method = strings.ToUpper(cfg.Method)
	if cfg.Retries == 0 {
		cfg.Retries = 3
	}
	if cfg.Seed == 0 {
		cfg.Seed = s.cfg.Seed
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	return &Pusher{s: s, cfg: cfg, client: &http.Client{Timeout: cfg.Timeout}, log: log}, nil
}

// Stats returns the push counts so far.
func (p *Pusher) Stats() PushStats {
	return PushStats{Due: p.due.Load(), Dropped: p.dropped.Load(), Delivered: p.delivered.Load(),
		Failed: p.failed.Load(), Attempts: p.attempts.Load()}
}

// completion is one submission completing while alsim runs.
type completion struct {
	at  time.Duration // after server start
	sub int
}

// completions lists, in time order, the submissions that complete after
// the server started: late arrivals and running submissions that finish.
func (c *Corpus) completions() []completion {
	var out []completion
	for i := range c.subs {
		s := &c.subs[i]
		if s.kind != Normal && s.arrive != never {
			out = append(out, completion{at: s.arrive, sub: i})
		}
	}
	slices.SortStableFunc(out, func(a, b completion) int { return int(a.at - b.at) })
	return out
}

// Run pushes each completion when it happens until every one is pushed or
// ctx ends, then waits for pushes in flight.
func (p *Pusher) Run(ctx context.Context) {
	defer p.wg.Wait()
	if p.cfg.URL == "" {
		return
	}
	c := p.s.corpus
	rng := rand.New(rand.NewPCG(uint64(p.cfg.Seed), 0x3eb0c4))
	for _, ev := range c.completions() {
		if int64(c.subs[ev.sub].maxScore) < p.cfg.MinScore {
			continue
		}
		drop := rng.Float64() < p.cfg.Drop
		if wait := time.Until(c.start.Add(ev.at)); wait > 0 && !sleepCtx(ctx, wait) {
			return
		}
		p.due.Add(1)
		if drop {
			p.dropped.Add(1)
			continue
		}
		// Assemblyline runs each webhook call as its own task.
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.push(ctx, ev.sub)
		}()
	}
}

// push sends one webhook call with Assemblyline's retry policy: before
// each try it sleeps backoff, which starts at 0 and becomes
// min(60, backoff*2) + 0.1 s after each failed try; any error or status
// >= 400 is a failure; after the last try the push is dropped.
func (p *Pusher) push(ctx context.Context, sub int) {
	body := p.s.corpus.webhookBody(sub)
	backoff := 0.0
	for try := 0; try < p.cfg.Retries; try++ {
		if backoff > 0 && !sleepCtx(ctx, time.Duration(backoff*float64(time.Second))) {
			p.failed.Add(1)
			return
		}
		p.attempts.Add(1)
		err := p.try(ctx, body)
		if err == nil {
			p.delivered.Add(1)
			return
		}
		p.log.Debug("webhook try failed", "sid", p.s.corpus.subs[sub].sid, "try", try+1, "err", err)
		backoff = min(60, backoff*2) + 0.1
	}
	p.failed.Add(1)
	p.log.Warn("webhook push dropped after its last try", "sid", p.s.corpus.subs[sub].sid, "tries", p.cfg.Retries)
}

func (p *Pusher) try(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, p.cfg.Method, p.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for _, h := range p.cfg.Headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if p.cfg.User != "" && p.cfg.Password != "" {
		req.SetBasicAuth(p.cfg.User, p.cfg.Password)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// webhookBody renders the post-process webhook body for completed
// submission i: {"is_cache": false, "score": max_score, "submission":
// {...}}, the submission being the parts of its stored document a
// receiver may look at.
func (c *Corpus) webhookBody(i int) []byte {
	info := c.Submission(i)
	type file struct {
		Name   string `json:"name"`
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	}
	var files []file
	for _, f := range info.Files {
		if f.Root {
			files = append(files, file{Name: c.fileName(int32(f.FileID)), SHA256: f.SHA256, Size: f.Size})
		}
	}
	doc := map[string]any{
		"is_cache": false,
		"score":    info.MaxScore,
		"submission": map[string]any{
			"sid":       info.SID,
			"state":     "completed",
			"max_score": info.MaxScore,
			"times": map[string]string{
				"submitted": info.Submitted.Format("2006-01-02T15:04:05.000000Z"),
				"completed": info.Completed.Format("2006-01-02T15:04:05.000000Z"),
			},
			"files":          files,
			"file_count":     len(files),
			"error_count":    0,
			"metadata":       map[string]string{},
			"classification": "TLP:C",
			"verdict":        map[string][]string{"malicious": {}, "non_malicious": {}},
			"archived":       false,
			"from_archive":   false,
		},
	}
	b, _ := json.Marshal(doc)
	return b
}

// Arrivals maps each file of Expected(threshold) to the real time it
// became collectable: when the first submission holding it at or above
// the threshold completed and became searchable (the server's start for
// submissions complete from the beginning). Benchmarks measure time to
// collect from it.
func (s *Server) Arrivals(threshold int64) map[string]time.Time {
	c := s.corpus
	want := map[string]bool{}
	for _, h := range s.Expected(threshold) {
		want[h] = true
	}
	out := make(map[string]time.Time, len(want))
	for i := range c.subs {
		if !c.eventual(i) {
			continue
		}
		at := c.start
		if c.subs[i].kind != Normal {
			at = c.start.Add(c.subs[i].arrive)
		}
		for _, fr := range c.subs[i].files {
			if int64(fr.score) < threshold {
				continue
			}
			h := c.shaHex(fr.file)
			if !want[h] {
				continue
			}
			if old, ok := out[h]; !ok || at.Before(old) {
				out[h] = at
			}
		}
	}
	return out
}

// serveArrivals answers GET /_alsim/arrivals?threshold=T with one
// "<sha256> <unix nanoseconds>" line per expected file.
func (s *Server) serveArrivals(w http.ResponseWriter, r *http.Request) {
	t, ok := s.thresholdParam(w, r)
	if !ok {
		return
	}
	var b bytes.Buffer
	for h, at := range s.Arrivals(t) {
		fmt.Fprintf(&b, "%s %d\n", h, at.UnixNano())
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(b.Bytes())
}
