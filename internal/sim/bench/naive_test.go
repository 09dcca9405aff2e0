package bench

import (
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
)

// TestNaiveBaselineIsCorrect checks the benchmark's baseline: the
// exercise's sequential solution must collect exactly the expected set, or
// comparing against it would mean nothing.
func TestNaiveBaselineIsCorrect(t *testing.T) {
	sim, url := alsimtest.Serve(t, alsim.Config{Seed: 2, Submissions: 150})
	out := t.TempDir()
	t.Setenv("AL_URL", url)
	t.Setenv("AL_USER", alsim.DefaultUser)
	t.Setenv("AL_APIKEY", alsim.DefaultAPIKey)
	t.Setenv("OUTPUT_DIR", out)
	t.Setenv("SCORE_THRESHOLD", "7000")
	if err := Naive(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(out)
	var got []string
	for _, e := range entries {
		got = append(got, strings.TrimSuffix(e.Name(), ".cart"))
	}
	slices.Sort(got)
	if want := sim.Expected(7000); !slices.Equal(got, want) {
		t.Errorf("naive collected %d files, want %d", len(got), len(want))
	}
}

func TestWorkloadsAreRunnable(t *testing.T) {
	for _, name := range Names() {
		w := Workloads[name]
		if w.Name != name || w.About == "" || len(w.Sim) == 0 || len(w.Modes) == 0 {
			t.Errorf("workload %s is incomplete: %+v", name, w)
		}
		// Every alsim flag must parse: a typo would only show at run time.
		fs := alsimFlagSet()
		if err := fs.Parse(w.Sim); err != nil {
			t.Errorf("workload %s: alsim flags: %v", name, err)
		}
	}
}

func alsimFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("alsim", flag.ContinueOnError)
	alsim.BindFlags(fs)
	return fs
}
