package alsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDeepPagingReturnsEverySIDOnce(t *testing.T) {
	s, c := testServer(t, Config{Submissions: 300, Seed: 7})
	want := s.Corpus().Len()
	for _, rows := range []any{7, "13", 100, 1000} {
		t.Run(fmt.Sprintf("rows=%v", rows), func(t *testing.T) {
			sids, pages := c.deepPage("*:*", nil, rows)
			if len(sids) != want {
				t.Fatalf("got %d SIDs over %d pages, want %d", len(sids), len(pages), want)
			}
			seen := map[string]bool{}
			for _, sid := range sids {
				if seen[sid] {
					t.Fatalf("SID %s delivered twice", sid)
				}
				seen[sid] = true
				if _, ok := s.Corpus().Lookup(sid); !ok {
					t.Fatalf("unknown SID %s", sid)
				}
			}
			for i, p := range pages {
				if p.Total != nil {
					t.Errorf("page %d: total = %d, want null while deep paging", i, *p.Total)
				}
			}
			last := pages[len(pages)-1]
			if last.Next != nil {
				t.Errorf("last page still has next_deep_paging_id")
			}
			n, _ := strconv.Atoi(jsonString(rows))
			if len(last.Items) >= n {
				t.Errorf("last page has %d items, want fewer than rows=%d", len(last.Items), n)
			}
			// Default sort is times.submitted desc (millisecond resolution).
			prev := int64(math.MaxInt64)
			for _, sid := range sids {
				info, _ := s.Corpus().Lookup(sid)
				if m := info.Submitted.UnixMilli(); m > prev {
					t.Fatalf("not sorted by times.submitted desc at %s", sid)
				} else {
					prev = m
				}
			}
		})
	}
}

func jsonString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return strconv.Itoa(v.(int))
}

func TestDeepPagingExactMultipleEndsWithEmptyPage(t *testing.T) {
	s, c := testServer(t, Config{Submissions: 120, Seed: 3})
	n := s.Corpus().Len()
	sids, pages := c.deepPage("*:*", nil, 10)
	if len(sids) != n || n%10 != 0 {
		t.Fatalf("got %d of %d SIDs", len(sids), n)
	}
	if len(pages) != n/10+1 {
		t.Fatalf("got %d pages, want %d full pages and one empty", len(pages), n/10)
	}
	for i, p := range pages[:len(pages)-1] {
		if len(p.Items) != 10 || p.Next == nil {
			t.Fatalf("page %d: %d items, next=%v", i, len(p.Items), p.Next != nil)
		}
	}
	last := pages[len(pages)-1]
	if len(last.Items) != 0 || last.Next != nil {
		t.Fatalf("last page: %d items, next present=%v; want empty without next id", len(last.Items), last.Next != nil)
	}
	// The cursor closed with the short page: its ids are dead now.
	r := c.postJSON("/api/v4/search/submission/", map[string]any{"query": "*:*", "rows": 10, "deep_paging_id": *pages[len(pages)-2].Next})
	if r.http != 400 || !strings.Contains(r.env.Error, "No search context found") {
		t.Fatalf("reusing a closed cursor: HTTP %d %q", r.http, r.env.Error)
	}
	if st := s.Stats(); st.CursorsOpened != 1 || st.CursorsClosed != 1 {
		t.Errorf("cursors opened/closed = %d/%d, want 1/1", st.CursorsOpened, st.CursorsClosed)
	}
}

func TestDeepPagingOverGETWithEncodedIDs(t *testing.T) {
	s, c := testServer(t, Config{Submissions: 80})
	params := url.Values{"query": {"*:*"}, "rows": {"9"}, "fl": {"sid"}, "deep_paging_id": {"*"}}
	var got int
	for range 100 {
		sr := decodeSearch(t, c.get(searchPath(params)))
		got += len(sr.Items)
		if sr.Next == nil {
			break
		}
		params.Set("deep_paging_id", *sr.Next)
	}
	if got != s.Corpus().Len() {
		t.Fatalf("GET deep paging returned %d items, want %d", got, s.Corpus().Len())
	}
}

func TestCursorExpiry(t *testing.T) {
	_, c := testServer(t, Config{Submissions: 60, CursorKeepAlive: 50 * time.Millisecond})
	body := map[string]any{"query": "*:*", "rows": 5, "deep_paging_id": "*"}
	sr := decodeSearch(t, c.postJSON("/api/v4/search/submission/", body))
	body["deep_paging_id"] = *sr.Next
	// Within the keep-alive, each page extends it.
	for range 3 {
		time.Sleep(30 * time.Millisecond)
		sr = decodeSearch(t, c.postJSON("/api/v4/search/submission/", body))
		body["deep_paging_id"] = *sr.Next
	}
	time.Sleep(120 * time.Millisecond)
	r := c.postJSON("/api/v4/search/submission/", body)
	if r.http != 400 || r.env.Status != 400 || !strings.HasPrefix(r.env.Error, "SearchException: ") ||
		!strings.Contains(r.env.Error, "No search context found") {
		t.Fatalf("expired cursor: HTTP %d %q", r.http, r.env.Error)
	}
}

func TestMalformedDeepPagingID(t *testing.T) {
	_, c := testServer(t, Config{Submissions: 30})
	sr := decodeSearch(t, c.postJSON("/api/v4/search/submission/", map[string]any{"query": "*:*", "rows": 5, "deep_paging_id": "*"}))
	pit := strings.Split(*sr.Next, ",")[0]
	for name, id := range map[string]string{
		"bad base64":    pit + ",%%%not-base64",
		"bad JSON":      pit + "," + base64.StdEncoding.EncodeToString([]byte("[1, 2")),
		"two commas":    pit + ",WzEsIDJd,WzEsIDJd",
		"bad padding":   pit + ",WzEsIDJd=",
		"plus as space": pit + "," + strings.ReplaceAll(base64.StdEncoding.EncodeToString([]byte(`[">>>", 1]`)), "+", " "),
	} {
		t.Run(name, func(t *testing.T) {
			r := c.postJSON("/api/v4/search/submission/", map[string]any{"query": "*:*", "rows": 5, "deep_paging_id": id})
			if r.http != 500 || r.env.Error != "Internal Server Error" {
				t.Fatalf("HTTP %d %q, want 500 Internal Server Error", r.http, r.env.Error)
			}
		})
	}
	r := c.postJSON("/api/v4/search/submission/", map[string]any{"query": "*:*", "rows": 5, "deep_paging_id": "unknown," + base64.StdEncoding.EncodeToString([]byte("[1, 2]"))})
	if r.http != 400 || !strings.Contains(r.env.Error, "No search context found for id [unknown]") {
		t.Fatalf("unknown PIT: HTTP %d %q", r.http, r.env.Error)
	}
}

func TestFieldListNesting(t *testing.T) {
	s, c := testServer(t, Config{Submissions: 40})
	tests := []struct {
		name     string
		fl       string
		wantKeys []string
		check    func(t *testing.T, item map[string]any)
	}{
		{"default stored fields", "",
			[]string{"archive_ts", "archived", "classification", "error_count", "file_count", "from_archive", "id", "max_score", "params", "sid", "state", "times", "to_be_deleted"},
			func(t *testing.T, item map[string]any) {
				times := item["times"].(map[string]any)
				if _, ok := times["completed"]; ok {
					t.Error("times.completed returned without being asked for")
				}
				if _, ok := times["submitted"]; !ok {
					t.Error("times.submitted missing")
				}
				params := item["params"].(map[string]any)
				if len(params) != 2 || params["submitter"] == nil || params["description"] == nil {
					t.Errorf("params = %v, want description and submitter only", params)
				}
				if item["id"] != item["sid"] {
					t.Errorf("id %v != sid %v", item["id"], item["sid"])
				}
			}},
		{"nested times", "sid,times.submitted,times.completed,max_score",
			[]string{"max_score", "sid", "times"},
			func(t *testing.T, item map[string]any) {
				times := item["times"].(map[string]any)
				if len(times) != 2 {
					t.Errorf("times = %v", times)
				}
			}},
		{"id only when named", "id,sid", []string{"id", "sid"}, nil},
		{"files array", "sid,files.sha256", []string{"files", "sid"},
			func(t *testing.T, item map[string]any) {
				files := item["files"].([]any)
				f := files[0].(map[string]any)
				if len(f) != 1 || len(f["sha256"].(string)) != 64 {
					t.Errorf("files[0] = %v", f)
				}
			}},
		{"whole object", "params", []string{"params"},
			func(t *testing.T, item map[string]any) {
				if len(item["params"].(map[string]any)) < 5 {
					t.Errorf("params = %v", item["params"])
				}
			}},
		{"no trimming", "sid, max_score", []string{"sid"}, nil},
		{"unknown field", "sid,nope", []string{"sid"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"query": "*:*", "rows": 3}
			if tc.fl != "" {
				body["fl"] = tc.fl
			}
			sr := decodeSearch(t, c.postJSON("/api/v4/search/submission/", body))
			if sr.Total == nil || *sr.Total != s.Corpus().Len() {
				t.Fatalf("total = %v", sr.Total)
			}
			for _, raw := range sr.Items {
				var item map[string]any
				if err := json.Unmarshal(raw, &item); err != nil {
					t.Fatal(err)
				}
				var keys []string
				for k := range item {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				if !slices.Equal(keys, tc.wantKeys) {
					t.Fatalf("keys = %v, want %v", keys, tc.wantKeys)
				}
				if tc.check != nil {
					tc.check(t, item)
				}
			}
		})
	}
}

func TestLuceneSubset(t *testing.T) {
	s, c := testServer(t, Config{Submissions: 400, Seed: 11})
	corp := s.Corpus()
	var infos []SubmissionInfo
	for i := range corp.Len() {
		infos = append(infos, corp.Submission(i))
	}
	ref := infos[len(infos)/2]
	from := ref.Completed.Add(-48 * time.Hour)
	to := ref.Completed
	iso := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }
	submitter := func(i SubmissionInfo) string { return submitters[corp.subs[i.Index].submitter] }
	source := func(i SubmissionInfo) string {
		if src := corp.subs[i.Index].source; src > 0 {
			return sources[src-1]
		}
		return ""
	}
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	tests := []struct {
		query   string
		filters []string
		want    func(i SubmissionInfo) bool
	}{
		{"*:*", nil, func(SubmissionInfo) bool { return true }},
		{"max_score:>=7000", nil, func(i SubmissionInfo) bool { return i.MaxScore >= 7000 }},
		{"max_score:>7000", nil, func(i SubmissionInfo) bool { return i.MaxScore > 7000 }},
		{"max_score:<=0", nil, func(i SubmissionInfo) bool { return i.MaxScore <= 0 }},
		{"max_score:<100", nil, func(i SubmissionInfo) bool { return i.MaxScore < 100 }},
		{"max_score:[1000 TO 7000}", nil, func(i SubmissionInfo) bool { return i.MaxScore >= 1000 && i.MaxScore < 7000 }},
		{"max_score:{6999 TO *]", nil, func(i SubmissionInfo) bool { return i.MaxScore > 6999 }},
		{"max_score:7000", nil, func(i SubmissionInfo) bool { return i.MaxScore == 7000 }},
		{"state:completed AND max_score:>=7000", nil, func(i SubmissionInfo) bool { return i.MaxScore >= 7000 }},
		{"max_score:>=7000 OR max_score:0", nil, func(i SubmissionInfo) bool { return i.MaxScore >= 7000 || i.MaxScore == 0 }},
		{"max_score:>=7000 max_score:0", nil, func(i SubmissionInfo) bool { return i.MaxScore >= 7000 || i.MaxScore == 0 }},
		{"NOT max_score:0", nil, func(i SubmissionInfo) bool { return i.MaxScore != 0 }},
		{"-max_score:0", nil, func(i SubmissionInfo) bool { return i.MaxScore != 0 }},
		{"*:* AND NOT params.submitter:admin", nil, func(i SubmissionInfo) bool { return submitter(i) != "admin" }},
		{"(max_score:0 OR max_score:>=7000) AND NOT params.submitter:admin", nil, func(i SubmissionInfo) bool {
			return (i.MaxScore == 0 || i.MaxScore >= 7000) && submitter(i) != "admin"
		}},
		{"params.submitter:(admin OR svc_go)", nil, func(i SubmissionInfo) bool { return submitter(i) == "admin" || submitter(i) == "svc_go" }},
		{`params.submitter:"svc_go"`, nil, func(i SubmissionInfo) bool { return submitter(i) == "svc_go" }},
		{"params.submitter:ana*", nil, func(i SubmissionInfo) bool { return strings.HasPrefix(submitter(i), "ana") }},
		{"metadata.source:feedX", nil, func(i SubmissionInfo) bool { return source(i) == "feedX" }},
		{"_exists_:metadata.source", nil, func(i SubmissionInfo) bool { return source(i) != "" }},
		{"metadata.nothing:x", nil, func(SubmissionInfo) bool { return false }},
		{"sid:" + ref.SID, nil, func(i SubmissionInfo) bool { return i.SID == ref.SID }},
		{`sid:"` + ref.SID + `"`, nil, func(i SubmissionInfo) bool { return i.SID == ref.SID }},
		{"file_count:>=5", nil, func(i SubmissionInfo) bool { return len(i.Files) >= 5 }},
		{`times.completed:["` + iso(from) + `" TO "` + iso(to) + `"]`, nil, func(i SubmissionInfo) bool {
			return ms(i.Completed) >= ms(from) && ms(i.Completed) <= ms(to)
		}},
		{`times.completed:{"` + iso(from) + `" TO "` + iso(to) + `"}`, nil, func(i SubmissionInfo) bool {
			return ms(i.Completed) > ms(from) && ms(i.Completed) < ms(to)
		}},
		{`times.completed:>="` + iso(to) + `"`, nil, func(i SubmissionInfo) bool { return ms(i.Completed) >= ms(to) }},
		{`times.submitted:[* TO "` + iso(to) + `"]`, nil, func(i SubmissionInfo) bool { return ms(i.Submitted) <= ms(to) }},
		{"times.completed:[now-7d TO now]", nil, func(i SubmissionInfo) bool {
			return i.Completed.After(time.Now().Add(-7*24*time.Hour - time.Minute))
		}},
		{"max_score:>=7000", []string{"params.submitter:admin"}, func(i SubmissionInfo) bool { return i.MaxScore >= 7000 && submitter(i) == "admin" }},
		{"max_score:>=7000", []string{"params.submitter:admin", "file_count:<4"}, func(i SubmissionInfo) bool {
			return i.MaxScore >= 7000 && submitter(i) == "admin" && len(i.Files) < 4
		}},
	}
	for _, tc := range tests {
		t.Run(tc.query+strings.Join(tc.filters, "&"), func(t *testing.T) {
			var want []string
			for _, i := range infos {
				if tc.want(i) {
					want = append(want, i.SID)
				}
			}
			body := map[string]any{"query": tc.query, "rows": 10000, "fl": "sid", "track_total_hits": true}
			if len(tc.filters) == 1 {
				body["filters"] = tc.filters[0] // a single string is accepted too
			} else if tc.filters != nil {
				body["filters"] = tc.filters
			}
			sr := decodeSearch(t, c.postJSON("/api/v4/search/submission/", body))
			var got []string
			for _, it := range sr.Items {
				got = append(got, itemSID(t, it))
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("got %d SIDs, want %d", len(got), len(want))
			}
			if *sr.Total != len(want) {
				t.Fatalf("total = %d, want %d", *sr.Total, len(want))
			}
		})
	}
	// The times.completed range must really select something.
	var n int
	for _, i := range infos {
		if ms(i.Completed) >= ms(from) && ms(i.Completed) <= ms(to) {
			n++
		}
	}
	if n < 2 {
		t.Errorf("date range test selects only %d submissions", n)
	}
}

func TestSearchErrors(t *testing.T) {
	_, c := testServer(t, Config{Submissions: 30})
	tests := []struct {
		name   string
		body   map[string]any
		status int
		prefix string
	}{
		{"no query", map[string]any{"rows": 5}, 400, "There was no search query."},
		{"empty query", map[string]any{"query": ""}, 400, "There was no search query."},
		{"unknown field", map[string]any{"query": "nope:1"}, 400, "SearchException: "},
		{"bare term", map[string]any{"query": "malware"}, 400, "SearchException: "},
		{"syntax", map[string]any{"query": "max_score:>=7000 AND ("}, 400, "SearchException: Failed to parse query"},
		{"bad number", map[string]any{"query": "max_score:abc"}, 400, "SearchException: "},
		{"bad date", map[string]any{"query": "times.completed:>=yesterday"}, 400, "SearchException: Failed to parse query [times.completed:>=yesterday]: failed to parse date field"},
		{"bad filter", map[string]any{"query": "*:*", "filters": []string{"foo:bar"}}, 400, "SearchException: "},
		{"window", map[string]any{"query": "*:*", "offset": 9990, "rows": 11}, 400, "SearchException: Result window is too large"},
		{"window deep", map[string]any{"query": "*:*", "rows": 10001, "deep_paging_id": "*"}, 400, "SearchException: Result window is too large"},
		{"bad sort", map[string]any{"query": "*:*", "sort": "foo bar baz"}, 400, "SearchException: Unknown sort parameter foo bar baz"},
		{"bad sort dir", map[string]any{"query": "*:*", "sort": "max_score up"}, 400, "SearchException: Unknown sort parameter max_score up"},
		{"sort unknown field", map[string]any{"query": "*:*", "sort": "nope desc"}, 400, "SearchException: No mapping found for [nope]"},
		{"fl not a string", map[string]any{"query": "*:*", "fl": []string{"sid"}}, 500, "Internal Server Error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.postJSON("/api/v4/search/submission/", tc.body)
			if r.http != tc.status || r.env.Status != tc.status || !strings.HasPrefix(r.env.Error, tc.prefix) {
				t.Fatalf("HTTP %d (api %d) %q, want %d %q...", r.http, r.env.Status, r.env.Error, tc.status, tc.prefix)
			}
			if string(r.env.Response) != `""` {
				t.Errorf("api_response = %s, want \"\"", r.env.Response)
			}
		})
	}
	// GET without query.
	if r := c.get("/api/v4/search/submission/?rows=3"); r.http != 400 || r.env.Error != "There was no search query." {
		t.Fatalf("GET without query: %d %q", r.http, r.env.Error)
	}
}

func TestSortTotalsAndOffsets(t *testing.T) {
	s, c := testServer(t, Config{Submissions: 12000, FilesMin: 1, FilesMax: 1})
	sr := decodeSearch(t, c.get(searchPath(url.Values{"query": {"*:*"}, "rows": {"5"}})))
	if *sr.Total != 10000 || sr.Rows != 5 || len(sr.Items) != 5 {
		t.Fatalf("capped total: total=%d rows=%d items=%d", *sr.Total, sr.Rows, len(sr.Items))
	}
	sr = decodeSearch(t, c.get(searchPath(url.Values{"query": {"*:*"}, "rows": {"5"}, "track_total_hits": {"true"}})))
	if *sr.Total != s.Corpus().Len() {
		t.Fatalf("tracked total = %d, want %d", *sr.Total, s.Corpus().Len())
	}
	sr = decodeSearch(t, c.postJSON("/api/v4/search/submission/", map[string]any{"query": "*:*", "rows": 0, "track_total_hits": 500}))
	if *sr.Total != 500 || len(sr.Items) != 0 {
		t.Fatalf("track_total_hits=500: total=%d items=%d", *sr.Total, len(sr.Items))
	}
	// Sort by score, then SID, with offset paging.
	var scores []float64
	var sids []string
	for off := 0; off < 60; off += 20 {
		sr = decodeSearch(t, c.postJSON("/api/v4/search/submission/", map[string]any{
			"query": "*:*", "rows": "20", "offset": off, "sort": "max_score desc, sid asc", "fl": "sid,max_score"}))
		if sr.Offset != off {
			t.Fatalf("offset echo %d, want %d", sr.Offset, off)
		}
		for _, raw := range sr.Items {
			var it struct {
				SID      string  `json:"sid"`
				MaxScore float64 `json:"max_score"`
			}
			json.Unmarshal(raw, &it)
			scores = append(scores, it.MaxScore)
			sids = append(sids, it.SID)
		}
	}
	for i := 1; i < len(scores); i++ {
		if scores[i] > scores[i-1] || scores[i] == scores[i-1] && sids[i] < sids[i-1] {
			t.Fatalf("not sorted at %d: (%v,%s) after (%v,%s)", i, scores[i], sids[i], scores[i-1], sids[i-1])
		}
	}
}

func TestSearchOtherIndexes(t *testing.T) {
	_, c := testServer(t, Config{Submissions: 20})
	r := c.get("/api/v4/search/file/?query=*:*")
	if r.http != 400 || !strings.Contains(r.env.Error, "not supported by alsim") {
		t.Errorf("file index: %d %q", r.http, r.env.Error)
	}
	for _, idx := range []string{"foo", "user"} {
		r = c.get("/api/v4/search/" + idx + "/?query=*:*")
		want := "Access Denied (/api/v4/search/" + idx + "/) [API /api/v4/search/" + idx + "/ requires the role 'administration' for request on index '" + idx + "']"
		if r.http != 403 || r.env.Error != want {
			t.Errorf("%s index: %d %q", idx, r.http, r.env.Error)
		}
		var cfg map[string]any
		if json.Unmarshal(r.env.Response, &cfg) != nil || cfg["ui"] == nil {
			t.Errorf("403 api_response = %s, want the config dict", r.env.Response)
		}
	}
}

func TestLatePIT(t *testing.T) {
	// A cursor opened before late arrivals appear never sees them, even
	// when paged after they appeared; a new cursor does.
	s, c := testServer(t, Config{Submissions: 60, LateArrivals: 3, ArrivalWindow: 150 * time.Millisecond})
	body := map[string]any{"query": "*:*", "rows": 5, "fl": "sid", "deep_paging_id": "*"}
	sr := decodeSearch(t, c.postJSON("/api/v4/search/submission/", body))
	n := len(sr.Items)
	time.Sleep(250 * time.Millisecond)
	for sr.Next != nil {
		body["deep_paging_id"] = *sr.Next
		sr = decodeSearch(t, c.postJSON("/api/v4/search/submission/", body))
		n += len(sr.Items)
	}
	if want := s.Corpus().Len() - 3; n != want {
		t.Fatalf("old cursor saw %d, want %d", n, want)
	}
	if sids, _ := c.deepPage("*:*", nil, 7); len(sids) != s.Corpus().Len() {
		t.Fatalf("new cursor saw %d, want %d", len(sids), s.Corpus().Len())
	}
}
