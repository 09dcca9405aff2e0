package harvest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/cli"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/ops/check"
	"github.com/alharvest/alharvest/internal/secret"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// doCheck runs `alharvest check` with flags and returns the exit code, the
// text output and the JSON report.
func doCheck(t *testing.T, args ...string) (int, string, check.Report) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var text, js, errOut bytes.Buffer
	code := cli.Run(ctx, Program, append([]string{"check"}, args...), &text, &errOut)
	if code2 := cli.Run(ctx, Program, append([]string{"check", "--json"}, args...), &js, &errOut); code2 != code {
		t.Errorf("exit %d as text, %d as JSON", code, code2)
	}
	var rep check.Report
	if err := json.Unmarshal(js.Bytes(), &rep); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, js.String())
	}
	return code, text.String() + errOut.String(), rep
}

func status(rep check.Report, area, name string) (check.Result, bool) {
	for _, r := range rep.Results {
		if r.Area == area && r.Name == name {
			return r, true
		}
	}
	return check.Result{}, false
}

func TestCheck(t *testing.T) {
	_, alURL := alsimtest.Serve(t, alsim.Config{Seed: 3, Submissions: 60, DailyQuota: 500})
	ns := natstest.Start(t)
	_, js := natstest.Connect(t, ns.URL)
	natstest.Provision(t, js)

	badNS := natstest.Start(t) // holds a stream alharvest did not make
	_, badJS := natstest.Connect(t, badNS.URL)
	if _, err := badJS.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: messages.StreamSIDs, Subjects: []string{"other.subject"}, Retention: jetstream.LimitsPolicy,
	}); err != nil {
		t.Fatal(err)
	}

	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	const goodKey = alsim.DefaultAPIKey
	const badKey = "devkey:wrong-password-77"
	base := func(key, nats, out string) []string {
		return []string{"-al-url", alURL, "-al-user", alsim.DefaultUser, "-al-apikey", key,
			"-nats-url", nats, "-output-dir", out, "-data-dir", filepath.Join(t.TempDir(), "data")}
	}

	for _, tc := range []struct {
		name     string
		args     []string
		exit     int
		want     map[string]check.Status // "area/check" -> status
		fixWords string
	}{
		{"all good", base(goodKey, ns.URL, t.TempDir()), 0, map[string]check.Status{
			"assemblyline/reachable": check.OK, "assemblyline/credentials": check.OK,
			"assemblyline/search permission": check.OK, "assemblyline/quota": check.Warn,
			"nats/connection": check.OK, "nats/jetstream": check.OK,
			"nats/stream ALHARVEST_SIDS": check.OK, "nats/stream ALHARVEST_FILES": check.OK,
			"nats/bucket ALHARVEST_STATE": check.OK,
			"output/directory":            check.OK, "output/writable": check.OK, "output/free space": check.OK,
		}, ""},
		{"wrong key", base(badKey, ns.URL, t.TempDir()), 1, map[string]check.Status{
			"assemblyline/credentials": check.Fail, "nats/connection": check.OK,
		}, "AL_APIKEY"},
		{"assemblyline down", append(base(goodKey, ns.URL, t.TempDir()), "-al-url", "http://127.0.0.1:"+strconv.Itoa(testenv.FreePort(t))), 1, map[string]check.Status{
			"assemblyline/reachable": check.Fail,
		}, "nothing answers"},
		{"nats down", base(goodKey, "nats://127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)), t.TempDir()), 1, map[string]check.Status{
			"nats/connection": check.Fail, "assemblyline/credentials": check.OK,
		}, "NATS_URL"},
		{"foreign stream", base(goodKey, badNS.URL, t.TempDir()), 1, map[string]check.Status{
			"nats/stream ALHARVEST_SIDS": check.Fail,
		}, "nats stream rm"},
		{"output is a file", base(goodKey, ns.URL, file), 1, map[string]check.Status{
			"output/directory": check.Fail,
		}, "OUTPUT_DIR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, text, rep := doCheck(t, tc.args...)
			if code != tc.exit {
				t.Errorf("exit %d, want %d\n%s", code, tc.exit, text)
			}
			if rep.OK != (tc.exit == 0) {
				t.Errorf("report ok=%v with exit %d", rep.OK, code)
			}
			for key, want := range tc.want {
				area, name, _ := strings.Cut(key, "/")
				r, found := status(rep, area, name)
				if !found {
					t.Errorf("no %s line\n%s", key, text)
					continue
				}
				if r.Status != want {
					t.Errorf("%s: %s (%s), want %s", key, r.Status, r.Detail, want)
				}
				if r.Status != check.OK && r.Fix == "" {
					t.Errorf("%s: %s without a fix", key, r.Status)
				}
				if !hasLine(text, string(r.Status), area, name) {
					t.Errorf("text output lacks a line %q %q %q:\n%s", r.Status, area, name, text)
				}
			}
			if tc.fixWords != "" && !strings.Contains(text, tc.fixWords) {
				t.Errorf("text output does not say %q:\n%s", tc.fixWords, text)
			}
			// The key, or its password part, never appears; the config
			// shows it redacted.
			for _, secret := range []string{goodKey, badKey, "devpassword", "wrong-password-77"} {
				if strings.Contains(text, secret) {
					t.Errorf("output contains the secret %q:\n%s", secret, text)
				}
				b, _ := json.Marshal(rep)
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("JSON contains the secret %q", secret)
				}
			}
			for _, s := range rep.Config {
				if s.Env == "AL_APIKEY" && s.Value != "[REDACTED]" {
					t.Errorf("AL_APIKEY printed as %q", s.Value)
				}
			}
		})
	}
}

// TestCheckEmbeddedStore: without NATS_URL, check looks at the one-command
// mode's store, and says a fresh directory is fine.
func TestCheckEmbeddedStore(t *testing.T) {
	_, alURL := alsimtest.Serve(t, alsim.Config{Seed: 3, Submissions: 20})
	code, text, rep := doCheck(t, "-al-url", alURL, "-al-user", alsim.DefaultUser, "-al-apikey", alsim.DefaultAPIKey,
		"-output-dir", t.TempDir(), "-data-dir", filepath.Join(t.TempDir(), "fresh"))
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, text)
	}
	if r, ok := status(rep, "nats", "store"); !ok || r.Status != check.OK || !strings.Contains(r.Detail, "first run creates it") {
		t.Errorf("store line %+v", r)
	}
}

// hasLine reports whether a text line reads "<status> <area> <name> ...".
func hasLine(text, status, area, name string) bool {
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == status && f[1] == area && strings.HasPrefix(strings.Join(f[2:], " "), name) {
			return true
		}
	}
	return false
}

// TestCheckMasksCredentialsInURLs: a password inside NATS_URL appears
// nowhere in check's output, text or JSON, whether the server answers or
// not; the rest of the URL is still shown. (AL_URL with credentials is
// refused at load time: TestALURLErrorsNameTheVariable.)
func TestCheckMasksCredentialsInURLs(t *testing.T) {
	_, alURL := alsimtest.Serve(t, alsim.Config{Seed: 3, Submissions: 20})
	ns := natstest.Start(t)
	_, js := natstest.Connect(t, ns.URL)
	natstest.Provision(t, js)
	const natsPass, alPass = "nats-pw-4711", "al-pw-4711"
	withCreds := func(u, user, pass string) string {
		scheme, rest, _ := strings.Cut(u, "://")
		return scheme + "://" + user + ":" + pass + "@" + rest
	}
	down := "nats://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	for _, tc := range []struct{ name, nats string }{
		{"nats answers", withCreds(ns.URL, "harvester", natsPass)},
		{"nats down", withCreds(down, "harvester", natsPass)},
		{"several servers", withCreds(ns.URL, "harvester", natsPass) + "," + withCreds(down, "other", natsPass)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, text, rep := doCheck(t, "-al-url", alURL, "-al-user", alsim.DefaultUser,
				"-al-apikey", alsim.DefaultAPIKey, "-nats-url", tc.nats, "-output-dir", t.TempDir(),
				"-data-dir", filepath.Join(t.TempDir(), "data"))
			b, _ := json.Marshal(rep)
			for _, secret := range []string{natsPass, alPass} {
				if strings.Contains(text, secret) {
					t.Errorf("text output contains %q:\n%s", secret, text)
				}
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("JSON output contains %q:\n%s", secret, b)
				}
			}
			for _, s := range rep.Config {
				if s.Env == "NATS_URL" && (!strings.Contains(s.Value, secret.Mask+"@127.0.0.1:") || !s.Given) {
					t.Errorf("NATS_URL printed as %q, want the URL with its credentials masked", s.Value)
				}
			}
		})
	}
}
