package alsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/cart"
)

func TestFaultError5xx(t *testing.T) {
	s, c := testServer(t, Config{Submissions: 30, Faults: Faults{Error5xx: 1}})
	seen := map[int]bool{}
	for range 60 {
		r := c.get("/api/v4/search/submission/?query=*:*")
		seen[r.http] = true
		switch r.http {
		case 500:
			if r.env.Error != "Internal Server Error" {
				t.Fatalf("500 body %q", r.body)
			}
		case 503:
			if r.env.Error == "" || strings.Contains(r.env.Error, "quota") {
				t.Fatalf("503 must be JSON and not a quota message: %q", r.body)
			}
		case 502, 504:
			if !bytes.Contains(r.body, []byte("nginx")) {
				t.Fatalf("%d body %q", r.http, r.body)
			}
		default:
			t.Fatalf("unexpected status %d", r.http)
		}
	}
	if len(seen) != 4 {
		t.Errorf("statuses seen %v, want all of 500, 502, 503, 504", seen)
	}
	st := s.Stats()
	var n int64
	for k, v := range st.Faults {
		if strings.HasPrefix(k, "error_") {
			n += v
		}
	}
	if n != 60 {
		t.Errorf("faults counted %v", st.Faults)
	}
}

func TestSearch500KeepsCursor(t *testing.T) {
	s, c := testServer(t, Config{Submissions: 150})
	if err := s.SetFaults(Faults{Error5xx: 0.4, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"query": "*:*", "rows": 10, "fl": "sid", "deep_paging_id": "*"}
	seen := map[string]bool{}
	retries := 0
	for {
		r := c.postJSON("/api/v4/search/submission/", body)
		if r.http >= 500 {
			retries++ // retry the same id
			continue
		}
		sr := decodeSearch(t, r)
		for _, it := range sr.Items {
			sid := itemSID(t, it)
			if seen[sid] {
				t.Fatalf("duplicate %s", sid)
			}
			seen[sid] = true
		}
		if sr.Next == nil {
			break
		}
		body["deep_paging_id"] = *sr.Next
	}
	if len(seen) != s.Corpus().Len() || retries == 0 {
		t.Fatalf("got %d of %d SIDs after %d retries", len(seen), s.Corpus().Len(), retries)
	}
}

func TestFaultReset(t *testing.T) {
	s, c := testServer(t, Config{Submissions: 20, Faults: Faults{Reset: 1}})
	req, _ := http.NewRequest("GET", c.base+"/api/v4/submission/full/"+s.Corpus().Submission(0).SID+"/", nil)
	req.Header.Set("X-User", c.user)
	req.Header.Set("X-Apikey", c.key)
	resp, err := c.hc.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got a response %d, want a dropped connection", resp.StatusCode)
	}
	if st := s.Stats(); st.Faults["reset"] != 1 || st.Calls["full"]["reset"] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestFaultTruncateAndCorrupt(t *testing.T) {
	tests := []struct {
		name   string
		faults Faults
		check  func(t *testing.T, resp *http.Response, body []byte, err error, sha string)
	}{
		{"truncate", Faults{TruncateDownload: 1}, func(t *testing.T, resp *http.Response, body []byte, err error, sha string) {
			if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("read error %v, want unexpected EOF", err)
			}
			if resp.StatusCode != 200 || resp.ContentLength <= int64(len(body)) {
				t.Fatalf("status %d, Content-Length %d, got %d bytes", resp.StatusCode, resp.ContentLength, len(body))
			}
		}},
		{"corrupt", Faults{CorruptDownload: 1}, func(t *testing.T, resp *http.Response, body []byte, err error, sha string) {
			if err != nil || resp.ContentLength != int64(len(body)) {
				t.Fatalf("corrupt download must be complete: %v", err)
			}
			if _, err := cart.Verify(bytes.NewReader(body), sha); err == nil {
				t.Fatal("corrupt download verifies")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, c := testServer(t, Config{Submissions: 30, Faults: tc.faults})
			for _, sha := range s.Expected(7000)[:8] {
				resp, body, err := c.download(sha, "")
				if resp == nil {
					t.Fatalf("no response: %v", err)
				}
				tc.check(t, resp, body, err, sha)
			}
			// Healed: the same files download fine without the fault.
			s.SetFaults(Faults{})
			for _, sha := range s.Expected(7000)[:8] {
				_, body, err := c.download(sha, "")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := cart.Verify(bytes.NewReader(body), sha); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestFaultExpireCursor(t *testing.T) {
	tests := []struct {
		name  string
		every bool
	}{{"once per SetFaults", false}, {"every cursor", true}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, c := testServer(t, Config{Submissions: 100, Faults: Faults{ExpireCursorAfterPages: 2, ExpireCursorEvery: tc.every}})
			for attempt := range 2 {
				body := map[string]any{"query": "*:*", "rows": 10, "deep_paging_id": "*"}
				var n, pages int
				var lastErr string
				for {
					r := c.postJSON("/api/v4/search/submission/", body)
					if r.http != 200 {
						lastErr = r.env.Error
						break
					}
					sr := decodeSearch(t, r)
					pages++
					n += len(sr.Items)
					if sr.Next == nil {
						break
					}
					body["deep_paging_id"] = *sr.Next
				}
				expire := attempt == 0 || tc.every
				if expire && (pages != 2 || !strings.Contains(lastErr, "No search context found")) {
					t.Fatalf("attempt %d: %d pages, error %q; want expiry after 2 pages", attempt, pages, lastErr)
				}
				if !expire && (lastErr != "" || n != s.Corpus().Len()) {
					t.Fatalf("attempt %d: %d items, error %q; want a full sweep", attempt, n, lastErr)
				}
			}
			if st := s.Stats(); st.Faults["cursor_expired"] == 0 || st.CursorsExpired == 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestFaultMissingResults(t *testing.T) {
	const delay = 40 * time.Millisecond
	s, c := testServer(t, Config{Submissions: 50, Faults: Faults{MissingResultsCalls: 2, MissingResultsDelay: delay}})
	var matching, other string
	for i := range s.Corpus().Len() {
		info := s.Corpus().Submission(i)
		if info.MaxScore >= 7000 && matching == "" {
			matching = info.SID
		}
		if info.MaxScore < 7000 && other == "" {
			other = info.SID
		}
	}
	var docs []fullDoc
	for call := range 3 {
		start := time.Now()
		docs = append(docs, c.full(matching))
		if took := time.Since(start); call < 2 && took < delay {
			t.Fatalf("call %d answered after %v, want the %v stall", call, took, delay)
		}
	}
	complete := docs[2]
	if len(complete.MissingResultKeys) != 0 {
		t.Fatalf("third call still misses %v", complete.MissingResultKeys)
	}
	for call, d := range docs[:2] {
		if len(d.MissingResultKeys) != 1 {
			t.Fatalf("call %d: missing %v", call, d.MissingResultKeys)
		}
		k := d.MissingResultKeys[0]
		if _, ok := d.Results[k]; ok {
			t.Fatalf("missing key %s still in results", k)
		}
		if _, ok := complete.Results[k]; !ok || len(d.Results) != len(complete.Results)-1 {
			t.Fatalf("call %d: %d results, complete has %d", call, len(d.Results), len(complete.Results))
		}
		// The hidden result belongs to the best file, which now undercounts.
		if d.fileScores()[k[:64]] >= complete.fileScores()[k[:64]] {
			t.Fatalf("hiding %s did not lower its file's score", k)
		}
	}
	if d := c.full(other); len(d.MissingResultKeys) != 0 {
		t.Fatalf("non-matching submission misses results")
	}
}

func TestFaultDoomedFiles(t *testing.T) {
	s, c := testServer(t, Config{Submissions: 200})
	before := s.Expected(7000)
	if err := s.SetFaults(Faults{MissingBlobs: 2, AlwaysCorrupt: 3}); err != nil {
		t.Fatal(err)
	}
	un := s.Uncollectable(7000)
	after := s.Expected(7000)
	if len(un) != 5 || len(after) != len(before)-5 {
		t.Fatalf("uncollectable %d, expected %d -> %d", len(un), len(before), len(after))
	}
	union := slices.Sorted(slices.Values(append(slices.Clone(after), un...)))
	if !slices.Equal(union, before) {
		t.Fatal("Expected + Uncollectable != qualifying files")
	}
	if got := originalExercise(c, 7000); !slices.Equal(got, before) {
		t.Fatal("doomed files must still appear in submissions")
	}
	var missing, corrupt int
	for _, sha := range un {
		for range 2 {
			resp, body, err := c.download(sha, "")
			if err != nil {
				t.Fatal(err)
			}
			switch resp.StatusCode {
			case 404:
				var env envelopeResp
				json.Unmarshal(body, &env)
				if env.Error != "The file was not found in the system." || string(env.Response) != "{}" {
					t.Fatalf("missing blob answer %s", body)
				}
				missing++
			case 200:
				if _, err := cart.Verify(bytes.NewReader(body), sha); err == nil {
					t.Fatalf("always-corrupt file %s verifies", sha)
				}
				corrupt++
			default:
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
	}
	if missing != 4 || corrupt != 6 {
		t.Fatalf("missing %d corrupt %d downloads", missing, corrupt)
	}
	for _, sha := range after[:10] {
		_, body, _ := c.download(sha, "")
		if _, err := cart.Verify(bytes.NewReader(body), sha); err != nil {
			t.Fatalf("collectable file fails: %v", err)
		}
	}
}

func TestFaultsJSON(t *testing.T) {
	tests := []struct {
		in   string
		want Faults
	}{
		{`{"missing_results_delay":"8s","error_5xx":0.1}`, Faults{MissingResultsDelay: 8 * time.Second, Error5xx: 0.1}},
		{`{"missing_results_delay":1000}`, Faults{MissingResultsDelay: 1000}},
		{`{"expire_cursor_after_pages":3,"expire_cursor_every":true}`, Faults{ExpireCursorAfterPages: 3, ExpireCursorEvery: true}},
	}
	for _, tc := range tests {
		var f Faults
		if err := json.Unmarshal([]byte(tc.in), &f); err != nil || f != tc.want {
			t.Errorf("%s: %+v %v", tc.in, f, err)
		}
		b, _ := json.Marshal(f)
		var back Faults
		if err := json.Unmarshal(b, &back); err != nil || back != f {
			t.Errorf("round trip %s: %+v", b, back)
		}
	}
}
