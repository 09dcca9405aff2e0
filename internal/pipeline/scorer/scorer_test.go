package scorer_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/assemblyline"
	"github.com/alharvest/alharvest/internal/pipeline/scorer"
)

var (
	shaA = strings.Repeat("a", 64)
	shaB = strings.Repeat("b", 64)
	shaC = strings.Repeat("c", 64)
)

func res(sha, service string, score int64, empty bool) assemblyline.Result {
	key := fmt.Sprintf("%s.%s.v4_7_0_stable1.c0", sha, service)
	if empty {
		key += ".e"
	}
	return assemblyline.Result{Key: key, SHA256: sha, Score: score}
}

func TestQualifying(t *testing.T) {
	const T = 7000
	tests := []struct {
		name    string
		results []assemblyline.Result
		want    map[string]int64 // qualifying files and their scores
	}{
		{
			name:    "sums across services",
			results: []assemblyline.Result{res(shaA, "YARA", 5000, false), res(shaA, "PEFile", 1500, false), res(shaA, "AntiVirus", 500, false)},
			want:    map[string]int64{shaA: 7000},
		},
		{
			name:    "negative score pulls a file below the threshold",
			results: []assemblyline.Result{res(shaA, "YARA", 7500, false), res(shaA, "Safelist", -1000, false)},
			want:    map[string]int64{},
		},
		{
			name:    "negative score counted, still above",
			results: []assemblyline.Result{res(shaA, "YARA", 8100, false), res(shaA, "Safelist", -100, false)},
			want:    map[string]int64{shaA: 8000},
		},
		{
			name:    "empty .e results count (as zero)",
			results: []assemblyline.Result{res(shaA, "Characterize", 0, true), res(shaA, "YARA", 7000, false)},
			want:    map[string]int64{shaA: 7000},
		},
		{
			name:    "exactly the threshold qualifies",
			results: []assemblyline.Result{res(shaA, "YARA", T, false)},
			want:    map[string]int64{shaA: T},
		},
		{
			name:    "one below the threshold does not",
			results: []assemblyline.Result{res(shaA, "YARA", T-1, false)},
			want:    map[string]int64{},
		},
		{
			name: "files are scored separately within a submission",
			results: []assemblyline.Result{
				res(shaA, "YARA", 4000, false), res(shaB, "YARA", 4000, false),
				res(shaC, "Extract", 10, false), res(shaC, "Cuckoo", 9990, false),
			},
			want: map[string]int64{shaC: 10000},
		},
		{
			name:    "no results",
			results: nil,
			want:    map[string]int64{},
		},
		{
			name:    "zero scores only",
			results: []assemblyline.Result{res(shaA, "Characterize", 0, true), res(shaA, "Extract", 0, false)},
			want:    map[string]int64{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scorer.Qualifying("4EZNjXD44dmYMRbXYPAe6t", tc.results, T)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d files %+v, want %v", len(got), got, tc.want)
			}
			for _, f := range got {
				want, ok := tc.want[f.SHA256]
				if !ok || f.Score != want {
					t.Errorf("file %s score %d, want %v (qualifying %t)", f.SHA256[:8], f.Score, want, ok)
				}
				if f.SID != "4EZNjXD44dmYMRbXYPAe6t" {
					t.Errorf("sid %q", f.SID)
				}
				if err := f.Validate(); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestQualifyingIsOrdered(t *testing.T) {
	got := scorer.Qualifying("s", []assemblyline.Result{res(shaC, "Y", 9000, false), res(shaA, "Y", 9000, false), res(shaB, "Y", 9000, false)}, 1)
	if len(got) != 3 || got[0].SHA256 != shaA || got[1].SHA256 != shaB || got[2].SHA256 != shaC {
		t.Errorf("not in hash order: %+v", got)
	}
}
