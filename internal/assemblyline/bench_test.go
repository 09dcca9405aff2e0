package assemblyline

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/alharvest/alharvest/internal/sim/alsim"
)

// BenchmarkDecodeSubmissionFull measures decoding a realistic
// submission/full answer (as alsim renders it, about 20 KB) into what
// scoring needs: the envelope, the results and their checks.
func BenchmarkDecodeSubmissionFull(b *testing.B) {
	sim, err := alsim.New(alsim.Config{Seed: 1, Submissions: 50, MatchFraction: 1})
	if err != nil {
		b.Fatal(err)
	}
	sid := sim.Corpus().Submission(0).SID
	req := httptest.NewRequest(http.MethodGet, "/api/v4/submission/full/"+sid+"/", nil)
	req.Header.Set("X-USER", alsim.DefaultUser)
	req.Header.Set("X-APIKEY", alsim.DefaultAPIKey)
	rec := httptest.NewRecorder()
	sim.Handler().ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK {
		b.Fatalf("alsim answered %d", rec.Code)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var d fullDoc
		if !d.decodeFast(body) {
			b.Fatal("not on the fast path")
		}
		s, err := d.submission(sid, func(s string) string { return s })
		if err != nil || len(s.Results) == 0 {
			b.Fatalf("%v, %d results", err, len(s.Results))
		}
	}
}

// BenchmarkDecodeSubmissionFullStd is the same with encoding/json, the path
// every unusual answer takes.
func BenchmarkDecodeSubmissionFullStd(b *testing.B) {
	body := renderFull(b, alsim.Config{Seed: 1, Submissions: 50, MatchFraction: 1}, 1)[0]
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var env envelope[fullDoc]
		if err := json.Unmarshal(body, &env); err != nil {
			b.Fatal(err)
		}
	}
}
