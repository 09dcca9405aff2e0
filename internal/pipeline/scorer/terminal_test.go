package scorer_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/pipeline/scorer"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
)

// TestFailedSubmissionIsDeadLetteredAtOnce: a submission Assemblyline marked
// "failed" will never complete. It is dead-lettered on its first delivery
// with that reason, not deferred (NotReady) for a day first. The document is
// Assemblyline's envelope for a failed submission (alsim's corpus has none).
func TestFailedSubmissionIsDeadLetteredAtOnce(t *testing.T) {
	const sid = "5lTZq0bTgWDoKxaIDB8Ob2"
	doc := `{"api_response": {"sid": "` + sid + `", "state": "failed", "max_score": 0, "error_count": 1,
		"times": {"submitted": "2025-03-04T15:02:11Z", "completed": "2025-03-04T15:09:40Z"},
		"results": {}, "errors": {}, "file_tree": {}, "missing_result_keys": []},
		"api_error_message": "", "api_server_version": "4.7.4.stable5", "api_status_code": 200}`
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if r.Header.Get("X-APIKEY") != alsim.DefaultAPIKey || r.URL.Path != "/api/v4/submission/full/"+sid+"/" {
			http.Error(w, "unexpected request", http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(doc))
	}))
	t.Cleanup(srv.Close)
	s := scorer.New(alsimtest.Client(t, srv.URL, 3), scorer.Config{Threshold: threshold, Logger: quiet})

	outs, err := worker.HandleOnce(context.Background(), s, sidMsg(jsonSID(sid)))
	if err == nil || len(outs) != 0 {
		t.Fatalf("err = %v with %d outputs, want an error and none", err, len(outs))
	}
	if a, k := failure.ActionFor(err), failure.KindOf(err); a != failure.DeadLetter || k != failure.Terminal {
		t.Errorf("action %v kind %v, want dead_letter terminal (err %v)", a, k, err)
	}
	for _, m := range []string{sid, `"failed"`} {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not mention %q", err, m)
		}
	}
	if calls != 1 {
		t.Errorf("%d calls, want 1: a terminal state is not retried in-process", calls)
	}
}
