package alsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The search endpoint (§3): reading its parameters from a GET query string
// or a POST JSON body, then answering from Server.search.

var nonAdminIndexes = []string{"alert", "badlist", "file", "heuristic", "result", "safelist", "signature", "workflow", "retrohunt"}

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request, sl *slot, index string) {
	if index != "submission" {
		if slices.Contains(nonAdminIndexes, index) {
			sl.release()
			apiError(w, http.StatusBadRequest, fmt.Sprintf("SearchException: searching the %s index is not supported by alsim", index))
			return
		}
		// check_role_for_index defaults unknown indexes to the
		// administration role, which this user lacks.
		sl.release()
		msg := fmt.Sprintf("API %s requires the role 'administration' for request on index '%s'", r.URL.Path, index)
		envelope(w, http.StatusForbidden, accessDenied, fmt.Sprintf("Access Denied (%s) [%s]", r.URL.Path, msg), http.StatusForbidden)
		return
	}
	var p searchParams
	if r.Method == http.MethodPost {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != "application/json" {
			// Flask raises 415; AL's handler answers it with status 200.
			sl.release()
			envelope(w, http.StatusOK, emptyString, "415 Unsupported Media Type: Did not attempt to load JSON data because the request Content-Type was not 'application/json'.", http.StatusOK)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		var obj map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err != nil || len(bytes.TrimSpace(body)) == 0 || dec.Decode(&obj) != nil {
			sl.release()
			apiError(w, http.StatusBadRequest, "No data block provided or data block not in JSON format.'")
			return
		}
		if obj == nil {
			sl.release()
			apiError(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
		var ok bool
		if p, ok = searchParamsFromJSON(obj); !ok {
			sl.release()
			apiError(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
	} else {
		p = searchParamsFromQuery(r)
	}
	if p.query == "" {
		sl.release()
		apiError(w, http.StatusBadRequest, "There was no search query.")
		return
	}
	if p.sort == "" {
		p.sort = "times.submitted desc"
	}
	if !s.wait(r.Context(), s.cfg.SearchLatency) {
		return
	}
	resp, serr := s.search(p, time.Now())
	sl.release()
	if serr != nil {
		apiError(w, serr.status, serr.msg)
		return
	}
	envelope(w, http.StatusOK, resp, "", http.StatusOK)
}

func searchParamsFromQuery(r *http.Request) searchParams {
	q := r.URL.Query()
	p := searchParams{query: q.Get("query"), sort: q.Get("sort")}
	if vs, ok := q["filters"]; ok {
		p.filters = vs
	}
	if v, ok := q["offset"]; ok {
		p.offset = v[0]
	}
	if v, ok := q["rows"]; ok {
		p.rows = v[0]
	}
	if v, ok := q["fl"]; ok {
		p.fl = &v[0]
	}
	if v, ok := q["deep_paging_id"]; ok {
		p.deepPagingID = &v[0]
	}
	if v, ok := q["track_total_hits"]; ok {
		p.trackTotal = v[0]
	}
	return p
}

// searchParamsFromJSON reads a POST body; ok is false where the real
// server would crash (wrong types).
func searchParamsFromJSON(obj map[string]any) (searchParams, bool) {
	var p searchParams
	str := func(v any) (string, bool) {
		switch x := v.(type) {
		case string:
			return x, true
		case json.Number:
			return x.String(), true
		case bool:
			if x {
				return "True", true
			}
			return "", true
		case nil:
			return "", true
		}
		return "", false
	}
	var ok bool
	if p.query, ok = str(obj["query"]); !ok {
		return p, false
	}
	switch f := obj["filters"].(type) {
	case nil:
	case string:
		p.filters = []string{f}
	case []any:
		for _, e := range f {
			sv, ok := str(e)
			if !ok {
				return p, false
			}
			p.filters = append(p.filters, sv)
		}
	default:
		return p, false
	}
	p.offset, p.rows, p.trackTotal = obj["offset"], obj["rows"], obj["track_total_hits"]
	switch sv := obj["sort"].(type) {
	case nil:
	case string:
		p.sort = sv
	case []any:
		var parts []string
		for _, e := range sv {
			s, ok := e.(string)
			if !ok {
				return p, false
			}
			parts = append(parts, s)
		}
		p.sort = strings.Join(parts, ",")
	default:
		return p, false
	}
	if v, present := obj["fl"]; present && v != nil {
		fl, ok := v.(string)
		if !ok {
			return p, false
		}
		p.fl = &fl
	}
	if v, present := obj["deep_paging_id"]; present && v != nil {
		id, ok := str(v)
		if !ok {
			return p, false
		}
		p.deepPagingID = &id
	}
	return p, true
}
