package assemblyline

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/failure"
)

// fixture answers with testdata/<name> as api_response.
func fixture(t *testing.T, name string) reply {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		writeEnvelope(w, 200, json.RawMessage(b), "")
	}
}

const (
	shaDoc = "52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786"
	shaExe = "239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5"
)

func TestSubmissionFull(t *testing.T) {
	tests := []struct {
		name     string
		fixture  string
		sid      string
		want     *Submission
		names    map[string][]string // the file tree's names
		wantKind failure.Kind        // Unknown = no error
		wantMsg  string
	}{
		{
			name:    "realistic completed document (API doc §4.3)",
			fixture: "submission_full.json",
			sid:     "4EZNjXD44dmYMRbXYPAe6t",
			want: &Submission{
				SID: "4EZNjXD44dmYMRbXYPAe6t", State: "completed", MaxScore: 1010,
				Completed: time.Date(2025, 3, 4, 15, 3, 40, 551028000, time.UTC),
				Results: []Result{
					{Key: shaExe + ".YARA.v4_7_0_stable3.cDY8IvKF1RH2", SHA256: shaExe, Score: 1000},
					{Key: shaDoc + ".Characterize.v4_7_0_stable0.c0.e", SHA256: shaDoc, Score: 0},
					{Key: shaDoc + ".Extract.v4_7_0_stable2.cDY8IvKF1RH2", SHA256: shaDoc, Score: 10, Type: "document/office/word"},
				},
				MissingResultKeys: []string{},
			},
			names: map[string][]string{shaDoc: {"invoice.doc"}, shaExe: {"payload.exe"}},
		},
		{
			name:    "negative scores, .e keys without sha256, floats, uppercase",
			fixture: "submission_edge.json",
			sid:     "MSlVHCBHx2Ke6WjymOHfE",
			want: &Submission{
				SID: "MSlVHCBHx2Ke6WjymOHfE", State: "completed", MaxScore: 0,
				Completed: time.Date(2025, 3, 4, 14, 59, 2, 500000000, time.UTC),
				Results: []Result{
					{Key: strings.Repeat("0", 61) + "ABC.Characterize.v4_7_0_stable0.c0.e", SHA256: strings.Repeat("0", 61) + "abc", Score: 0},
					{Key: strings.Repeat("0", 61) + "abc.Safelist.v4_7_0_stable1.c0", SHA256: strings.Repeat("0", 61) + "abc", Score: -1000},
					{Key: strings.Repeat("1", 64) + ".YARA.v4_7_0_stable3.c0", SHA256: strings.Repeat("1", 61) + "def", Score: 1000},
					{Key: strings.Repeat("2", 64) + ".AntiVirus.v4_7_0_stable3.c0", SHA256: strings.Repeat("2", 64), Score: 500},
				},
				MissingResultKeys: []string{},
			},
		},
		{
			name:     "not completed",
			fixture:  "submission_running.json",
			sid:      "bYdMV2iJwYRZko3R3ik2X",
			want:     &Submission{SID: "bYdMV2iJwYRZko3R3ik2X", State: "submitted", Results: []Result{}, MissingResultKeys: []string{}},
			names:    map[string][]string{shaExe: {"sample.exe"}},
			wantKind: failure.NotReady,
			wantMsg:  "submission bYdMV2iJwYRZko3R3ik2X is \"submitted\", not completed",
		},
		{
			// A terminal state: dead-lettered at once, not deferred for a
			// day waiting for a completion that never comes.
			name:     "failed",
			fixture:  "submission_failed.json",
			sid:      "5lTZq0bTgWDoKxaIDB8Ob2",
			want:     &Submission{SID: "5lTZq0bTgWDoKxaIDB8Ob2", State: "failed", Completed: time.Date(2025, 3, 4, 15, 9, 40, 0, time.UTC), Results: []Result{}, MissingResultKeys: []string{}},
			wantKind: failure.Terminal,
			wantMsg:  "submission 5lTZq0bTgWDoKxaIDB8Ob2 ended in state \"failed\"",
		},
		{
			name:    "missing result keys",
			fixture: "submission_missing.json",
			sid:     "4EZNjXD44dmYMRbXYPAe6t",
			want: &Submission{
				SID: "4EZNjXD44dmYMRbXYPAe6t", State: "completed", MaxScore: 1000,
				Completed: time.Date(2025, 3, 4, 15, 3, 40, 0, time.UTC),
				Results:   []Result{{Key: shaExe + ".YARA.v4_7_0_stable3.cDY8IvKF1RH2", SHA256: shaExe, Score: 1000}},
				MissingResultKeys: []string{
					shaExe + ".PEFile.v4_7_0_stable1.c0",
					shaExe + ".Cuckoo.v4_7_0_stable1.c0",
				},
			},
			wantKind: failure.NotReady,
			wantMsg:  "2 results not yet available",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, fixture(t, tt.fixture))
			got, err := hs.c.SubmissionFull(context.Background(), tt.sid)
			if k := failure.KindOf(err); (err != nil) != (tt.wantKind != failure.Unknown) || k != tt.wantKind && err != nil {
				t.Fatalf("err = %v (kind %v), want kind %v", err, k, tt.wantKind)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err %q does not say %q", err, tt.wantMsg)
			}
			if got != nil {
				if names := got.names.all(); !reflect.DeepEqual(names, tt.names) {
					t.Errorf("names %q, want %q", names, tt.names)
				}
				got.names = fileNames{}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if uris, want := hs.urisCopy(), "/api/v4/submission/full/"+tt.sid+"/"; len(uris) != 1 || uris[0] != want {
				t.Errorf("requested %q, want %q", uris, want)
			}
			if n := hs.requests.Load(); n != 1 {
				t.Errorf("%d requests; NotReady must not be retried in-process", n)
			}
		})
	}
}

func TestSubmissionFullMalformed(t *testing.T) {
	result := func(key, body string) string {
		return `{"sid": "` + testSID + `", "state": "completed", "max_score": 5, "results": {"` + key + `": ` + body + `}, "missing_result_keys": []}`
	}
	tests := []struct {
		name    string
		doc     string
		wantMsg string
	}{
		{"score is a string", result(testSHA256+".X.v1.c0", `{"sha256": "`+testSHA256+`", "result": {"score": "1000"}}`), "result.score: a string is not a number"},
		{"score is fractional", result(testSHA256+".X.v1.c0", `{"sha256": "`+testSHA256+`", "result": {"score": 10.5}}`), "not an integral number"},
		{"score is null", result(testSHA256+".X.v1.c0", `{"sha256": "`+testSHA256+`", "result": {"score": null}}`), "is not a number"},
		{"score is missing", result(testSHA256+".X.v1.c0", `{"sha256": "`+testSHA256+`", "result": {}}`), "has no result.score"},
		{"short key without sha256", result("abc.X.v1.c0", `{"result": {"score": 1}}`), "has no valid sha256"},
		{"sha256 not hex", result(testSHA256+".X.v1.c0", `{"sha256": "`+strings.Repeat("z", 64)+`", "result": {"score": 1}}`), "has no valid sha256"},
		{"another submission", `{"sid": "SomeoneElse", "state": "completed", "results": {}}`, `describes submission "SomeoneElse"`},
		{"bad completed time", `{"sid": "` + testSID + `", "state": "completed", "times": {"completed": "yesterday"}, "results": {}}`, "times.completed"},
		{"max_score not a number", `{"sid": "` + testSID + `", "state": "completed", "max_score": "x", "results": {}}`, "max_score"},
		{"results a non-empty list", `{"sid": "` + testSID + `", "state": "completed", "results": ["k"]}`, "results is a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, env(200, json.RawMessage(tt.doc), ""), func(c *Config) { c.MaxRetries = 1 })
			s, err := hs.c.SubmissionFull(context.Background(), testSID)
			if k := failure.KindOf(err); k != failure.Unavailable {
				t.Fatalf("kind %v (err %v), want Unavailable", k, err)
			}
			if s != nil {
				t.Errorf("a malformed document returned %+v", s)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

func TestSubmissionFullEmptyResultList(t *testing.T) {
	// The raw document has results: [] until the submission finishes.
	hs := newHarness(t, env(200, json.RawMessage(`{"sid": "`+testSID+`", "state": "submitted", "results": []}`), ""))
	s, err := hs.c.SubmissionFull(context.Background(), testSID)
	if failure.KindOf(err) != failure.NotReady || s == nil || len(s.Results) != 0 {
		t.Errorf("got %+v, %v; want an empty not-ready submission", s, err)
	}
}

func TestSubmissionFullInvalidSID(t *testing.T) {
	hs := newHarness(t, okFull)
	for _, sid := range []string{"", "../../api/v4/user", "a/b", "a%2Fb", "abc?x=1", "abc#f", "a b", strings.Repeat("a", 23), "ünïcode"} {
		s, err := hs.c.SubmissionFull(context.Background(), sid)
		if k := failure.KindOf(err); k != failure.Invalid || s != nil {
			t.Errorf("SubmissionFull(%q) = %v, %v (kind %v); want Invalid", sid, s, err, k)
		}
	}
	if n := hs.requests.Load(); n != 0 {
		t.Errorf("%d requests for invalid SIDs", n)
	}
}

func TestBaseURLPathPrefix(t *testing.T) {
	hs := newHarness(t, okFull, func(c *Config) { c.BaseURL += "/al/" })
	if _, err := hs.c.SubmissionFull(context.Background(), testSID); err != nil {
		t.Fatal(err)
	}
	if uris, want := hs.urisCopy(), "/al/api/v4/submission/full/"+testSID+"/"; len(uris) != 1 || uris[0] != want {
		t.Errorf("requested %q, want %q", uris, want)
	}
}
