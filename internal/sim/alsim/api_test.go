package alsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestAuth(t *testing.T) {
	s, c := testServer(t, Config{Submissions: 20})
	sid := s.Corpus().Submission(0).SID
	tests := []struct {
		name      string
		user, key string // "-" = header absent
		status    int
		msg       string
	}{
		{"both headers", "admin", "devkey:devpassword", 200, ""},
		{"no headers", "-", "-", 401, "Session not found"},
		{"only user", "admin", "-", 401, "Session not found"},
		{"only key", "-", "devkey:devpassword", 401, "Session not found"},
		{"wrong password", "admin", "devkey:nope", 401, "Invalid user or APIKey"},
		{"no colon", "admin", "devkeydevpassword", 401, "Invalid user or APIKey"},
		{"wrong user", "bob", "devkey:devpassword", 401, "Invalid user or APIKey"},
		{"empty key", "admin", "", 401, "Invalid user or APIKey"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", c.base+"/api/v4/submission/full/"+sid+"/", nil)
			if tc.user != "-" {
				req.Header.Set("X-USER", tc.user)
			}
			if tc.key != "-" {
				req.Header["X-APIKEY"] = []string{tc.key} // header names are case-insensitive
			}
			resp, err := c.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var env envelopeResp
			if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || env.Status != tc.status || env.Error != tc.msg {
				t.Fatalf("HTTP %d api %d %q, want %d %q", resp.StatusCode, env.Status, env.Error, tc.status, tc.msg)
			}
			if env.Version != ServerVersion {
				t.Errorf("api_server_version = %q", env.Version)
			}
			if tc.status == 401 {
				var hints map[string]bool
				if err := json.Unmarshal(env.Response, &hints); err != nil || !hints["allow_userpass_login"] {
					t.Errorf("401 api_response = %s, want the login hints dict", env.Response)
				}
			}
		})
	}
}

func TestUnsupportedMediaTypeQuirk(t *testing.T) {
	_, c := testServer(t, Config{Submissions: 20})
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
		r := c.do("POST", "/api/v4/search/submission/", []byte(`{"query":"*:*"}`), ct)
		if r.http != 200 || r.env.Status != 200 || r.env.Error == "" || !strings.Contains(r.env.Error, "415") {
			t.Errorf("Content-Type %q: HTTP %d api %d %q; want the 200-with-error quirk", ct, r.http, r.env.Status, r.env.Error)
		}
	}
	r := c.do("POST", "/api/v4/search/submission/", []byte(`{"query":"*:*"}`), "application/json; charset=utf-8")
	if r.http != 200 || r.env.Error != "" {
		t.Errorf("JSON with charset: %d %q", r.http, r.env.Error)
	}
	r = c.do("POST", "/api/v4/search/submission/", []byte(`{"query":`), "application/json")
	if r.http != 400 || !strings.HasPrefix(r.env.Error, "No data block provided") {
		t.Errorf("broken JSON: %d %q", r.http, r.env.Error)
	}
}

func TestRoutes(t *testing.T) {
	s, c := testServer(t, Config{Submissions: 20})
	sid := s.Corpus().Submission(0).SID
	noRedirect := *c.hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	t.Run("redirect without slash", func(t *testing.T) {
		for _, p := range []string{"/api/v4/submission/full/" + sid, "/api/v4/search/submission?query=*:*&rows=1"} {
			req, _ := http.NewRequest("GET", c.base+p, nil)
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			if resp.StatusCode != http.StatusPermanentRedirect || !strings.Contains(loc, strings.SplitN(p, "?", 2)[0]+"/") {
				t.Fatalf("%s: %d Location %q", p, resp.StatusCode, loc)
			}
		}
		// A client that follows it gets the answer.
		if r := c.get("/api/v4/submission/full/" + sid); r.http != 200 {
			t.Fatalf("following the redirect: %d", r.http)
		}
	})
	tests := []struct {
		path   string
		status int
		msg    string
		resp   string
	}{
		{"/api/v4/nope/", 404, "Api does not exist (/api/v4/nope/)", `""`},
		{"/api/v4/submission/full/", 404, "Api does not exist (/api/v4/submission/full/)", `""`},
		{"/api/v4/submission/full/nope/", 404, "Submission ID nope does not exists.", `""`},
		{"/api/v4/submission/is_completed/nope/", 404, "Submission ID nope does not exists.", `""`},
		{"/api/v4/submission/is_completed/" + sid + "/", 200, "", "true"},
		{"/api/v4/file/download/" + strings.Repeat("A", 64) + "/", 404, "The file was not found in the system.", "{}"},
		{"/api/v4/file/download/" + strings.Repeat("a", 64) + "/", 404, "The file was not found in the system.", "{}"},
		{"/api/v4/file/download/short/", 404, "The file was not found in the system.", "{}"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			r := c.get(tc.path)
			if r.http != tc.status || r.env.Error != tc.msg || string(r.env.Response) != tc.resp {
				t.Fatalf("HTTP %d %q %s, want %d %q %s", r.http, r.env.Error, r.env.Response, tc.status, tc.msg, tc.resp)
			}
		})
	}
	if r := c.do("POST", "/api/v4/submission/full/"+sid+"/", nil, "application/json"); r.http != 405 {
		t.Errorf("POST full: %d", r.http)
	}
}

// checkSortedKeys walks a JSON document and fails on any object whose keys
// are not in sorted order, as Flask's jsonify writes them.
func checkSortedKeys(t *testing.T, b []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		obj     bool
		lastKey string
		wantKey bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		top := len(stack) - 1
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if top >= 0 && stack[top].obj {
					stack[top].wantKey = true
				}
				stack = append(stack, frame{obj: d == '{', wantKey: true})
			case '}', ']':
				stack = stack[:top]
				if len(stack) > 0 && stack[len(stack)-1].obj {
					stack[len(stack)-1].wantKey = true
				}
			}
			continue
		}
		if top >= 0 && stack[top].obj {
			if stack[top].wantKey {
				k := tok.(string)
				if stack[top].lastKey != "" && k <= stack[top].lastKey {
					t.Fatalf("key %q after %q: keys not sorted", k, stack[top].lastKey)
				}
				stack[top].lastKey = k
				stack[top].wantKey = false
			} else {
				stack[top].wantKey = true
			}
		}
	}
}

var resultKeyRE = regexp.MustCompile(`^[0-9a-f]{64}\.[A-Za-z0-9_]+\.v[0-9A-Za-z_]+\.c[0-9A-Za-z]+(\.e)?$`)
var errorKeyRE = regexp.MustCompile(`^[0-9a-f]{64}\.[A-Za-z0-9_]+\.v[0-9A-Za-z_]+\.c[0-9A-Za-z]+\.e[0-9]+$`)

func TestFullDocument(t *testing.T) {
	s, c := testServer(t, Config{Submissions: 200, Seed: 5})
	corp := s.Corpus()
	var sawEmpty, sawError, sawTruncated, sawNegative bool
	keyScores := map[string]int64{} // one result key, one score, everywhere
	reused := 0
	for i := range corp.Len() {
		info := corp.Submission(i)
		r := c.get("/api/v4/submission/full/" + info.SID + "/")
		if i < 5 {
			checkSortedKeys(t, r.body)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(r.env.Response, &raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"archive_ts", "archived", "classification", "error_count", "errors", "expiry_ts", "file_count",
			"file_infos", "file_tree", "files", "from_archive", "max_score", "metadata", "missing_error_keys", "missing_file_keys",
			"missing_result_keys", "params", "results", "scan_key", "sid", "state", "times", "to_be_deleted", "tracing_events", "verdict"} {
			if _, ok := raw[k]; !ok {
				t.Fatalf("%s: key %q missing", info.SID, k)
			}
		}
		d := c.full(info.SID)
		if d.SID != info.SID || d.State != "completed" || d.Times.Completed == nil {
			t.Fatalf("%s: sid %q state %q", info.SID, d.SID, d.State)
		}
		for _, ts := range []string{d.Times.Submitted, *d.Times.Completed} {
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasSuffix(ts, "Z") {
				t.Fatalf("timestamp %q: %v", ts, err)
			}
		}
		scores := d.fileScores()
		var max int64
		for _, f := range info.Files {
			if scores[f.SHA256] != f.Score {
				t.Fatalf("%s: file %s sums to %d, corpus says %d", info.SID, f.SHA256, scores[f.SHA256], f.Score)
			}
			max = maxInt64(max, f.Score)
			sawNegative = sawNegative || f.Score < 0
		}
		if d.MaxScore != max || d.MaxScore != info.MaxScore {
			t.Fatalf("%s: max_score %d, recomputed %d", info.SID, d.MaxScore, max)
		}
		for k, res := range d.Results {
			if !resultKeyRE.MatchString(k) || k[:64] != res.SHA256 {
				t.Fatalf("bad result key %q", k)
			}
			if prev, ok := keyScores[k]; ok {
				reused++
				if prev != res.Result.Score {
					t.Fatalf("result key %s scores %d here and %d elsewhere", k, res.Result.Score, prev)
				}
			}
			keyScores[k] = res.Result.Score
			if strings.HasSuffix(k, ".e") {
				sawEmpty = true
				if res.Result.Score != 0 || strings.Contains(res.Response.ServiceVersion, ".") {
					t.Fatalf("empty result %q: score %d version %q", k, res.Result.Score, res.Response.ServiceVersion)
				}
			} else if !strings.Contains(res.Response.ServiceVersion, ".") {
				t.Fatalf("result %q: service_version %q", k, res.Response.ServiceVersion)
			}
		}
		for k := range d.Errors {
			sawError = true
			if !errorKeyRE.MatchString(k) {
				t.Fatalf("bad error key %q", k)
			}
		}
		var walk func(nodes map[string]treeNode)
		walk = func(nodes map[string]treeNode) {
			for sha, n := range nodes {
				if n.SHA256 != sha || n.Score != scores[sha] {
					t.Fatalf("%s: tree node %s score %d, want %d", info.SID, sha, n.Score, scores[sha])
				}
				sawTruncated = sawTruncated || n.Truncated
				walk(n.Children)
			}
		}
		walk(d.FileTree)
		if len(d.FileInfos) != len(info.Files) {
			t.Fatalf("%s: %d file_infos for %d files", info.SID, len(d.FileInfos), len(info.Files))
		}
	}
	if reused == 0 {
		t.Error("no result key appears in two submissions")
	}
	if !sawEmpty || !sawError || !sawTruncated || !sawNegative {
		t.Errorf("corpus lacks variety: empty=%v error=%v truncated=%v negative=%v", sawEmpty, sawError, sawTruncated, sawNegative)
	}
}

func maxInt64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func TestQuotaNeverExceeded(t *testing.T) {
	const quota = 4
	s, c := testServer(t, Config{Submissions: 50, Quota: quota, FullLatency: 5 * time.Millisecond, SearchLatency: 5 * time.Millisecond})
	sids := []string{}
	for i := range 50 {
		sids = append(sids, s.Corpus().subs[i].sid)
	}
	var ok, rejected atomic.Int64
	var wg sync.WaitGroup
	want := fmt.Sprintf("You've exceeded your maximum concurrent API calls quota of %d", quota)
	for w := range 50 {
		wg.Go(func() {
			for k := range 6 {
				var r reply
				if k%3 == 0 {
					r = c.get("/api/v4/search/submission/?query=*:*&rows=2")
				} else {
					r = c.get("/api/v4/submission/full/" + sids[(w+k)%len(sids)] + "/")
				}
				switch {
				case r.http == 200:
					ok.Add(1)
				case r.http == 503 && r.env.Error == want && string(r.env.Response) == `""`:
					rejected.Add(1)
				default:
					t.Errorf("unexpected answer %d %q", r.http, r.env.Error)
				}
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	if st.PeakInFlight > quota {
		t.Fatalf("peak in flight %d exceeds the quota %d", st.PeakInFlight, quota)
	}
	if rejected.Load() == 0 || st.QuotaRejected != rejected.Load() {
		t.Fatalf("rejected %d, stats %d: 50 clients should have hit the quota", rejected.Load(), st.QuotaRejected)
	}
	if st.PeakInFlight != quota {
		t.Errorf("peak in flight %d, expected the quota %d to be reached", st.PeakInFlight, quota)
	}
	if st.ServerTimeTotal < time.Duration(ok.Load())*4*time.Millisecond {
		t.Errorf("server time %v too small for %d calls of >= 5ms", st.ServerTimeTotal, ok.Load())
	}
	if st.Calls["full"]["503"]+st.Calls["search"]["503"] != rejected.Load() {
		t.Errorf("calls by status %v disagree with %d rejections", st.Calls, rejected.Load())
	}
	if st.InFlight != 0 {
		t.Errorf("in flight after the run: %d", st.InFlight)
	}
}

func TestQuotaTracker(t *testing.T) {
	tests := []struct {
		name  string
		leaky bool
		// after filling the quota and one rejection, can another call get in
		// while all original callers are still running?
		wantAdmit bool
	}{
		{"strict", false, false},
		{"leaky", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := &quotaTracker{limit: 3, leaky: tc.leaky}
			for range 3 {
				if !q.begin() {
					t.Fatal("rejected below the quota")
				}
			}
			if q.begin() {
				t.Fatal("admitted above the quota")
			}
			if got := q.begin(); got != tc.wantAdmit {
				t.Fatalf("admit after a rejection = %v, want %v", got, tc.wantAdmit)
			}
		})
	}
	off := &quotaTracker{}
	for range 100 {
		if !off.begin() {
			t.Fatal("quota 0 must be off")
		}
	}
}

func TestDailyQuota(t *testing.T) {
	_, c := testServer(t, Config{Submissions: 20, DailyQuota: 3})
	for k := range 4 {
		r := c.get("/api/v4/search/submission/?query=*:*&rows=1")
		if h := r.hdr.Get("X-Remaining-Quota-Api"); h == "" {
			t.Fatalf("call %d: no x-remaining-quota-api header", k)
		}
		if k < 3 && r.http != 200 {
			t.Fatalf("call %d: %d %q", k, r.http, r.env.Error)
		}
		if k == 3 && (r.http != 503 || r.env.Error != "You've exceeded your daily maximum API calls quota of 3") {
			t.Fatalf("call over the daily quota: %d %q", r.http, r.env.Error)
		}
	}
}

func TestAdminEndpoints(t *testing.T) {
	s, c := testServer(t, Config{Submissions: 100})
	r := c.get("/_alsim/expected?threshold=7000")
	got := strings.Fields(string(r.body))
	if !slices.Equal(got, s.Expected(7000)) {
		t.Fatalf("/_alsim/expected returns %d lines, Expected %d", len(got), len(s.Expected(7000)))
	}
	req, _ := http.NewRequest("PUT", c.base+"/_alsim/faults", strings.NewReader(`{"missing_blobs":2,"missing_results_delay":"15ms","error_5xx":0.5}`))
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if f := s.Faults(); resp.StatusCode != 200 || f.MissingBlobs != 2 || f.MissingResultsDelay != 15*time.Millisecond || f.Error5xx != 0.5 {
		t.Fatalf("PUT faults: %d %+v", resp.StatusCode, f)
	}
	un := strings.Fields(string(c.get("/_alsim/uncollectable").body))
	if len(un) != 2 || !slices.Equal(un, s.Uncollectable(7000)) {
		t.Fatalf("uncollectable = %v", un)
	}
	req, _ = http.NewRequest("PUT", c.base+"/_alsim/faults", strings.NewReader(`{"error_5xx":2}`))
	if resp, err = c.hc.Do(req); err != nil || resp.StatusCode != 400 {
		t.Fatalf("invalid faults accepted: %v", err)
	}
	resp.Body.Close()
	var st Stats
	if err := json.Unmarshal(c.get("/_alsim/stats").body, &st); err != nil || st.Quota != 10 {
		t.Fatalf("stats: %v %+v", err, st)
	}
	req, _ = http.NewRequest("POST", c.base+"/_alsim/stats/reset", nil)
	if resp, err = c.hc.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("reset: %v", err)
	}
	resp.Body.Close()
}
