package alsim

import (
	"fmt"
	"maps"
	"slices"
	"testing"
)

// originalExercise re-implements the job's first Python sketch naively: stream the
// search for max_score:>=T, fetch each submission's full document, sum
// result scores per sha256, keep those reaching T.
func originalExercise(c *client, threshold int64) []string {
	sids, _ := c.deepPage(fmt.Sprintf("max_score:>=%d", threshold), nil, "100")
	collected := map[string]bool{}
	for _, sid := range sids {
		for sha, score := range c.full(sid).fileScores() {
			if score >= threshold {
				collected[sha] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(collected))
}

func TestOriginalExerciseFindsExpected(t *testing.T) {
	s, c := testServer(t, Config{Submissions: 500, Seed: 42})
	edges := map[string]EdgeCase{}
	for _, e := range s.Corpus().EdgeCases() {
		edges[e.Name] = e
	}
	thresholds := []int64{
		7000, 6999, 7001, 1, 1000, 6500, 9000,
		edges["exact-threshold"].Score,
		edges["sum-of-services"].Score,
		edges["only-qualifying-file"].Score,
		edges["pushed-below-by-negative"].Score,
	}
	for _, T := range thresholds {
		t.Run(fmt.Sprint(T), func(t *testing.T) {
			got := originalExercise(c, T)
			want := s.Expected(T)
			if !slices.Equal(got, want) {
				t.Fatalf("exercise collected %d files, Expected %d", len(got), len(want))
			}
			if len(want) == 0 {
				t.Fatal("nothing expected: the threshold tests nothing")
			}
		})
	}
	// The edge cases land on the right side of the design threshold.
	want := s.Expected(7000)
	for name, inside := range map[string]bool{
		"exact-threshold": true, "one-below-threshold": false, "one-above-threshold": true,
		"sum-of-services": true, "pushed-below-by-negative": false, "qualifying-beside-negative": true,
		"only-qualifying-file": true, "near-miss-in-matching": false, "shared-qualifying-here": true,
		"extracted-twice": true, "all-negative": false,
	} {
		e, ok := edges[name]
		if !ok {
			t.Fatalf("edge case %s missing", name)
		}
		if contains(want, e.SHA256) != inside {
			t.Errorf("edge case %s (score %d): in Expected(7000) = %v, want %v", name, e.Score, !inside, inside)
		}
	}
	if e := edges["all-negative"]; e.MaxScore != 0 || e.Score >= 0 {
		t.Errorf("all-negative: max_score %d score %d", e.MaxScore, e.Score)
	}
	if edges["shared-qualifying-here"].SHA256 != edges["shared-below-here"].SHA256 ||
		edges["shared-below-here"].SHA256 != edges["shared-low-nonmatching"].SHA256 {
		t.Error("shared edge case is not one file")
	}
}
