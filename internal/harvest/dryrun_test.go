package harvest_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/harvest"
	"github.com/alharvest/alharvest/internal/ops/dryrun"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
)

// TestDryRun: --dry-run lists exactly the files alsim says qualify, with
// their submissions and whether they are present, and writes nothing.
func TestDryRun(t *testing.T) {
	sim, url := alsimtest.Serve(t, alsim.Config{Seed: 9, Submissions: 80})
	want := append(sim.Expected(7000), sim.Uncollectable(7000)...)
	slices.Sort(want)
	want = slices.Compact(want)
	if len(want) < 10 {
		t.Fatalf("corpus too small: %d qualifying files", len(want))
	}
	out := t.TempDir()
	present := want[0]
	if err := os.WriteFile(filepath.Join(out, present+".cart"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")
	args := []string{"--dry-run", "-al-url", url, "-al-user", alsim.DefaultUser, "-al-apikey", alsim.DefaultAPIKey,
		"-output-dir", out, "-data-dir", data, "-score-threshold", "7000"}
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()

	var js bytes.Buffer
	if code := harvest.Main(append(args, "--json"), &js, stderr); code != 0 {
		errText, _ := os.ReadFile(stderr.Name())
		t.Fatalf("exit %d: %s", code, errText)
	}
	var res dryrun.Result
	if err := json.Unmarshal(js.Bytes(), &res); err != nil {
		t.Fatalf("--json: %v\n%s", err, js.String())
	}
	var got []string
	for _, f := range res.Files {
		got = append(got, f.SHA256)
		if f.Score < 7000 || len(f.SIDs) == 0 {
			t.Errorf("%s: score %d, sids %v", f.SHA256, f.Score, f.SIDs)
		}
		if f.Present != (f.SHA256 == present) {
			t.Errorf("%s: present=%v", f.SHA256, f.Present)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("dry run lists %d files, alsim says %d qualify", len(got), len(want))
	}
	if res.Present != 1 || res.ToFetch != len(want)-1 {
		t.Errorf("present %d, to download %d", res.Present, res.ToFetch)
	}

	var text bytes.Buffer
	if code := harvest.Main(args, &text, stderr); code != 0 {
		t.Fatalf("text: exit %d", code)
	}
	lines := strings.Split(text.String(), "\n")
	rows := 0
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) >= 4 && len(f[0]) == 64 {
			rows++
		}
	}
	if rows != len(want) || !strings.Contains(text.String(), "Nothing was downloaded or written") {
		t.Errorf("text lists %d rows, want %d:\n%s", rows, len(want), text.String())
	}

	// Nothing written: OUTPUT_DIR holds only what we put there, and no
	// DATA_DIR was created.
	entries, _ := os.ReadDir(out)
	if len(entries) != 1 {
		t.Errorf("OUTPUT_DIR has %d entries after a dry run", len(entries))
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("DATA_DIR created by a dry run: %v", err)
	}
	if got := sim.Stats().Calls["download"]; len(got) != 0 {
		t.Errorf("downloads during a dry run: %v", got)
	}
}
