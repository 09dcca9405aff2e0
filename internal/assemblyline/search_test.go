package assemblyline

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/failure"
)

// pagingServer plays Assemblyline's deep paging: pages[i] answers the i-th
// request, which must carry ids[i] (ids[0] = "*"). A page's next id is
// ids[i+1] when there is one.
type pagingServer struct {
	t     *testing.T
	pages [][]any // items per page
	ids   []string
	// override, when set, answers request i instead (return false to fall through).
	override func(i int, w http.ResponseWriter, body searchBody) bool

	mu   sync.Mutex
	n    int
	seen []string // deep_paging_id of every request
}

func (p *pagingServer) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v4/search/submission/" {
		p.t.Errorf("%s %s, want POST /api/v4/search/submission/", r.Method, r.URL.Path)
	}
	var raw map[string]json.RawMessage
	var body searchBody
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &raw); err != nil {
		p.t.Errorf("request body %q: %v", b, err)
	}
	if err := json.Unmarshal(b, &body); err != nil {
		p.t.Errorf("request body %q: %v", b, err)
	}
	for _, k := range []string{"offset", "sort"} {
		if _, ok := raw[k]; ok {
			p.t.Errorf("request sends %s with deep paging", k)
		}
	}
	p.mu.Lock()
	i := p.n
	p.n++
	p.seen = append(p.seen, body.DeepPagingID)
	p.mu.Unlock()
	if p.override != nil && p.override(i, w, body) {
		return
	}
	page := p.pageFor(body.DeepPagingID)
	if page < 0 {
		writeEnvelope(w, 400, "", "SearchException: No search context found for id ["+body.DeepPagingID+"]")
		return
	}
	resp := map[string]any{"offset": 0, "rows": body.Rows, "total": nil, "items": p.pages[page]}
	if page+1 < len(p.ids) {
		resp["next_deep_paging_id"] = p.ids[page+1]
	}
	writeEnvelope(w, 200, resp, "")
}

func (p *pagingServer) pageFor(id string) int {
	for i, want := range p.ids {
		if id == want {
			return i
		}
	}
	return -1
}

// sent returns the deep_paging_id of every request so far.
func (p *pagingServer) sent() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

func items(sids ...string) []any {
	out := make([]any, len(sids))
	for i, s := range sids {
		out[i] = map[string]any{"sid": s, "max_score": 7000 + i, "times": map[string]any{"completed": "2025-03-04T15:03:40.551028Z"}}
	}
	return out
}

// newPagingHarness wires a pagingServer into a harness.
func newPagingHarness(t *testing.T, p *pagingServer, mods ...func(*Config)) *harness {
	p.t = t
	return newHarness(t, p.handle, mods...)
}

func collect(t *testing.T, c *Client, req SearchRequest) ([][]SearchItem, error) {
	t.Helper()
	var pages [][]SearchItem
	err := c.SearchSubmissions(context.Background(), req, func(items []SearchItem) error {
		pages = append(pages, items)
		return nil
	})
	return pages, err
}

func sids(pages [][]SearchItem) []string {
	var out []string
	for _, p := range pages {
		for _, it := range p {
			out = append(out, it.SID)
		}
	}
	return out
}

func TestSearchDeepPaging(t *testing.T) {
	tests := []struct {
		name      string
		pages     [][]any
		ids       []string
		wantPages int
		wantSIDs  string
		wantReqs  int
	}{
		{
			name:      "three full pages and a short last page without next id",
			pages:     [][]any{items("a1", "a2"), items("b1", "b2"), items("c1", "c2"), items("d1")},
			ids:       []string{"*", "pit1,WzEwMDBd", "pit2,WzkwMF0=", "pit2,WzgwMF0="},
			wantPages: 4, wantSIDs: "a1 a2 b1 b2 c1 c2 d1", wantReqs: 4,
		},
		{
			name:      "exactly full last page followed by an empty page",
			pages:     [][]any{items("a1", "a2"), items("b1", "b2"), items("c1", "c2"), {}},
			ids:       []string{"*", "p1", "p2", "p3"},
			wantPages: 3, wantSIDs: "a1 a2 b1 b2 c1 c2", wantReqs: 4,
		},
		{
			name:      "single short page",
			pages:     [][]any{items("a1")},
			ids:       []string{"*"},
			wantPages: 1, wantSIDs: "a1", wantReqs: 1,
		},
		{
			name:      "no results at all",
			pages:     [][]any{{}},
			ids:       []string{"*"},
			wantPages: 0, wantSIDs: "", wantReqs: 1,
		},
		{
			name:      "empty page that still carries a next id ends the sweep",
			pages:     [][]any{items("a1", "a2"), {}, items("never")},
			ids:       []string{"*", "p1", "p2"},
			wantPages: 1, wantSIDs: "a1 a2", wantReqs: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &pagingServer{pages: tt.pages, ids: tt.ids}
			hs := newPagingHarness(t, p)
			pages, err := collect(t, hs.c, SearchRequest{Query: "max_score:>=7000", Filters: []string{"times.completed:[now-1d TO now]"}, Rows: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(pages) != tt.wantPages || strings.Join(sids(pages), " ") != tt.wantSIDs {
				t.Errorf("pages %d, sids %q; want %d, %q", len(pages), strings.Join(sids(pages), " "), tt.wantPages, tt.wantSIDs)
			}
			if got := len(p.sent()); got != tt.wantReqs {
				t.Errorf("%d requests, want %d", got, tt.wantReqs)
			}
			for i, id := range p.sent() {
				if id != tt.ids[i] {
					t.Errorf("request %d used deep_paging_id %q, want %q", i, id, tt.ids[i])
				}
			}
			for _, b := range hs.bodiesCopy() {
				var body searchBody
				json.Unmarshal([]byte(b), &body)
				if body.Query != "max_score:>=7000" || body.Rows != 2 || body.FL != "sid,max_score,times.completed" ||
					len(body.Filters) != 1 || body.Filters[0] != "times.completed:[now-1d TO now]" {
					t.Errorf("request body %s", b)
				}
			}
		})
	}
}

func TestSearchItemFields(t *testing.T) {
	p := &pagingServer{ids: []string{"*"}, pages: [][]any{{
		map[string]any{"sid": "a1", "max_score": 7500, "times": map[string]any{"completed": "2025-03-04T15:03:40.551028Z"}},
		map[string]any{"sid": "a2", "max_score": 8000.0, "times": map[string]any{"completed": "2025-03-04T15:03:40Z"}},
		map[string]any{"sid": "a3"},
		map[string]any{"sid": "a4", "max_score": "high", "times": map[string]any{"completed": "yesterday"}},
		map[string]any{"sid": "a5", "times": nil},
	}}}
	hs := newPagingHarness(t, p)
	pages, err := collect(t, hs.c, SearchRequest{Query: "*"})
	if err != nil {
		t.Fatal(err)
	}
	want := []SearchItem{
		{SID: "a1", MaxScore: 7500, Completed: time.Date(2025, 3, 4, 15, 3, 40, 551028000, time.UTC)},
		{SID: "a2", MaxScore: 8000, Completed: time.Date(2025, 3, 4, 15, 3, 40, 0, time.UTC)},
		{SID: "a3"},
		{SID: "a4"},
		{SID: "a5"},
	}
	if len(pages) != 1 || len(pages[0]) != len(want) {
		t.Fatalf("pages = %+v", pages)
	}
	for i, it := range pages[0] {
		if it.SID != want[i].SID || it.MaxScore != want[i].MaxScore || !it.Completed.Equal(want[i].Completed) {
			t.Errorf("item %d = %+v, want %+v", i, it, want[i])
		}
	}
	if logs := hs.logs.String(); !strings.Contains(logs, "malformed field") || !strings.Contains(logs, `"sid":"a4"`) {
		t.Errorf("no warning about a4's fields in logs:\n%s", logs)
	}
}

func TestSearchSkipsBadItems(t *testing.T) {
	p := &pagingServer{ids: []string{"*", "p1"}, pages: [][]any{
		{
			map[string]any{"sid": "good1"},
			map[string]any{"sid": "../../etc/passwd"},
			map[string]any{"sid": "0123456789012345678901234"}, // 25 characters
			map[string]any{"sid": 42},
			map[string]any{"max_score": 9000},
			"not an object",
		},
		{map[string]any{"sid": "good2"}, map[string]any{"sid": ""}},
	}}
	hs := newPagingHarness(t, p)
	pages, err := collect(t, hs.c, SearchRequest{Query: "*", Rows: 6})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sids(pages), " "); got != "good1 good2" {
		t.Errorf("sids = %q", got)
	}
	logs := hs.logs.String()
	if n := strings.Count(logs, "skipping a search item"); n != 6 {
		t.Errorf("%d skip warnings, want 6:\n%s", n, logs)
	}
	if !strings.Contains(logs, `"skipped":6`) {
		t.Errorf("no summary with the skipped count:\n%s", logs)
	}
}

func TestSearchFields(t *testing.T) {
	tests := []struct {
		fields []string
		want   string
	}{
		{nil, "sid,max_score,times.completed"},
		{[]string{"sid"}, "sid,max_score,times.completed"},
		{[]string{"params.submitter", "sid", " state "}, "sid,max_score,times.completed,params.submitter,state"},
	}
	for _, tt := range tests {
		if got := fieldList(tt.fields); got != tt.want {
			t.Errorf("fieldList(%q) = %q, want %q", tt.fields, got, tt.want)
		}
	}
}

func TestSearchCursorExpiresMidSweep(t *testing.T) {
	p := &pagingServer{
		pages: [][]any{items("a1", "a2"), items("b1", "b2"), items("c1")},
		ids:   []string{"*", "p1", "p2"},
		override: func(i int, w http.ResponseWriter, _ searchBody) bool {
			if i == 2 {
				writeEnvelope(w, 400, "", msgCursor)
				return true
			}
			return false
		},
	}
	hs := newPagingHarness(t, p)
	pages, err := collect(t, hs.c, SearchRequest{Query: "*", Rows: 2})
	if k := failure.KindOf(err); k != failure.CursorExpired {
		t.Fatalf("kind = %v, want CursorExpired (err: %v)", k, err)
	}
	if !strings.Contains(err.Error(), "search page 3") {
		t.Errorf("err %q does not name the page", err)
	}
	if len(pages) != 2 || len(p.sent()) != 3 {
		t.Errorf("%d pages delivered, %d requests; want 2 and 3 (no retry of an expired cursor)", len(pages), len(p.sent()))
	}
}

func TestSearchRetriesPageWithSameID(t *testing.T) {
	p := &pagingServer{
		pages: [][]any{items("a1", "a2"), items("b1", "b2"), items("c1")},
		ids:   []string{"*", "p1", "p2"},
		override: func(i int, w http.ResponseWriter, _ searchBody) bool {
			switch i {
			case 1:
				writeEnvelope(w, 503, "", msgConcurrent)
				return true
			case 2:
				hijackReset(w)
				return true
			}
			return false
		},
	}
	hs := newPagingHarness(t, p)
	pages, err := collect(t, hs.c, SearchRequest{Query: "*", Rows: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sids(pages), " "); got != "a1 a2 b1 b2 c1" {
		t.Errorf("sids = %q", got)
	}
	if got := strings.Join(p.sent(), " "); got != "* p1 p1 p1 p2" {
		t.Errorf("ids sent = %q, want the failed page repeated with its id", got)
	}
	if _, acq, rel, rej := hs.gate.snapshot(); acq != 5 || rel != 5 || rej != 1 {
		t.Errorf("gate acquired %d released %d rejected %d", acq, rel, rej)
	}
}

func TestSearchHandlerErrorStops(t *testing.T) {
	p := &pagingServer{pages: [][]any{items("a1", "a2"), items("b1", "b2"), items("c1")}, ids: []string{"*", "p1", "p2"}}
	hs := newPagingHarness(t, p)
	stop := errors.New("publish failed")
	calls := 0
	err := hs.c.SearchSubmissions(context.Background(), SearchRequest{Query: "*", Rows: 2}, func([]SearchItem) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || !strings.Contains(err.Error(), "page 2") {
		t.Errorf("err = %v, want the handler's error wrapped with its page", err)
	}
	if len(p.sent()) != 2 {
		t.Errorf("%d requests after the handler failed on page 2", len(p.sent()))
	}
}

func TestSearchInvalidRequest(t *testing.T) {
	hs := newHarness(t, okSearch)
	nop := func([]SearchItem) error { return nil }
	tests := []struct {
		name string
		req  SearchRequest
		fn   func([]SearchItem) error
	}{
		{"empty query", SearchRequest{Query: " "}, nop},
		{"negative rows", SearchRequest{Query: "*", Rows: -1}, nop},
		{"rows over the Elasticsearch window", SearchRequest{Query: "*", Rows: MaxSearchRows + 1}, nop},
		{"nil handler", SearchRequest{Query: "*"}, nil},
	}
	for _, tt := range tests {
		err := hs.c.SearchSubmissions(context.Background(), tt.req, tt.fn)
		if k := failure.KindOf(err); k != failure.Invalid {
			t.Errorf("%s: kind %v (err %v), want Invalid", tt.name, k, err)
		}
	}
	if n := hs.requests.Load(); n != 0 {
		t.Errorf("%d requests for invalid searches", n)
	}
}

func TestSearchDefaultRows(t *testing.T) {
	hs := newHarness(t, okSearch)
	if _, err := collect(t, hs.c, SearchRequest{Query: "*"}); err != nil {
		t.Fatal(err)
	}
	var body searchBody
	json.Unmarshal([]byte(hs.bodiesCopy()[0]), &body)
	if body.Rows != DefaultSearchRows || body.DeepPagingID != "*" {
		t.Errorf("body = %+v", body)
	}
}

func TestParseScore(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"0", 0, false},
		{"1000", 1000, false},
		{"-1000", -1000, false},
		{"1000.0", 1000, false},
		{"1e3", 1000, false},
		{"9223372036854775807", 9223372036854775807, false},
		{"10.5", 0, true},
		{"1e300", 0, true},
		{`"1000"`, 0, true},
		{"null", 0, true},
		{"true", 0, true},
		{"[]", 0, true},
	}
	for _, tt := range tests {
		got, err := parseScore([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseScore(%s) = %d, %v; want %d, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
