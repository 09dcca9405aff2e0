package harvest_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/harvest"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
	"github.com/alharvest/alharvest/pkg/messages"
)

// TestOutputMetadata: with OUTPUT_METADATA=true each cART gets a complete
// <sha256>.json beside it, never a partial one, never the API key; a
// later run restores a missing one without downloading again.
func TestOutputMetadata(t *testing.T) {
	sim, url := alsimtest.Serve(t, alsim.Config{Seed: 13, Submissions: 60})
	out, data := t.TempDir(), t.TempDir()
	env := baseEnv(url, out, data)
	env["OUTPUT_METADATA"] = "true"
	cfg := loadConfig(t, env)
	log, _ := testLogger(t)
	run := func() *harvest.Report {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rep, err := harvest.Run(ctx, harvest.Options{Config: cfg, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	before := time.Now().Add(-time.Second)
	run()
	want := sim.Expected(7000)
	var carts []string
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if sha, ok := strings.CutSuffix(e.Name(), ".cart"); ok {
			carts = append(carts, sha)
		}
	}
	if !slices.Equal(carts, want) {
		t.Fatalf("%d cARTs collected, alsim expects %d", len(carts), len(want))
	}

	check := func() {
		entries, err := os.ReadDir(out)
		if err != nil {
			t.Fatal(err)
		}
		jsons := 0
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") {
				t.Errorf("temporary file left: %s", name)
			}
			sha, ok := strings.CutSuffix(name, ".json")
			if !ok {
				continue
			}
			jsons++
			b, err := os.ReadFile(filepath.Join(out, name))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), alsim.DefaultAPIKey) || strings.Contains(string(b), "devpassword") {
				t.Errorf("%s contains the API key", name)
			}
			var ev messages.Collected
			if err := json.Unmarshal(b, &ev); err != nil {
				t.Errorf("%s is not complete JSON: %v", name, err)
				continue
			}
			if err := ev.Validate(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			switch {
			case ev.SHA256 != sha || ev.Path != filepath.Join(out, sha+".cart"):
				t.Errorf("%s names %s at %s", name, ev.SHA256, ev.Path)
			case ev.Server != url:
				t.Errorf("%s: server %q, want %q", name, ev.Server, url)
			case ev.SID == "" || ev.Score < 7000:
				t.Errorf("%s: sid %q score %d", name, ev.SID, ev.Score)
			case ev.Type == "":
				t.Errorf("%s: no file type", name)
			case len(ev.Names) == 0:
				t.Errorf("%s: no file names", name)
			case ev.Completed.IsZero() || ev.Completed.After(time.Now()):
				t.Errorf("%s: times.completed %v", name, ev.Completed)
			case ev.CollectedAt.Before(before) || ev.Size <= 0:
				t.Errorf("%s: collected_at %v, size %d", name, ev.CollectedAt, ev.Size)
			}
		}
		if jsons != len(want) {
			t.Errorf("%d metadata files for %d collected files", jsons, len(want))
		}
	}
	check()

	// Lost metadata comes back on the next run; nothing is downloaded.
	if err := os.Remove(filepath.Join(out, want[0]+".json")); err != nil {
		t.Fatal(err)
	}
	cfg.Search.Overlap = 24 * 365 * time.Hour // sweep everything again
	rep := run()
	if rep.Collected != 0 {
		t.Errorf("second run downloaded %d files", rep.Collected)
	}
	check()
}
