package harvest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelpListsSubcommands parses `alharvest -h` and checks it lists every
// subcommand Main dispatches, and the run's own flags with their variables.
func TestHelpListsSubcommands(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if code := Main([]string{"-h"}, &bytes.Buffer{}, f); code != 0 {
		t.Fatalf("-h exit %d", code)
	}
	out, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	_, cmds, ok := strings.Cut(text, "Commands:\n")
	if !ok {
		t.Fatalf("no Commands section:\n%s", text)
	}
	cmds, _, _ = strings.Cut(cmds, "\n\n")
	listed := map[string]bool{}
	for _, line := range strings.Split(cmds, "\n") {
		if fields := strings.Fields(line); len(fields) > 0 {
			listed[fields[0]] = true
		}
	}
	for _, want := range []string{"demo", "check", "status", "dlq", "healthcheck", "recollect", "feed", "contract", "version"} {
		if !listed[want] {
			t.Errorf("-h does not list %q:\n%s", want, text)
		}
	}
	for _, want := range []string{"-follow", "-listen", "-json", "-no-progress", "[$AL_URL]", "[$OUTPUT_DIR]"} {
		if !strings.Contains(text, want) {
			t.Errorf("-h does not show %s", want)
		}
	}
}
