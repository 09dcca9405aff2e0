package alsimtest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/cart"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/pkg/messages"
)

// Collected lists the sha256 of every cART in an OUTPUT_DIR, sorted. Each
// file must verify against its name and be neither executable nor readable
// by others; any other entry (a leftover temporary file) fails the test.
func Collected(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read OUTPUT_DIR: %v", err)
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		sha, ok := strings.CutSuffix(name, ".cart")
		if !ok || messages.ValidateSHA256(sha) != nil {
			t.Errorf("unexpected entry in OUTPUT_DIR: %s", name)
			continue
		}
		if _, err := cart.VerifyFile(filepath.Join(dir, name), sha); err != nil {
			t.Errorf("%s does not verify: %v", name, err)
		}
		if st, err := e.Info(); err == nil && st.Mode().Perm()&0o117 != 0 {
			t.Errorf("%s has mode %v", name, st.Mode().Perm())
		}
		out = append(out, sha)
	}
	slices.Sort(out)
	return out
}

// CheckCollected asserts that OUTPUT_DIR holds exactly want (alsim's
// Expected), as Collected checks it, and names the first differences.
func CheckCollected(t testing.TB, dir string, want []string) {
	t.Helper()
	got := Collected(t, dir)
	missing, extra := difference(got, want)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("OUTPUT_DIR has %d files, want %d: %d missing %v, %d extra %v",
			len(got), len(want), len(missing), firstFew(missing), len(extra), firstFew(extra))
	}
}

// difference returns what want has and got lacks, and the reverse.
func difference(got, want []string) (missing, extra []string) {
	inGot := make(map[string]bool, len(got))
	for _, s := range got {
		inGot[s] = true
	}
	inWant := make(map[string]bool, len(want))
	for _, s := range want {
		inWant[s] = true
		if !inGot[s] {
			missing = append(missing, s)
		}
	}
	for _, s := range got {
		if !inWant[s] {
			extra = append(extra, s)
		}
	}
	return missing, extra
}

func firstFew(s []string) []string {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}

// Matching counts the submissions a run at threshold must queue, each
// exactly once, by the time every one has completed: those with a file
// scoring at or above threshold that complete at all. normal is how many of
// them were complete from the start, for a sweep to find without a push.
func Matching(c *alsim.Corpus, threshold int64) (all, normal int) {
	for i := range c.Len() {
		if s := c.Submission(i); s.MaxScore >= threshold && !s.Completed.IsZero() {
			all++
			if s.Kind == alsim.Normal {
				normal++
			}
		}
	}
	return all, normal
}

// LastArrival is when the last file qualifying at threshold becomes
// collectable (alsim's Arrivals), the moment a real-time run's lag is
// measured from.
func LastArrival(sim *alsim.Server, threshold int64) time.Time {
	var last time.Time
	for _, at := range sim.Arrivals(threshold) {
		if at.After(last) {
			last = at
		}
	}
	return last
}
