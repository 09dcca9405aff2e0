package harvest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/dlq"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/harvest"
	"github.com/alharvest/alharvest/internal/logging"
	"github.com/alharvest/alharvest/internal/service"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// A recognisable API key: any trace of it in an output is a leak.
const (
	leakKeyName  = "leakcheck"
	leakPassword = "S3cr3t-9f4e2c71-LEAKCANARY-unique"
	leakKey      = leakKeyName + ":" + leakPassword
)

// leakForms are the key, its password, and encodings a careless caller
// could print them in.
var leakForms = func() []string {
	forms := []string{leakKey, leakPassword, url.QueryEscape(leakKey)}
	for _, s := range []string{leakKey, leakPassword} {
		forms = append(forms,
			base64.StdEncoding.EncodeToString([]byte(s)),
			base64.RawURLEncoding.EncodeToString([]byte(s)),
			fmt.Sprintf("%x", s))
	}
	return forms
}()

// findLeak returns a description of the first trace of the key in s: one
// of leakForms, or any 10-character piece of the password (a key cut short
// by an excerpt still leaks most of it). "" means none.
func findLeak(s string) string {
	for _, f := range leakForms {
		if strings.Contains(s, f) {
			return fmt.Sprintf("%q", f)
		}
	}
	for i := 0; i+10 <= len(leakPassword); i++ {
		if p := leakPassword[i : i+10]; strings.Contains(s, p) {
			return fmt.Sprintf("password piece %q", p)
		}
	}
	return ""
}

func assertNoLeak(t *testing.T, where, s string) {
	t.Helper()
	if l := findLeak(s); l != "" {
		i := strings.Index(s, strings.Trim(strings.TrimPrefix(l, "password piece "), `"`))
		from, to := max(0, i-200), min(len(s), i+200)
		t.Errorf("%s leaks the API key (%s): …%s…", where, l, s[from:to])
	}
}

// leakEnv is baseEnv with the recognisable key, debug logs, and retries
// quick enough that faults turn into dead letters within the test.
func leakEnv(url, out, data string) map[string]string {
	env := baseEnv(url, out, data)
	env["AL_APIKEY"] = leakKey
	env["LOG_LEVEL"] = "debug"
	env["LOG_FORMAT"] = "json"
	env["AL_MAX_RETRIES"] = "1"
	for _, st := range []string{"SCORER", "DOWNLOADER"} {
		env[st+"_MAX_ATTEMPTS"] = "3"
		env[st+"_RETRY_MIN"] = "20ms"
		env[st+"_RETRY_MAX"] = "100ms"
	}
	return env
}

// leakFaults make every error path of the pipeline run: 5xx, resets,
// truncated and corrupt downloads (retried), files that can never be
// downloaded (dead letters with reasons), and results not yet available
// (deferrals).
var leakFaults = alsim.Faults{
	Error5xx: 0.05, Reset: 0.03, TruncateDownload: 0.05, CorruptDownload: 0.05,
	MissingBlobs: 2, AlwaysCorrupt: 1, MissingResultsCalls: 1,
}

func get(t *testing.T, u string) (string, error) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestSecretsNeverLeakAcrossARun runs alharvest as a service against a
// faulty Assemblyline with a recognisable API key at LOG_LEVEL=debug,
// feeds it SIDs that cannot work, and looks for the key in everything the
// run produced: logs, report (text and JSON), dead letters (headers and
// payloads), /metrics, /readyz, the returned error, and every file in
// DATA_DIR and OUTPUT_DIR. It does so once with the production logger and
// its scrubber, and once with a plain logger that scrubs nothing, which
// proves the code never hands the key to a logger in the first place.
func TestSecretsNeverLeakAcrossARun(t *testing.T) {
	// The detector itself: it must see the key however it is cut or encoded.
	for _, s := range []string{leakKey, "X-APIKEY: " + leakPassword[3:20], base64.StdEncoding.EncodeToString([]byte(leakKey)), url.QueryEscape(leakKey)} {
		if findLeak(s) == "" {
			t.Fatalf("findLeak misses %q", s)
		}
	}
	loggers := []struct {
		name string
		new  func(cfgSecrets []string, out io.Writer) *slog.Logger
	}{
		{"scrubbed production logger", func(secrets []string, out io.Writer) *slog.Logger {
			return logging.New(logging.Config{Level: "debug", Format: "json", Output: out, Binary: "alharvest", Secrets: secrets})
		}},
		{"plain logger without scrubber", func(_ []string, out io.Writer) *slog.Logger {
			return slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}},
	}
	for _, lg := range loggers {
		t.Run(lg.name, func(t *testing.T) {
			sim, simURL := alsimtest.Serve(t, alsim.Config{Seed: 21, Submissions: 120, APIKey: leakKey, Faults: leakFaults})
			out, data := t.TempDir(), t.TempDir()
			httpAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
			listen := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
			env := leakEnv(simURL, out, data)
			env["HTTP_ADDR"] = httpAddr
			env["SEARCH_INTERVAL"] = "1h"
			cfg := loadConfig(t, env)
			if cfg.AL.APIKey != leakKey || !strings.EqualFold(cfg.Log.Level, "debug") {
				t.Fatalf("configuration did not take the test key and debug level")
			}
			secrets := cfg.Secrets()
			if len(secrets) < 2 {
				t.Fatalf("cfg.Secrets = %d entries, want the key and its password", len(secrets))
			}
			logs := &testenv.Buffer{}
			log := lg.new(secrets, logs)

			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			runCtx, stopRun := context.WithCancel(ctx)
			defer stopRun()
			type result struct {
				rep *harvest.Report
				err error
			}
			done := make(chan result, 1)
			go func() {
				rep, err := harvest.Run(runCtx, harvest.Options{Config: cfg, Follow: true, Listen: listen, Logger: log})
				done <- result{rep, err}
			}()

			nc := connectWhenListening(t, listen)
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			if !testenv.Eventually(t, 20*time.Second, "HTTP_ADDR to serve", func() bool {
				_, err := get(t, "http://"+httpAddr+"/healthz")
				return err == nil
			}) {
				t.FailNow()
			}

			// SIDs that cannot work, published the way another system would.
			bad := []string{`{"sid":"NoSuchSubmission42","source":"leak-test"}`, "NoSuchSubmission43\n", "../../etc/passwd"}
			for _, p := range bad {
				if err := nc.Publish(messages.SubjectSIDs, []byte(p)); err != nil {
					t.Fatal(err)
				}
			}
			nc.Flush()

			// Done when every qualifying file is either collected or dead-
			// lettered, the bad SIDs are dead-lettered, and both queues are
			// empty. Scrape /metrics and /readyz on the way: they change as
			// errors happen.
			want := sim.Expected(7000)
			var scrapes []string
			var letters []dlq.Letter
			if !testenv.Eventually(t, 2*time.Minute, "every file collected or dead-lettered and queues drained", func() bool {
				for _, p := range []string{"/metrics", "/readyz"} {
					if body, err := get(t, "http://"+httpAddr+p); err == nil {
						scrapes = append(scrapes, p+"\n"+body)
					}
				}
				lctx, lcancel := context.WithTimeout(ctx, 5*time.Second)
				defer lcancel()
				l, err := dlq.List(lctx, js, dlq.Filter{})
				if err != nil {
					return false
				}
				letters = l
				dead := map[string]bool{}
				for _, l := range letters {
					dead[strings.TrimSpace(string(l.Data))] = true
					if f, err := messages.DecodeFile(l.Data); err == nil {
						dead[f.SHA256] = true
					}
				}
				for _, p := range bad {
					if !dead[strings.TrimSpace(p)] {
						return false
					}
				}
				for _, sha := range want {
					if _, err := os.Stat(filepath.Join(out, sha+".cart")); err != nil && !dead[sha] {
						return false
					}
				}
				counts, err := broker.StreamCounts(lctx, js, messages.StreamSIDs, messages.StreamFiles)
				return err == nil && counts[messages.StreamSIDs] == 0 && counts[messages.StreamFiles] == 0
			}) {
				t.FailNow()
			}
			for _, p := range []string{"/metrics", "/readyz", "/healthz"} {
				body, err := get(t, "http://"+httpAddr+p)
				if err != nil {
					t.Fatalf("GET %s: %v", p, err)
				}
				scrapes = append(scrapes, p+"\n"+body)
			}
			stopRun()
			var res result
			select {
			case res = <-done:
			case <-time.After(time.Minute):
				t.Fatal("the run did not stop within a minute of being interrupted")
			}

			// The run did meet the errors the test is about.
			reasons := map[string]int{}
			for _, l := range letters {
				reasons[l.Stage]++
			}
			if reasons[messages.StageScorer] < len(bad) || reasons[messages.StageDownloader] < len(sim.Uncollectable(7000)) {
				t.Errorf("dead letters per stage %v; want at least %d scorer and %d downloader", reasons, len(bad), len(sim.Uncollectable(7000)))
			}
			logText := logs.String()
			for _, w := range []string{`"level":"DEBUG"`, "assemblyline: call", "dead"} {
				if !strings.Contains(logText, w) {
					t.Errorf("logs lack %q: the run did not exercise what the test looks at", w)
				}
			}
			if st := sim.Stats(); len(st.Calls) == 0 {
				t.Errorf("simulator saw no calls")
			}
			metrics := strings.Join(scrapes, "\n")
			if !strings.Contains(metrics, "alharvest_") {
				t.Errorf("/metrics scrape has no alharvest metrics")
			}

			if res.rep == nil {
				t.Fatalf("no report (err %v)", res.err)
			}
			byReason := map[string]int{}
			for _, l := range letters {
				r := l.Reason
				if len(r) > 90 {
					r = r[:90] + "…"
				}
				byReason[l.Stage+": "+r]++
			}
			t.Logf("collected %d of %d expected files; dead letters: %v; report: %d AL calls, %d retries, %d collected; %d log bytes; Run: %v",
				len(alsimtest.Collected(t, out)), len(want), byReason, res.rep.ALCalls, res.rep.Retries, res.rep.Collected, len(logText), res.err)

			// Now look for the key everywhere.
			assertNoLeak(t, "logs", logText)
			if res.err != nil {
				assertNoLeak(t, "Run error", res.err.Error())
				assertNoLeak(t, "Run error %+v", fmt.Sprintf("%+v", res.err))
			}
			var text bytes.Buffer
			res.rep.WriteText(&text)
			assertNoLeak(t, "report text", text.String())
			js2, err := json.Marshal(res.rep)
			if err != nil {
				t.Fatal(err)
			}
			assertNoLeak(t, "report JSON", string(js2))
			assertNoLeak(t, "report %+v", fmt.Sprintf("%+v", *res.rep))
			if len(res.rep.DeadLetters) == 0 {
				t.Errorf("the report lists no dead letters")
			}
			for _, l := range append(letters, res.rep.DeadLetters...) {
				where := fmt.Sprintf("dead letter #%d (%s)", l.Seq, l.Stage)
				for k, vs := range l.Header {
					assertNoLeak(t, where+" header name", k)
					for _, v := range vs {
						assertNoLeak(t, where+" header "+k, v)
					}
				}
				assertNoLeak(t, where+" payload", string(l.Data))
				assertNoLeak(t, where+" reason", l.Reason)
				b, _ := json.Marshal(l)
				assertNoLeak(t, where+" as JSON", string(b))
				if l.Reason == "" {
					t.Errorf("%s has no reason", where)
				}
			}
			assertNoLeak(t, "/metrics, /readyz, /healthz", metrics)
			// Nothing persisted holds it either: the JetStream store
			// (queues, dead letters, checkpoints) and the output.
			for _, dir := range []string{data, out} {
				filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
					if err != nil || d.IsDir() {
						return err
					}
					b, err := os.ReadFile(p)
					if err != nil {
						return nil // a lock file or a file removed meanwhile
					}
					assertNoLeak(t, "file "+p, string(b))
					return nil
				})
			}
		})
	}
}

// TestWrongKeyFailsWithoutEchoingIt: Assemblyline refuses our key; the
// one-shot run fails fast with an authentication error that names the
// problem without repeating the key we sent, in the error or the logs.
func TestWrongKeyFailsWithoutEchoingIt(t *testing.T) {
	_, simURL := alsimtest.Serve(t, alsim.Config{Seed: 5, Submissions: 40, APIKey: leakKeyName + ":the-key-the-server-knows-0123456789"})
	out, data := t.TempDir(), t.TempDir()
	cfg := loadConfig(t, leakEnv(simURL, out, data))
	logs := &testenv.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := harvest.Run(ctx, harvest.Options{Config: cfg, Logger: log})
	if err == nil {
		t.Fatalf("the run succeeded with a key the server refuses (report %+v)", rep)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("failing on a refused key took %s", d)
	}
	if k := failure.KindOf(err); k != failure.Auth {
		t.Errorf("kind = %v, want auth (err: %v)", k, err)
	}
	for _, w := range []string{"401", "Invalid user or APIKey"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("err %q does not say %q", err, w)
		}
	}
	assertNoLeak(t, "Run error", err.Error())
	assertNoLeak(t, "Run error %+v", fmt.Sprintf("%+v", err))
	assertNoLeak(t, "logs", logs.String())
	if rep != nil {
		var text bytes.Buffer
		rep.WriteText(&text)
		assertNoLeak(t, "report", text.String())
	}
}

// TestConfigNeverFormatsTheKey: a panic message, a debug line or an error
// that formats the configuration must not print the key, which config.Config
// holds in AL.APIKey (and NATS.Password, NATS.Token) as secret.String.
func TestConfigNeverFormatsTheKey(t *testing.T) {
	env := leakEnv("https://al.example.org", t.TempDir(), t.TempDir())
	env["NATS_PASSWORD"] = "nats-" + leakPassword
	env["NATS_TOKEN"] = "token-" + leakPassword
	cfg := loadConfig(t, env)

	// What the code itself prints about its configuration must be clean.
	assertNoLeak(t, "service.Summary", service.Summary(cfg))

	var js bytes.Buffer
	slog.New(slog.NewJSONHandler(&js, nil)).Info("start", "config", cfg, "al", cfg.AL, "nats", cfg.NATS)
	jb, _ := json.Marshal(cfg)
	outputs := map[string]string{
		"%v Config":   fmt.Sprintf("%v", cfg),
		"%+v Config":  fmt.Sprintf("%+v", cfg),
		"%#v Config":  fmt.Sprintf("%#v", cfg),
		"%+v *Config": fmt.Sprintf("%+v", *cfg),
		"%v AL":       fmt.Sprintf("%v", cfg.AL),
		"%+v AL":      fmt.Sprintf("%+v", cfg.AL),
		"%+v NATS":    fmt.Sprintf("%+v", cfg.NATS),
		"slog JSON":   js.String(),
		"json":        string(jb),
	}
	var leaking []string
	for name, s := range outputs {
		if findLeak(s) != "" {
			leaking = append(leaking, name)
		}
	}
	if len(leaking) > 0 {
		t.Errorf("config.Config, its AL or its NATS print a secret with %s", strings.Join(leaking, ", "))
	}
}
