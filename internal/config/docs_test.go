package config_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/config"
)

// TestConfigurationPage keeps docs/configuration.md and the loader in step:
// every variable a binary reads is documented with its default and the
// binaries that read it, and every documented variable is read.
func TestConfigurationPage(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Z0-9_]+)` \\|.*\\| (.*) \\| ([a-z, ]+) \\|$")
	type doc struct{ def, readBy string }
	documented := map[string]doc{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		if _, dup := documented[m[1]]; dup {
			t.Errorf("%s is documented twice", m[1])
		}
		documented[m[1]] = doc{def: m[2], readBy: m[3]}
	}
	if len(documented) < 30 {
		t.Fatalf("found only %d rows in docs/configuration.md; has the table format changed?", len(documented))
	}

	binaries := []string{config.Searcher, config.Scorer, config.Downloader, config.Alharvest}
	readBy := map[string][]string{}
	defaults := map[string][]string{} // per binary, in the order of binaries
	for _, bin := range binaries {
		for _, v := range config.Vars(bin) {
			readBy[v.Env] = append(readBy[v.Env], bin)
			defaults[v.Env] = append(defaults[v.Env], v.Default)
		}
	}
	for env, bins := range readBy {
		d, ok := documented[env]
		if !ok {
			t.Errorf("%s is read by %v but missing from docs/configuration.md", env, bins)
			continue
		}
		want := strings.Join(bins, ", ")
		if len(bins) == len(binaries) {
			want = "all"
		}
		if d.readBy != want {
			t.Errorf("%s: docs/configuration.md says read by %q, the loader says %q", env, d.readBy, want)
		}
		if !defaultDocumented(d.def, defaults[env]) {
			t.Errorf("%s: docs/configuration.md gives the default %s, the loader %q", env, d.def, defaults[env])
		}
	}
	for env := range documented {
		if _, ok := readBy[env]; !ok {
			t.Errorf("docs/configuration.md documents %s, which no binary reads", env)
		}
	}
}

// defaultDocumented reports whether a default column states the loader's
// defaults: "—" for none, the value in backticks (durations compared as
// durations, so `5m` states 5m0s), or, where binaries differ, every
// binary's non-empty value.
func defaultDocumented(cell string, code []string) bool {
	uniq := map[string]bool{}
	for _, c := range code {
		uniq[c] = true
	}
	if len(uniq) > 1 {
		for c := range uniq {
			if c != "" && !strings.Contains(cell, "`"+c+"`") {
				return false
			}
		}
		return true
	}
	c := code[0]
	if c == "" {
		return cell == "—"
	}
	v, pre := strings.CutPrefix(cell, "`")
	v, suf := strings.CutSuffix(v, "`")
	if !pre || !suf {
		return false
	}
	if dv, err := time.ParseDuration(v); err == nil {
		dc, err := time.ParseDuration(c)
		return err == nil && dv == dc
	}
	return v == c
}
