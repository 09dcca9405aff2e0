package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
)

// The commands that need nothing but this machine run for real, and what
// they print must have the shape the pages show.

// reportLabels returns the labels of a report as a page shows it: the text
// before the first run of two spaces on each line that has one.
func reportLabels(block string) []string {
	var out []string
	for _, l := range nonEmptyLines(block) {
		if strings.HasPrefix(l, "```") || strings.HasPrefix(l, "$ ") {
			continue
		}
		label, _, ok := strings.Cut(l, "  ")
		if ok && label != "" && !strings.HasPrefix(label, " ") {
			out = append(out, label)
		}
	}
	return out
}

// TestVersionRuns runs `alharvest version`, as the pages show it.
func TestVersionRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary (about a minute)")
	}
	out, code := run(t, t.TempDir(), nil, "alharvest", "version")
	if code != 0 {
		t.Fatalf("alharvest version: exit %d\n%s", code, out)
	}
	// docs/commands.md: "alharvest v0.1.0 (rev 2772df0a1b2c, 2026-12-06T18:40:00Z, go1.26.8)",
	// or "devel (go1.26.8)" without a VCS stamp.
	re := regexp.MustCompile(`^alharvest \S+ \((rev [0-9a-f]{12}(-dirty)?, [^,]+, )?go1\.[^)]+\)\n$`)
	if !re.MatchString(out) {
		t.Errorf("alharvest version printed %q, want %s", out, re)
	}
}

// TestCheckRuns runs `alharvest check` against alsim the way
// docs/commands.md shows it, and finds every check line the page shows.
func TestCheckRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary (about a minute)")
	}
	_, url := alsimtest.Serve(t, alsim.Config{Submissions: 100})
	dir := t.TempDir()
	out, code := run(t, dir, []string{
		"AL_URL=" + url, "AL_USER=" + alsim.DefaultUser, "AL_APIKEY=" + alsim.DefaultAPIKey,
		"OUTPUT_DIR=" + filepath.Join(dir, "collected"), "DATA_DIR=" + filepath.Join(dir, "data"),
	}, "alharvest", "check")
	if code != 0 {
		t.Fatalf("alharvest check: exit %d\n%s", code, out)
	}
	if strings.Contains(out, alsim.DefaultAPIKey) {
		t.Errorf("alharvest check printed the API key:\n%s", out)
	}
	block := fencedAfter(t, pages(t), "docs/commands.md", "alharvest check\n")
	var shown int
	for _, l := range nonEmptyLines(block) {
		f := strings.Fields(l)
		if len(f) < 3 || f[0] != "ok" {
			continue
		}
		// "ok  assemblyline  search permission  91 submissions match": the
		// status, the area and the check's name (one or two words).
		name := f[2]
		if len(f) > 3 && strings.Contains(l, f[2]+" "+f[3]+"  ") {
			name += " " + f[3]
		}
		re := regexp.MustCompile(`(?m)^ok +` + regexp.QuoteMeta(f[1]) + ` +` + regexp.QuoteMeta(name) + `  `)
		if !re.MatchString(out) {
			t.Errorf("docs/commands.md shows %q; alharvest check printed no such line:\n%s", l, out)
		}
		shown++
	}
	if shown < 5 {
		t.Errorf("found only %d check lines in docs/commands.md", shown)
	}
	last := nonEmptyLines(block)
	want := strings.TrimSpace(last[len(last)-2]) // the line before the closing fence
	if i := strings.Index(want, ": "); i >= 0 && !strings.Contains(out, want[i:]) {
		t.Errorf("docs/commands.md ends the check with %q; alharvest check printed:\n%s", want, out)
	}
}

// TestDemoRuns runs `alharvest demo`, the README's first try, and finds
// every line of the report the README shows, and its verdict.
func TestDemoRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary and waits for the simulated late arrivals")
	}
	dir := t.TempDir()
	out, code := run(t, dir, nil, "alharvest", "demo", "-submissions", "80",
		"-output-dir", filepath.Join(dir, "collected"), "-no-progress")
	// The demo keeps its store for inspection and says where; this test
	// does not need it.
	if m := regexp.MustCompile(`remove (\S+) when done`).FindStringSubmatch(out); m != nil && strings.HasPrefix(m[1], os.TempDir()) {
		t.Cleanup(func() { os.RemoveAll(m[1]) })
	}
	if code != 0 {
		t.Fatalf("alharvest demo: exit %d\n%s", code, out)
	}
	block := fencedAfter(t, pages(t), "README.md", "alharvest demo\n")
	labels := reportLabels(block)
	if len(labels) < 8 {
		t.Fatalf("found only %d report lines in the README's demo output: %q", len(labels), labels)
	}
	for _, l := range labels {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(l) + `  `).MatchString(out) {
			t.Errorf("the README's demo output shows %q; alharvest demo printed no such line:\n%s", l, out)
		}
	}
	for _, verdict := range []string{"demo OK: ", "holds exactly the ", "files alsim expects"} {
		if !strings.Contains(block, verdict) || !strings.Contains(out, verdict) {
			t.Errorf("%q: in the README %v, in the output %v", verdict, strings.Contains(block, verdict), strings.Contains(out, verdict))
		}
	}
}
