package harvest

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// credentials sets a complete configuration whose directories live under
// a fresh temporary directory and returns that directory: a command that
// touches anything leaves something there.
func credentials(t *testing.T, alURL string) string {
	t.Helper()
	root := t.TempDir()
	for k, v := range map[string]string{
		"AL_URL": alURL, "AL_USER": "admin", "AL_APIKEY": "key:s3cr3t-pw",
		"DATA_DIR": filepath.Join(root, "data"), "OUTPUT_DIR": filepath.Join(root, "out"),
		"NATS_URL": "",
	} {
		t.Setenv(k, v)
	}
	return root
}

func untouched(t *testing.T, root string) {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("the command created %s", e.Name())
	}
}

// TestRefusesWhatItDoesNotUnderstand: an unknown subcommand, a stray
// argument or a bad flag exits 2 with one line on stderr, writes nothing
// to stdout and touches nothing — with credentials set, where a harvest
// would otherwise run.
func TestRefusesWhatItDoesNotUnderstand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"stauts"}, `alharvest: unknown command "stauts"; did you mean "status"?`},
		{[]string{"harvest"}, `alharvest: unknown command "harvest"`},
		{[]string{"--follow", "now"}, `alharvest: unexpected argument "now" (see 'alharvest run -h')`},
		{[]string{"run", "now"}, `alharvest run: unexpected argument "now"`},
		{[]string{"dry-run", "x"}, `alharvest dry-run: unexpected argument "x"`},
		{[]string{"check", "x"}, `alharvest check: unexpected argument "x"`},
		{[]string{"status", "x"}, `alharvest status: unexpected argument "x"`},
		{[]string{"dlq"}, `alharvest dlq: which command? (list, replay, delete, purge`},
		{[]string{"dlq", "lst"}, `did you mean "list"?`},
		{[]string{"dlq", "list", "x"}, `alharvest dlq list: unexpected argument "x"`},
		{[]string{"dlq", "purge"}, `add --yes`},
		{[]string{"dlq", "delete"}, `--seq`},
		{[]string{"recollect"}, `alharvest recollect: missing SID|SHA256...`},
		{[]string{"version", "x"}, `alharvest version: unexpected argument "x"`},
		{[]string{"healthcheck", "x"}, `alharvest healthcheck: unexpected argument "x"`},
		{[]string{"demo", "x"}, `alharvest demo: unexpected argument "x"`},
		{[]string{"--folow"}, `flag provided but not defined: -folow (see 'alharvest run -h')`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			root := credentials(t, "https://127.0.0.1:1")
			var stdout, stderr bytes.Buffer
			code := Main(tc.args, &stdout, &stderr)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), tc.want) || strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("stderr %q, want one line with %q", stderr.String(), tc.want)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
			untouched(t, root)
		})
	}
}

// TestHelp: help goes to stdout, exit 0; the overview is short and lists
// every subcommand; each command's page is titled with its own name.
func TestHelp(t *testing.T) {
	commands := []string{"run", "demo", "check", "dry-run", "status", "dlq", "recollect", "healthcheck", "version", "help"}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-h"}, commands},
		{[]string{"--help"}, commands},
		{[]string{"help"}, commands},
		{[]string{"help", "run"}, []string{"Usage: alharvest run [flags]", "-follow", "-listen", "-dry-run", "[$AL_URL]", "[$OUTPUT_DIR]"}},
		{[]string{"run", "-h"}, []string{"Usage: alharvest run [flags]", "-no-progress"}},
		{[]string{"--follow", "-h"}, []string{"Usage: alharvest run [flags]"}},
		{[]string{"status", "-h"}, []string{"Usage: alharvest status [flags]", "-watch", "[$NATS_URL]", "[$DATA_DIR]"}},
		{[]string{"help", "dlq"}, []string{"Usage: alharvest dlq COMMAND", "list", "replay", "delete", "purge"}},
		{[]string{"dlq", "list", "-h"}, []string{"Usage: alharvest dlq list [flags]", "payload_encoding", "-json"}},
		{[]string{"help", "dlq", "purge"}, []string{"Usage: alharvest dlq purge [flags]", "-yes"}},
		{[]string{"recollect", "--help"}, []string{"Usage: alharvest recollect [flags] SID|SHA256..."}},
		{[]string{"help", "check"}, []string{"Usage: alharvest check [flags]", "-json"}},
		{[]string{"demo", "-h"}, []string{"Usage: alharvest demo [flags]", "-submissions"}},
		{[]string{"healthcheck", "-h"}, []string{"Usage: alharvest healthcheck [flags]", "-ready"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			root := credentials(t, "https://127.0.0.1:1")
			var stdout, stderr bytes.Buffer
			if code := Main(tc.args, &stdout, &stderr); code != 0 {
				t.Errorf("exit %d", code)
			}
			if stderr.Len() > 0 {
				t.Errorf("stderr %q, want nothing", stderr.String())
			}
			text := stdout.String()
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("help lacks %q:\n%s", w, text)
				}
			}
			if strings.Contains(text, "alharvest-admin") {
				t.Errorf("help names the internal configuration set:\n%s", text)
			}
			if strings.Contains(text, "s3cr3t-pw") {
				t.Errorf("help shows the API key from the environment:\n%s", text)
			}
			untouched(t, root)
		})
	}
	var stdout bytes.Buffer
	Main([]string{"-h"}, &stdout, &bytes.Buffer{})
	if n := strings.Count(stdout.String(), "\n"); n > 30 {
		t.Errorf("the overview is %d lines; keep it short:\n%s", n, stdout.String())
	}
}

// TestConfigurationErrorNamesTheVariable: a setting the user got wrong is
// named as they set it, exit 2, nothing touched.
func TestConfigurationErrorNamesTheVariable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		env   map[string]string
		want  string
		never string
	}{
		{"AL_URL without a scheme", nil, map[string]string{"AL_URL": "al.example.org"}, `AL_URL="al.example.org": want a URL that starts with https://`, "BaseURL"},
		{"AL_URL with a query", []string{"check"}, map[string]string{"AL_URL": "https://al.example.org/?x=1"}, "AL_URL=", "BaseURL"},
		{"AL_URL with credentials", []string{"dry-run"}, map[string]string{"AL_URL": "https://u:hunter2@al.example.org"}, "AL_URL must not contain credentials", "hunter2"},
		{"AL_HOST", nil, map[string]string{"AL_URL": "", "AL_HOST": "al.example.org/?q"}, "AL_HOST=", "BaseURL"},
		{"a number", nil, map[string]string{"SCORE_THRESHOLD": "high"}, "SCORE_THRESHOLD", ""},
		{"missing user", nil, map[string]string{"AL_USER": ""}, "AL_USER is required", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := credentials(t, "https://127.0.0.1:1")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := Main(tc.args, &stdout, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tc.want) || strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want 2 and one line with %q", code, stderr.String(), tc.want)
			}
			if tc.never != "" && strings.Contains(stderr.String(), tc.never) {
				t.Errorf("stderr %q holds %q", stderr.String(), tc.never)
			}
			untouched(t, root)
		})
	}
}

// TestUnreachableAssemblyline: a server nothing listens for fails the run
// at once with one line that names AL_URL, exit 1, no report of zeros.
func TestUnreachableAssemblyline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, args := range [][]string{nil, {"dry-run"}, {"--json"}} {
		credentials(t, "https://"+addr)
		var stdout, stderr bytes.Buffer
		code := Main(args, &stdout, &stderr)
		if code != 1 {
			t.Errorf("%q: exit %d, want 1", args, code)
		}
		want := ": cannot reach Assemblyline: AL_URL=https://" + addr + ": connection refused"
		if !strings.HasPrefix(stderr.String(), "alharvest") || !strings.Contains(stderr.String(), want) || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%q: stderr %q, want one line with %q", args, stderr.String(), want)
		}
		if stdout.Len() > 0 {
			t.Errorf("%q: a report was printed:\n%s", args, stdout.String())
		}
	}
}

// TestReachable: a name that does not resolve and a refused connection
// are said at once, naming AL_URL; a server that answers passes.
func TestReachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	for _, tc := range []struct {
		url, want string
	}{
		{"https://" + l.Addr().String(), ""},
		{"http://" + closed.Addr().String(), "connection refused"},
		// .invalid never resolves (RFC 6761).
		{"https://al.example.invalid", "AL_URL=https://al.example.invalid: host al.example.invalid not found: check AL_URL and this machine's DNS"},
	} {
		err := Reachable(context.Background(), tc.url)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.url, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.url, err, tc.want)
		}
	}
}

// TestCheckFailsOnAnUnusableDataDir: `alharvest check` fails (exit 1) when
// DATA_DIR cannot hold the store, with the fix, rather than "ready to run".
func TestCheckFailsOnAnUnusableDataDir(t *testing.T) {
	root := credentials(t, "https://127.0.0.1:1")
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DATA_DIR", filepath.Join(file, "data"))
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"check"}, &stdout, &stderr); code != 1 {
		t.Errorf("exit %d, want 1\n%s%s", code, stdout.String(), stderr.String())
	}
	text := stdout.String()
	for _, want := range []string{"fail  data", "not a directory", "-> set DATA_DIR", "not ready"} {
		if !strings.Contains(text, want) {
			t.Errorf("check output lacks %q:\n%s", want, text)
		}
	}
}
