package scorer_test

import (
	"context"
	"testing"

	"github.com/alharvest/alharvest/internal/pipeline/scorer"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/internal/sim/alsim"
)

// BenchmarkHandle measures the scorer's whole handler on one submission:
// submission/full over loopback HTTP from alsim, decode, per-file sums,
// and the files messages.
func BenchmarkHandle(b *testing.B) {
	sim, al := startSim(b, alsim.Config{Seed: 1, Submissions: 200, MatchFraction: 1})
	s := scorer.New(al, scorer.Config{Threshold: threshold, Logger: quiet})
	var sids []string
	for i := range sim.Corpus().Len() {
		sids = append(sids, sim.Corpus().Submission(i).SID)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := worker.HandleOnce(context.Background(), s, sidMsg(sids[i%len(sids)])); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkQualifying measures the scoring itself on a decoded submission.
func BenchmarkQualifying(b *testing.B) {
	sim, al := startSim(b, alsim.Config{Seed: 1, Submissions: 20, MatchFraction: 1})
	sub, err := al.SubmissionFull(context.Background(), sim.Corpus().Submission(0).SID)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(scorer.Qualifying(sub.SID, sub.Results, threshold)) == 0 {
			b.Fatal("nothing qualifies")
		}
	}
}
