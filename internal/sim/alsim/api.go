package alsim

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The /api/v4/ front door: routing, werkzeug's strict-slash redirect, the
// method check, api_login (authentication, then the quotas) and injected
// faults, in the order Assemblyline applies them, before an endpoint runs.

type route struct {
	endpoint string
	methods  []string
	handle   func(s *Server, w http.ResponseWriter, r *http.Request, sl *slot, arg string)
}

var routes = map[string]route{
	"search":                  {"search", []string{"GET", "POST"}, (*Server).handleSearch},
	"submission/full":         {"full", []string{"GET"}, (*Server).handleFull},
	"submission/is_completed": {"is_completed", []string{"GET"}, (*Server).handleIsCompleted},
	"file/download":           {"download", []string{"GET"}, (*Server).handleDownload},
}

// matchRoute splits /api/v4/<a>/<b>[/<c>]/ into a route and its argument.
// slash reports whether the path had the trailing slash.
func matchRoute(path string) (rt route, arg string, slash, ok bool) {
	rest, found := strings.CutPrefix(path, "/api/v4/")
	if !found {
		return route{}, "", false, false
	}
	slash = strings.HasSuffix(rest, "/")
	rest = strings.TrimSuffix(rest, "/")
	segs := strings.Split(rest, "/")
	switch {
	case len(segs) == 2 && segs[0] == "search":
		rt, ok = routes["search"], true
		arg = segs[1]
	case len(segs) == 3:
		rt, ok = routes[segs[0]+"/"+segs[1]]
		arg = segs[2]
	}
	if !ok || arg == "" {
		return route{}, "", false, false
	}
	return rt, arg, slash, true
}

// Handler serves the Assemblyline API under /api/v4/ and the simulator's
// own admin endpoints under /_alsim/.
func (s *Server) Handler() http.Handler {
	admin := s.adminHandler()
	api := http.HandlerFunc(s.serveAPI)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/_alsim/") {
			admin.ServeHTTP(w, r)
			return
		}
		if s.outage.intercept(w) {
			return
		}
		api.ServeHTTP(w, r)
	})
}

func (s *Server) serveAPI(w0 http.ResponseWriter, r *http.Request) {
	endpoint := "not_found"
	w := &recorder{ResponseWriter: w0, onStatus: func(status int) { s.stats.call(endpoint, status) }}
	defer func() {
		if w.status == 0 { // no answer at all
			status := statusAborted
			if r.Context().Err() == nil {
				status = statusReset
			}
			s.stats.call(endpoint, status)
		}
		s.stats.bytes.Add(w.bytes)
	}()

	rt, arg, slash, ok := matchRoute(r.URL.Path)
	if !ok {
		apiError(w, http.StatusNotFound, fmt.Sprintf("Api does not exist (%s)", r.URL.Path))
		return
	}
	if !slash {
		// werkzeug's strict_slashes redirect.
		endpoint = "redirect"
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		target := scheme + "://" + r.Host + r.URL.EscapedPath() + "/"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", target)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusPermanentRedirect)
		fmt.Fprintf(w, "<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n<p>You should be redirected automatically to the target URL: <a href=\"%s\">%s</a>. If not, click the link.\n", target, target)
		return
	}
	endpoint = rt.endpoint
	if !slices.Contains(rt.methods, r.Method) && !(r.Method == http.MethodHead && slices.Contains(rt.methods, "GET")) {
		endpoint = "method_not_allowed"
		w.Header().Set("Allow", strings.Join(append(rt.methods, "HEAD", "OPTIONS"), ", "))
		apiError(w, http.StatusMethodNotAllowed, "405 Method Not Allowed: The method is not allowed for the requested URL.")
		return
	}

	// api_login: authentication first, then the quotas.
	user, key := r.Header.Get("X-User"), r.Header.Get("X-Apikey")
	_, hasUser := r.Header["X-User"]
	_, hasKey := r.Header["X-Apikey"]
	if !hasUser || !hasKey {
		s.unauthorized(w, "Session not found")
		return
	}
	if !strings.Contains(key, ":") || user != s.cfg.User || key != s.cfg.APIKey {
		s.unauthorized(w, "Invalid user or APIKey")
		return
	}
	if !s.quota.begin() {
		s.stats.quotaRejected.Add(1)
		apiError(w, http.StatusServiceUnavailable, fmt.Sprintf("You've exceeded your maximum concurrent API calls quota of %d", s.cfg.Quota))
		return
	}
	sl := &slot{s: s, endpoint: endpoint, start: time.Now()}
	s.stats.admit()
	defer sl.release()
	if s.cfg.DailyQuota > 0 {
		ok, left := s.daily.take(time.Now())
		w.Header().Set("X-Remaining-Quota-Api", strconv.Itoa(left))
		if !ok {
			s.stats.dailyRejected.Add(1)
			sl.release()
			apiError(w, http.StatusServiceUnavailable, fmt.Sprintf("You've exceeded your daily maximum API calls quota of %d", s.cfg.DailyQuota))
			return
		}
	}

	f := s.faults.get()
	if s.faults.roll(f.Reset) {
		s.stats.fault("reset")
		sl.release()
		resetConn(w)
		return
	}
	if s.faults.roll(f.Error5xx) {
		sl.release()
		s.serverError(w)
		return
	}
	rt.handle(s, w, r, sl, arg)
}
