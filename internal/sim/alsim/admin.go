package alsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
)

// The simulator's own endpoints under /_alsim/ (see the package doc).

// adminHandler serves the simulator's own endpoints (no auth): the answer
// key, statistics, faults and configuration that tests and tools read.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_alsim/stats", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.Stats()) })
	mux.HandleFunc("POST /_alsim/stats/reset", func(w http.ResponseWriter, r *http.Request) {
		s.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_alsim/expected", func(w http.ResponseWriter, r *http.Request) {
		s.adminList(w, r, func(t int64) []string {
			if r.URL.Query().Get("now") == "true" {
				return s.ExpectedNow(t)
			}
			return s.Expected(t)
		})
	})
	mux.HandleFunc("GET /_alsim/uncollectable", func(w http.ResponseWriter, r *http.Request) {
		s.adminList(w, r, s.Uncollectable)
	})
	mux.HandleFunc("GET /_alsim/faults", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.Faults()) })
	mux.HandleFunc("PUT /_alsim/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := json.Unmarshal(body, &f); err != nil {
			http.Error(w, "bad faults JSON: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.SetFaults(f); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, s.Faults())
	})
	mux.HandleFunc("GET /_alsim/arrivals", s.serveArrivals)
	mux.HandleFunc("GET /_alsim/edgecases", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.corpus.EdgeCases()) })
	mux.HandleFunc("GET /_alsim/config", func(w http.ResponseWriter, r *http.Request) {
		cfg := s.cfg
		cfg.APIKey = "(hidden)"
		writeJSON(w, cfg)
	})
	s.registerOutage(mux)
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

// thresholdParam reads the ?threshold= of an admin request, the design
// threshold by default; on a bad value it answers 400 and reports false.
func (s *Server) thresholdParam(w http.ResponseWriter, r *http.Request) (int64, bool) {
	v := r.URL.Query().Get("threshold")
	if v == "" {
		return s.cfg.DesignThreshold, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		http.Error(w, "threshold must be an integer", http.StatusBadRequest)
		return 0, false
	}
	return n, true
}

func (s *Server) adminList(w http.ResponseWriter, r *http.Request, list func(int64) []string) {
	t, ok := s.thresholdParam(w, r)
	if !ok {
		return
	}
	var b bytes.Buffer
	for _, h := range list(t) {
		b.WriteString(h)
		b.WriteByte('\n')
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(b.Bytes())
}
