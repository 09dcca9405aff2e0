package alsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// testServer starts cfg behind a real HTTP server for the test's lifetime.
func testServer(t testing.TB, cfg Config) (*Server, *client) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, &client{t: t, base: hs.URL, user: s.cfg.User, key: s.cfg.APIKey, hc: hs.Client()}
}

type client struct {
	t         testing.TB
	base      string
	user, key string
	hc        *http.Client
}

// envelope is the common AL response wrapper.
type envelopeResp struct {
	Response json.RawMessage `json:"api_response"`
	Error    string          `json:"api_error_message"`
	Version  string          `json:"api_server_version"`
	Status   int             `json:"api_status_code"`
}

type reply struct {
	http int
	env  envelopeResp
	body []byte
	hdr  http.Header
}

func (c *client) do(method, path string, body []byte, contentType string) reply {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if c.user != "" {
		req.Header.Set("X-User", c.user)
	}
	if c.key != "" {
		req.Header.Set("X-Apikey", c.key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	r := reply{http: resp.StatusCode, body: b, hdr: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &r.env); err != nil {
			c.t.Fatalf("%s %s: bad JSON envelope: %v\n%s", method, path, err, b)
		}
	}
	return r
}

func (c *client) get(path string) reply { c.t.Helper(); return c.do("GET", path, nil, "") }

func (c *client) postJSON(path string, v any) reply {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do("POST", path, b, "application/json")
}

type searchResp struct {
	Offset int               `json:"offset"`
	Rows   int               `json:"rows"`
	Total  *int              `json:"total"`
	Items  []json.RawMessage `json:"items"`
	Next   *string           `json:"next_deep_paging_id"`
}

func decodeSearch(t testing.TB, r reply) searchResp {
	t.Helper()
	if r.http != 200 || r.env.Error != "" {
		t.Fatalf("search failed: HTTP %d %q", r.http, r.env.Error)
	}
	var sr searchResp
	if err := json.Unmarshal(r.env.Response, &sr); err != nil {
		t.Fatalf("bad search response: %v\n%s", err, r.env.Response)
	}
	return sr
}

func itemSID(t testing.TB, raw json.RawMessage) string {
	t.Helper()
	var it struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(raw, &it); err != nil || it.SID == "" {
		t.Fatalf("item without sid: %s", raw)
	}
	return it.SID
}

// deepPage pages through a search the way the Python client's stream
// helper does, but stopping on a missing next id or an empty page, and
// returns every SID with the number of pages fetched.
func (c *client) deepPage(query string, filters []string, rows any) (sids []string, pages []searchResp) {
	c.t.Helper()
	body := map[string]any{"query": query, "rows": rows, "fl": "sid", "deep_paging_id": "*"}
	if filters != nil {
		body["filters"] = filters
	}
	for {
		sr := decodeSearch(c.t, c.postJSON("/api/v4/search/submission/", body))
		pages = append(pages, sr)
		for _, it := range sr.Items {
			sids = append(sids, itemSID(c.t, it))
		}
		if sr.Next == nil || len(sr.Items) == 0 {
			return sids, pages
		}
		body["deep_paging_id"] = *sr.Next
		if len(pages) > 100000 {
			c.t.Fatal("deep paging does not end")
		}
	}
}

func searchPath(params url.Values) string {
	return "/api/v4/search/submission/?" + params.Encode()
}

// full fetches and decodes submission/full.
func (c *client) full(sid string) fullDoc {
	c.t.Helper()
	r := c.get("/api/v4/submission/full/" + sid + "/")
	if r.http != 200 || r.env.Error != "" {
		c.t.Fatalf("full %s: HTTP %d %q", sid, r.http, r.env.Error)
	}
	var d fullDoc
	if err := json.Unmarshal(r.env.Response, &d); err != nil {
		c.t.Fatalf("full %s: %v", sid, err)
	}
	return d
}

type fullDoc struct {
	SID      string `json:"sid"`
	State    string `json:"state"`
	MaxScore int64  `json:"max_score"`
	Results  map[string]struct {
		SHA256   string `json:"sha256"`
		Response struct {
			ServiceName    string `json:"service_name"`
			ServiceVersion string `json:"service_version"`
		} `json:"response"`
		Result struct {
			Score int64 `json:"score"`
		} `json:"result"`
	} `json:"results"`
	Errors            map[string]json.RawMessage `json:"errors"`
	FileTree          map[string]treeNode        `json:"file_tree"`
	FileInfos         map[string]json.RawMessage `json:"file_infos"`
	MissingResultKeys []string                   `json:"missing_result_keys"`
	Times             struct {
		Submitted string  `json:"submitted"`
		Completed *string `json:"completed"`
	} `json:"times"`
}

type treeNode struct {
	Children  map[string]treeNode `json:"children"`
	Score     int64               `json:"score"`
	SHA256    string              `json:"sha256"`
	Truncated bool                `json:"truncated"`
}

// fileScores sums result scores per sha256, as the original exercise does.
func (d fullDoc) fileScores() map[string]int64 {
	out := map[string]int64{}
	for _, r := range d.Results {
		out[r.SHA256] += r.Result.Score
	}
	return out
}
