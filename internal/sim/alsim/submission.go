package alsim

import (
	"fmt"
	"net/http"
	"time"
)

// The submission endpoints: submission/full (§4), rendered by appendFull,
// and submission/is_completed.

func (s *Server) handleFull(w http.ResponseWriter, r *http.Request, sl *slot, sid string) {
	c := s.corpus
	i, ok := c.bySID[sid]
	if !ok {
		sl.release()
		apiError(w, http.StatusNotFound, fmt.Sprintf("Submission ID %s does not exists.", sid))
		return
	}
	if !s.wait(r.Context(), s.cfg.FullLatency) {
		return
	}
	now := time.Now()
	done := c.completedAt(int(i), c.elapsed(now))
	o := fullOpts{completed: done, hideRes: -1}
	if done && int64(c.subs[i].maxScore) >= c.design {
		if hide, delay := s.faults.missingResults(int(i)); hide {
			s.stats.fault("missing_results")
			if !s.wait(r.Context(), delay) {
				return
			}
			o.hideRes = c.subs[i].hiddenResult()
		}
	}
	o.nowUS = c.anchor + int64(c.elapsed(time.Now())/time.Microsecond)
	body := c.appendFull(make([]byte, 0, 16<<10), int(i), o)
	sl.release()
	envelope(w, http.StatusOK, body, "", http.StatusOK)
}

func (s *Server) handleIsCompleted(w http.ResponseWriter, r *http.Request, sl *slot, sid string) {
	c := s.corpus
	i, ok := c.bySID[sid]
	sl.release()
	if !ok {
		apiError(w, http.StatusNotFound, fmt.Sprintf("Submission ID %s does not exists.", sid))
		return
	}
	if c.completedAt(int(i), c.elapsed(time.Now())) {
		envelope(w, http.StatusOK, []byte("true"), "", http.StatusOK)
	} else {
		envelope(w, http.StatusOK, []byte("false"), "", http.StatusOK)
	}
}
