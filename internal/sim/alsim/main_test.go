package alsim

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/testenv"
)

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestListCommands(t *testing.T) {
	expected := func(cfg Config, threshold int64, uncollectable bool) []string {
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if uncollectable {
			return s.Uncollectable(threshold)
		}
		return s.Expected(threshold)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"flags", []string{"expected", "-submissions", "60", "-seed", "3"}, nil,
			expected(Config{Submissions: 60, Seed: 3}, 7000, false)},
		{"environment", []string{"expected"}, map[string]string{"ALSIM_SUBMISSIONS": "60", "ALSIM_SEED": "3", "ALSIM_THRESHOLD": "6999"},
			expected(Config{Submissions: 60, Seed: 3}, 6999, false)},
		{"flag beats environment", []string{"expected", "-seed", "4"}, map[string]string{"ALSIM_SUBMISSIONS": "60", "ALSIM_SEED": "3"},
			expected(Config{Submissions: 60, Seed: 4}, 7000, false)},
		{"literal zero fraction", []string{"expected", "-submissions", "60", "-match-fraction", "0"}, nil,
			expected(Config{Submissions: 60, MatchFraction: -1}, 7000, false)},
		{"uncollectable", []string{"uncollectable", "-submissions", "60", "-fault-missing-blobs", "2", "-fault-always-corrupt", "1"}, nil,
			expected(Config{Submissions: 60, Faults: Faults{MissingBlobs: 2, AlwaysCorrupt: 1}}, 7000, true)},
		{"expected minus doomed", []string{"expected", "-submissions", "60", "-threshold", "7000"}, map[string]string{"ALSIM_FAULT_MISSING_BLOBS": "2"},
			expected(Config{Submissions: 60, Faults: Faults{MissingBlobs: 2}}, 7000, false)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), tc.args, &out, &errb, envMap(tc.env)); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			got := strings.Fields(out.String())
			if !slices.Equal(got, tc.want) || len(got) == 0 {
				t.Fatalf("got %d lines, want %d", len(got), len(tc.want))
			}
		})
	}
	if slices.Equal(tests[0].want, tests[2].want) {
		t.Error("different seeds gave the same expected set")
	}
}

func TestUsageAndErrors(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		code int
		out  string
	}{
		{[]string{"frobnicate"}, nil, 2, "unknown command"},
		{[]string{"expected", "-nope"}, nil, 2, "flag provided but not defined"},
		{[]string{"expected"}, map[string]string{"ALSIM_SUBMISSIONS": "many"}, 2, "ALSIM_SUBMISSIONS"},
		{[]string{"expected", "-apikey", "nocolon"}, nil, 2, "name:password"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		if code := run(context.Background(), tc.args, &out, &errb, envMap(tc.env)); code != tc.code || !strings.Contains(errb.String(), tc.out) {
			t.Errorf("%v: exit %d, stderr %q; want %d containing %q", tc.args, code, errb.String(), tc.code, tc.out)
		}
	}
}

// TestHelp: help goes to stdout, the overview lists the commands and a
// command's page its flags with their variables.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-h"}, "uncollectable"},
		{[]string{"help", "serve"}, "ALSIM_FAULT_5XX"},
		{[]string{"expected", "-h"}, "ALSIM_THRESHOLD"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), tc.args, &out, &errb, envMap(nil)); code != 0 || !strings.Contains(out.String(), tc.want) || errb.Len() > 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 0 and %q on stdout", tc.args, code, out.String(), errb.String(), tc.want)
		}
	}
}

func TestServeUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var out, errb testenv.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-submissions", "40", "-user", "bob"}, &out, &errb, envMap(map[string]string{"ALSIM_APIKEY": "k:v"}))
	}()
	if !testenv.Eventually(t, 5*time.Second, "the env block", func() bool { return strings.Contains(out.String(), "export AL_APIKEY=") }) {
		t.Fatalf("no env block printed; stderr %s", errb.String())
	}
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		if kv, ok := strings.CutPrefix(sc.Text(), "export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	if env["AL_USER"] != "bob" || env["AL_APIKEY"] != "k:v" || !strings.HasPrefix(env["AL_URL"], "http://127.0.0.1:") {
		t.Fatalf("env block %v", env)
	}
	req, _ := http.NewRequest("GET", env["AL_URL"]+"/api/v4/search/submission/?query=*:*&rows=1", nil)
	req.Header.Set("X-USER", env["AL_USER"])
	req.Header.Set("X-APIKEY", env["AL_APIKEY"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"api_status_code":200`)) {
		t.Fatalf("search: %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}
