package alsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ServerVersion is what api_server_version reports.
const ServerVersion = "4.7.4.stable5"

// Pseudo statuses for Stats.
const (
	statusReset   = -1
	statusAborted = -2
)

// Server is one simulated Assemblyline instance.
type Server struct {
	cfg     Config
	corpus  *Corpus
	faults  *faultState
	stats   *statsRec
	quota   *quotaTracker
	daily   *dailyQuota
	cursors cursorStore
	carts   *cartCache

	jitterMu sync.Mutex
	jitter   *rand.Rand
}

// New builds the corpus and the server. Building is deterministic in
// cfg.Seed; only sha256s are left to compute on first use (unless
// cfg.Prehash).
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	start := time.Now()
	c := buildCorpus(cfg, start)
	if cfg.Prehash {
		c.prehashAll()
	}
	tmp := cfg.TempDir
	if tmp == "" {
		tmp = os.TempDir()
	}
	s := &Server{
		cfg:     cfg,
		corpus:  c,
		faults:  newFaultState(cfg.Faults, c),
		stats:   newStats(),
		quota:   &quotaTracker{limit: cfg.Quota, leaky: cfg.QuotaLeaky},
		daily:   &dailyQuota{limit: cfg.DailyQuota},
		cursors: cursorStore{m: map[string]*cursor{}},
		carts:   newCartCache(cfg.CartCacheBytes, tmp),
		jitter:  rand.New(rand.NewPCG(uint64(cfg.Seed), 0x717e4)),
	}
	return s, nil
}

// Config returns the effective configuration (defaults applied).
func (s *Server) Config() Config { return s.cfg }

// Corpus gives tests and tools read access to the simulated data.
func (s *Server) Corpus() *Corpus { return s.corpus }

// SetFaults replaces the fault configuration; count-based faults start
// counting afresh.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.faults.set(f, s.corpus)
	return nil
}

// Faults returns the fault configuration in force.
func (s *Server) Faults() Faults { return s.faults.get() }

// Stats returns a snapshot of the accounting.
func (s *Server) Stats() Stats {
	st := s.stats.snapshot()
	st.Quota = s.cfg.Quota
	s.cursors.mu.Lock()
	st.OpenCursors = len(s.cursors.m)
	s.cursors.mu.Unlock()
	return st
}

// ResetStats zeroes the accounting (calls in flight stay counted).
func (s *Server) ResetStats() { s.stats.reset() }

// Close releases spooled downloads on disk.
func (s *Server) Close() error { return s.carts.close() }

// Expected returns, sorted, the sha256 of every file alharvest must end up
// with at this threshold: files whose per-file score reaches it in some
// submission that is or will become complete and visible, minus the files
// that can never be downloaded (see Uncollectable).
func (s *Server) Expected(threshold int64) []string {
	return s.expected(threshold, func(i int) bool { return s.corpus.eventual(i) })
}

// ExpectedNow is Expected restricted to submissions complete and visible
// right now (late arrivals and unfinished submissions left out).
func (s *Server) ExpectedNow(threshold int64) []string {
	el := s.corpus.elapsed(time.Now())
	return s.expected(threshold, func(i int) bool { return s.corpus.visibleAt(i, el) && s.corpus.completedAt(i, el) })
}

func (s *Server) expected(threshold int64, include func(int) bool) []string {
	missing, corrupt := s.faults.doomed()
	files := s.corpus.qualifying(threshold, include)
	files = slices.DeleteFunc(files, func(f int32) bool { return missing[f] || corrupt[f] })
	return s.corpus.sortedHex(files)
}

// Uncollectable returns, sorted, the qualifying files (as in Expected) that
// can never be downloaded: blob missing or always corrupt. A correct
// client dead-letters exactly these.
func (s *Server) Uncollectable(threshold int64) []string {
	missing, corrupt := s.faults.doomed()
	files := s.corpus.qualifying(threshold, func(i int) bool { return s.corpus.eventual(i) })
	files = slices.DeleteFunc(files, func(f int32) bool { return !missing[f] && !corrupt[f] })
	return s.corpus.sortedHex(files)
}

// Serve listens on addr (":0" picks a port), serves until ctx is done, then
// shuts down gracefully. It returns the server, its base URL and a wait
// function that returns once serving has stopped.
func Serve(ctx context.Context, addr string, cfg Config) (*Server, string, func() error, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, "", nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", nil, err
	}
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 30 * time.Second}
	done := make(chan error, 1)
	go func() {
		err := hs.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	stopped := make(chan error, 1)
	go func() {
		var err error
		select {
		case <-ctx.Done():
			// Let calls in flight finish, but do not wait forever on a
			// client that reads a big download slowly.
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if serr := hs.Shutdown(sctx); errors.Is(serr, context.DeadlineExceeded) {
				hs.Close()
			} else {
				err = serr
			}
			cancel()
			if serr := <-done; err == nil {
				err = serr
			}
		case err = <-done:
		}
		if cerr := s.Close(); err == nil {
			err = cerr
		}
		stopped <- err
	}()
	var once sync.Once
	var result error
	wait := func() error {
		once.Do(func() { result = <-stopped })
		return result
	}
	return s, "http://" + ln.Addr().String(), wait, nil
}

// ---------------------------------------------------------------------------
// Quotas

// quotaTracker mirrors UserQuotaTracker for the one user there is.
type quotaTracker struct {
	mu    sync.Mutex
	limit int
	count int
	leaky bool
}

func (q *quotaTracker) begin() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.limit == 0 {
		return true
	}
	if q.count >= q.limit {
		// make_api_response on the 503 path calls end() too, popping
		// somebody else's slot.
		if q.leaky && q.count > 0 {
			q.count--
		}
		return false
	}
	q.count++
	return true
}

func (q *quotaTracker) end() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.count > 0 {
		q.count--
	}
}

type dailyQuota struct {
	mu    sync.Mutex
	limit int
	day   string
	used  int
}

// take counts one call; it reports whether the call is allowed and how
// many remain today.
func (d *dailyQuota) take(now time.Time) (bool, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	day := now.UTC().Format("2006-01-02")
	if day != d.day {
		d.day, d.used = day, 0
	}
	if d.used >= d.limit {
		return false, 0
	}
	d.used++
	return true, d.limit - d.used
}

// slot is an admitted call's hold on the concurrent quota.
type slot struct {
	s        *Server
	endpoint string
	start    time.Time
	released bool
}

// release frees the quota slot; the real server does it before sending a
// body, including before streaming a download.
func (sl *slot) release() {
	if sl == nil || sl.released {
		return
	}
	sl.released = true
	// Leave the in-flight count before the tracker frees the slot, so the
	// measured peak can never exceed a strict quota.
	sl.s.stats.leave(sl.endpoint, time.Since(sl.start))
	sl.s.quota.end()
}

// ---------------------------------------------------------------------------
// HTTP plumbing

// recorder remembers the status and counts body bytes.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	// onStatus is told the status as it is sent, before any of the body:
	// a call is counted before its client can have read the answer.
	onStatus func(status int)
}

func (r *recorder) setStatus(code int) {
	if r.status == 0 {
		r.status = code
		if r.onStatus != nil {
			r.onStatus(code)
		}
	}
}

func (r *recorder) WriteHeader(code int) {
	r.setStatus(code)
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.setStatus(http.StatusOK)
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// envelope writes the common JSON envelope (keys sorted, as jsonify does).
func envelope(w http.ResponseWriter, httpStatus int, resp []byte, errMsg string, apiStatus int) {
	b := make([]byte, 0, len(resp)+160)
	b = append(b, `{"api_error_message":`...)
	b = appendJSONString(b, errMsg)
	b = append(b, `,"api_response":`...)
	b = append(b, resp...)
	b = append(b, `,"api_server_version":"`+ServerVersion+`","api_status_code":`...)
	b = strconv.AppendInt(b, int64(apiStatus), 10)
	b = append(b, '}', '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(httpStatus)
	w.Write(b)
}

var emptyString = []byte(`""`)

func apiError(w http.ResponseWriter, status int, msg string) {
	envelope(w, status, emptyString, msg, status)
}

// loginHints is handle_401's api_response with internal auth only.
var loginHints = []byte(`{"allow_saml_login":false,"allow_signup":false,"allow_userpass_login":true}`)

// accessDenied is handle_403's api_response: a slice of the UI config.
var accessDenied = []byte(`{"auth":{"allow_2fa":true,"allow_apikeys":true,"allow_extended_apikeys":true,"allow_security_tokens":true},"ui":{"allow_malicious_hinting":false,"allow_raw_downloads":true,"allow_replay":false,"allow_url_submissions":true,"allow_zip_downloads":true,"apps":[],"banner":null,"banner_level":"info","read_only":false,"tos":false,"tos_lockout":false,"tos_lockout_notify":false}}`)

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
	api := http.HandlerFunc(s.serveAPI)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/_alsim/") {
			mux.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
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

func (s *Server) adminList(w http.ResponseWriter, r *http.Request, list func(int64) []string) {
	t := s.cfg.DesignThreshold
	if v := r.URL.Query().Get("threshold"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			http.Error(w, "threshold must be an integer", http.StatusBadRequest)
			return
		}
		t = n
	}
	var b bytes.Buffer
	for _, h := range list(t) {
		b.WriteString(h)
		b.WriteByte('\n')
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(b.Bytes())
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

func (s *Server) unauthorized(w http.ResponseWriter, msg string) {
	// handle_401 also clears the session and the XSRF cookie.
	w.Header().Add("Set-Cookie", "XSRF-TOKEN=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/")
	envelope(w, http.StatusUnauthorized, loginHints, msg, http.StatusUnauthorized)
}

const nginxPage = "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

// serverError answers with one of the 5xx a client meets in front of or
// inside Assemblyline.
func (s *Server) serverError(w http.ResponseWriter) {
	switch s.faults.intn(4) {
	case 0:
		s.stats.fault("error_500")
		apiError(w, http.StatusInternalServerError, "Internal Server Error")
	case 1:
		s.stats.fault("error_502")
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, nginxPage, 502, "Bad Gateway", 502, "Bad Gateway")
	case 2:
		s.stats.fault("error_503")
		apiError(w, http.StatusServiceUnavailable, "ConnectionError: the datastore is not responding, try again later")
	default:
		s.stats.fault("error_504")
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusGatewayTimeout)
		fmt.Fprintf(w, nginxPage, 504, "Gateway Time-out", 504, "Gateway Time-out")
	}
}

// resetConn drops the connection without a response, with an RST where the
// platform allows.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// wait holds the call for d (with jitter), giving up if the client does.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	if j := s.cfg.LatencyJitter; j > 0 {
		s.jitterMu.Lock()
		u := s.jitter.Float64()
		s.jitterMu.Unlock()
		d = time.Duration(float64(d) * (1 + j*(2*u-1)))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ---------------------------------------------------------------------------
// Endpoints

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
