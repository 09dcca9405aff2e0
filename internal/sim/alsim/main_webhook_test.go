package alsim

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/testenv"
)

func TestWebhookFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		out  string
	}{
		{[]string{"-webhook-url", "ftp://x"}, nil, "http:// or https://"},
		{[]string{"-webhook-url", "http://x", "-webhook-drop", "1.5"}, nil, "drop"},
		{[]string{"-webhook-header", "no colon"}, nil, "Name: value"},
		{[]string{"-webhook-token-file", "/nonexistent/token"}, nil, "/nonexistent/token"},
		{nil, map[string]string{"ALSIM_WEBHOOK_METHOD": "GET", "ALSIM_WEBHOOK_URL": "http://x"}, "POST or PUT"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		args := append([]string{"-addr", "127.0.0.1:0", "-submissions", "40"}, tc.args...)
		if code := run(context.Background(), args, &out, &errb, envMap(tc.env)); code != 2 || !strings.Contains(errb.String(), tc.out) {
			t.Errorf("%v %v: exit %d, stderr %q; want 2 containing %q", tc.args, tc.env, code, errb.String(), tc.out)
		}
	}
}

// TestServePushesLateArrivals: `alsim serve` with ALSIM_WEBHOOK_* pushes
// every late arrival, with the configured header and the token of
// ALSIM_WEBHOOK_TOKEN_FILE, as it completes.
func TestServePushesLateArrivals(t *testing.T) {
	var mu sync.Mutex
	got := map[string]bool{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("X-Extra") != "1" || r.Method != http.MethodPut {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got[string(b)] = true
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(hook.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb testenv.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-submissions", "40", "-late-arrivals", "5", "-arrival-window", "500ms",
			"-webhook-header", "X-Extra: 1", "-webhook-method", "PUT"}, &out, &errb,
			envMap(map[string]string{"ALSIM_WEBHOOK_URL": hook.URL + "/webhooks/assemblyline", "ALSIM_WEBHOOK_TOKEN_FILE": tokenFile}))
	}()
	testenv.Eventually(t, 10*time.Second, "5 pushes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 5
	})
	mu.Lock()
	n := len(got)
	mu.Unlock()
	if n != 5 {
		t.Errorf("%d pushes received, want the 5 late arrivals; stdout %s stderr %s", n, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "# pushing completions to") {
		t.Errorf("no push banner: %s", out.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d: %s", code, errb.String())
	}
}
