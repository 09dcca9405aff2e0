package assemblyline

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/pkg/messages"
)

// fuzzServer serves whatever body the current fuzz input holds. There is no
// unexported function that decodes a submission/full body from bytes (the
// decoder runs inside readEnvelope on a live HTTP exchange), so the input
// goes over a real loopback connection, which also exercises the body
// reader and its size cap. One server serves every input; the fuzzing
// engine runs inputs one at a time in each worker process.
type fuzzServer struct {
	mu   sync.Mutex
	body []byte
	srv  *httptest.Server
}

func (s *fuzzServer) set(b []byte) {
	s.mu.Lock()
	s.body = b
	s.mu.Unlock()
}

func (s *fuzzServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b := s.body
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.Write(b)
}

// fuzzMaxJSON is the client's cap in the fuzz test: inputs larger than it
// must end in TooLarge, not in a larger allocation.
const fuzzMaxJSON = 1 << 20

// wrapEnvelope puts doc where a successful answer has api_response.
func wrapEnvelope(doc []byte) []byte {
	out := make([]byte, 0, len(doc)+120)
	out = append(out, `{"api_response": `...)
	out = append(out, doc...)
	out = append(out, `, "api_error_message": "", "api_server_version": "4.7.4.stable5", "api_status_code": 200}`...)
	return out
}

func addSubmissionFullSeeds(f *testing.F) {
	for _, name := range []string{"submission_full.json", "submission_edge.json", "submission_running.json", "submission_missing.json", "submission_names.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, true)
	}
	res := func(key, body string) string {
		return `{"sid": "` + testSID + `", "state": "completed", "max_score": 5, "times": {"completed": "2025-03-04T15:03:40Z"}, "results": {"` + key + `": ` + body + `}, "missing_result_keys": []}`
	}
	key := testSHA256 + ".YARA.v4_7_0_stable3.c0"
	okResult := `{"sha256": "` + testSHA256 + `", "result": {"score": 1000}}`
	docs := []string{
		res(key, okResult),
		// numbers
		res(key, `{"sha256": "`+testSHA256+`", "result": {"score": 1000.0}}`),
		res(key, `{"sha256": "`+testSHA256+`", "result": {"score": 1e3}}`),
		res(key, `{"sha256": "`+testSHA256+`", "result": {"score": -0.0}}`),
		res(key, `{"sha256": "`+testSHA256+`", "result": {"score": 1e400}}`),
		res(key, `{"sha256": "`+testSHA256+`", "result": {"score": 9223372036854775807}}`),
		res(key, `{"sha256": "`+testSHA256+`", "result": {"score": 9223372036854775808}}`),
		res(key, `{"sha256": "`+testSHA256+`", "result": {"score": -9223372036854775809}}`),
		res(key, `{"sha256": "`+testSHA256+`", "result": {"score": 9.223372036854776e18}}`),
		res(key, `{"sha256": "`+testSHA256+`", "result": {"score": 1.5}}`),
		res(key, `{"sha256": "`+testSHA256+`", "result": {"score": 1`+strings.Repeat("0", 400)+`}}`),
		res(key, `{"sha256": "`+testSHA256+`", "result": {"score": 1`+strings.Repeat("0", 3000)+`}}`),
		`{"sid": "` + testSID + `", "state": "completed", "max_score": -` + strings.Repeat("9", 3000) + `.5, "results": {}}`,
		// nulls
		`null`,
		`{}`,
		`{"sid": null, "state": null, "max_score": null, "times": null, "results": null, "missing_result_keys": null}`,
		res(key, `null`),
		res(key, `{"sha256": null, "result": null}`),
		res(key, `{"sha256": null, "result": {"score": null}}`),
		// wrong types at every level
		`[]`, `"completed"`, `7`, `true`,
		`{"sid": 7, "state": "completed", "results": {}}`,
		`{"sid": "` + testSID + `", "state": ["completed"], "results": {}}`,
		`{"sid": "` + testSID + `", "state": "completed", "max_score": {}, "results": {}}`,
		`{"sid": "` + testSID + `", "state": "completed", "times": "2025", "results": {}}`,
		`{"sid": "` + testSID + `", "state": "completed", "times": {"completed": 5}, "results": {}}`,
		`{"sid": "` + testSID + `", "state": "completed", "results": "x"}`,
		`{"sid": "` + testSID + `", "state": "completed", "results": 1}`,
		`{"sid": "` + testSID + `", "state": "completed", "results": [1]}`,
		`{"sid": "` + testSID + `", "state": "completed", "results": []}`,
		`{"sid": "` + testSID + `", "state": "completed", "results": {}, "missing_result_keys": "x"}`,
		`{"sid": "` + testSID + `", "state": "completed", "results": {}, "missing_result_keys": [1, null]}`,
		res(key, `[]`),
		res(key, `"x"`),
		res(key, `{"sha256": 5, "result": {"score": 1}}`),
		res(key, `{"sha256": "`+testSHA256+`", "result": []}`),
		res(key, `{"sha256": "`+testSHA256+`", "result": {"score": {}}}`),
		res(key, `{"sha256": "`+testSHA256+`", "result": {"score": [1]}}`),
		res(key, `{"sha256": "`+testSHA256+`", "result": {"score": true}}`),
		res(key, `{"sha256": "`+testSHA256+`", "result": {"score": "1000"}}`),
		// keys and hashes
		res("short", `{"result": {"score": 1}}`),
		res(strings.ToUpper(testSHA256)+".X.v1.c0.e", `{"result": {"score": 0}}`),
		res(key, `{"sha256": "`+strings.ToUpper(testSHA256)+`", "result": {"score": 1}}`),
		res(key, `{"sha256": "`+strings.Repeat("é", 32)+`", "result": {"score": 1}}`),
		res(strings.Repeat("é", 40), `{"result": {"score": 1}}`),
		// duplicate keys
		`{"sid": "` + testSID + `", "state": "completed", "results": {"` + key + `": {"sha256": "` + testSHA256 + `", "result": {"score": 1}}, "` + key + `": {"sha256": "` + testSHA256 + `", "result": {"score": "x"}}}}`,
		`{"sid": "` + testSID + `", "sid": "Other", "state": "completed", "results": {}}`,
		`{"sid": "` + testSID + `", "state": "completed", "state": "submitted", "results": {}}`,
		`{"sid": "` + testSID + `", "state": "completed", "results": {}, "results": {"` + key + `": ` + okResult + `}}`,
		`{"SID": "` + testSID + `", "State": "completed", "RESULTS": {"` + key + `": ` + okResult + `}}`,
		// deep nesting, in a field that is decoded and in one that is skipped
		res(key, `{"sha256": "`+testSHA256+`", "result": {"score": `+strings.Repeat("[", 10001)+strings.Repeat("]", 10001)+`}}`),
		`{"sid": "` + testSID + `", "state": "completed", "results": {}, "file_tree": ` + strings.Repeat(`{"a":`, 9000) + `1` + strings.Repeat("}", 9000) + `}`,
		// file names: hostile, malformed, repeated, deep
		`{"sid": "` + testSID + `", "state": "completed", "results": {}, "file_tree": {"` + testSHA256 + `": {"name": ["a\u0000b", "\u202egpj.exe", "\ud800", "` + strings.Repeat("n", 300) + `", 5, null], "children": {"` + testSHA256 + `": {"name": ["a", "a"], "name": ["b"]}}}}}`,
		"{\"sid\": \"" + testSID + "\", \"state\": \"completed\", \"results\": {}, \"file_tree\": {\"" + testSHA256 + "\": {\"name\": [\"\xff\xfe\x7f\xc2\x85\"]}}}",
		`{"sid": "` + testSID + `", "state": "completed", "results": {}, "file_tree": {"` + testSHA256 + `": {"name": "x", "children": [1]}, "k": null, "` + strings.ToUpper(testSHA256) + `": {"name": [` + strings.Repeat(`"n",`, 40) + `"m"]}}}`,
		`{"sid": "` + testSID + `", "state": "completed", "results": {}, "file_tree": ` + strings.Repeat(`{"`+testSHA256+`": {"name": ["d"], "children": `, 3000) + `{}` + strings.Repeat(`}}`, 3000) + `}`,
		`{"sid": "` + testSID + `", "state": "completed", "results": {}, "File_Tree": {"` + testSHA256 + `": {"name": ["folded"]}}, "file_tree": {"\u0061": {"name": ["e"]}}}`,
		// the server echoes our key where the client quotes server text
		`{"sid": "` + testSID + `", "state": "` + testKey + `", "results": {}}`,
		res(strings.Repeat("q", 80)+testKey, `{"result": {"score": 1}}`),
	}
	for _, d := range docs {
		f.Add([]byte(d), true)
	}
	envelopes := []string{
		``,
		`null`,
		`[]`,
		`{"api_response": {}}`,
		`{"api_response": "", "api_error_message": "Submission ID x does not exists.", "api_status_code": 404}`,
		`{"api_response": "", "api_error_message": 404, "api_status_code": "404"}`,
		`{"api_response": "", "api_error_message": "` + strings.Repeat("m", 3000) + `", "api_status_code": 503}`,
		`{"api_response": "", "api_error_message": "Invalid user or APIKey ` + testKey + `", "api_status_code": 401}`,
		`{"api_response": ` + strings.Repeat("[", 100000),
		"{\"api_response\": {\"sid\": \"\xff\xfe\", \"state\": \"completed\\ud800\", \"results\": {\"\xc3\": 1}}}",
		`{"api_response": {"sid": "` + testSID + `", "state": "completed", "results": {}}} trailing`,
	}
	for _, e := range envelopes {
		f.Add([]byte(e), false)
	}
}

// FuzzSubmissionFull serves arbitrary answers to submission/full: the client
// must not panic, must allocate in proportion to the answer (bounded by
// MaxJSONBytes), must describe every failure with a short, classified,
// key-free message, and must only accept a document that makes sense.
func FuzzSubmissionFull(f *testing.F) {
	addSubmissionFullSeeds(f)
	fs := &fuzzServer{}
	fs.srv = httptest.NewServer(fs)
	f.Cleanup(fs.srv.Close)
	c, err := New(Config{
		BaseURL:      fs.srv.URL,
		User:         testUser,
		APIKey:       testKey,
		MaxRetries:   -1,
		MaxJSONBytes: fuzzMaxJSON,
		StallTimeout: 10 * time.Second,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc []byte, wrap bool) {
		body := doc
		if wrap {
			body = wrapEnvelope(doc)
		}
		fs.set(body)

		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s, err := c.SubmissionFull(context.Background(), testSID)
		runtime.ReadMemStats(&after)

		// Memory: linear in what was read, which the cap bounds.
		read := int64(min(len(body), fuzzMaxJSON+1))
		if grew := int64(after.TotalAlloc - before.TotalAlloc); grew > 64*read+(8<<20) {
			t.Errorf("decoding %d bytes allocated %d bytes", len(body), grew)
		}
		if len(body) > fuzzMaxJSON && failure.KindOf(err) != failure.TooLarge {
			t.Errorf("a %d-byte answer over the %d-byte cap gave %v", len(body), fuzzMaxJSON, err)
		}

		if err == nil {
			checkAcceptedSubmission(t, s, true)
			return
		}
		msg := err.Error()
		if len(msg) > 2000 {
			t.Errorf("error message is %d bytes long: %.300s…", len(msg), msg)
		}
		if !utf8.ValidString(msg) {
			t.Errorf("error message is not valid UTF-8: %q", msg)
		}
		if strings.Contains(msg, testKey) || strings.Contains(msg, testPassword) {
			t.Errorf("error message holds the API key: %s", msg)
		}
		if !strings.HasPrefix(msg, "assemblyline submission/full") {
			t.Errorf("error %q does not say which call failed", msg)
		}
		switch k := failure.KindOf(err); k {
		case failure.Unknown, failure.Invalid, failure.Canceled, failure.Corrupt:
			t.Errorf("error %q has kind %v", msg, k)
		case failure.NotReady:
			if s == nil {
				t.Fatalf("NotReady without the submission: %v", err)
			}
			checkAcceptedSubmission(t, s, false)
		default:
			if s != nil {
				t.Errorf("a failed call (%v) returned %+v", err, s)
			}
		}
	})
}

// checkAcceptedSubmission holds for whatever SubmissionFull returns: the
// submission asked for, every result tied to a valid lowercase sha256 (it
// becomes a file name), results in key order. complete adds what a nil
// error promises: completed and nothing missing.
func checkAcceptedSubmission(t *testing.T, s *Submission, complete bool) {
	t.Helper()
	if s == nil {
		t.Fatal("nil submission")
	}
	if s.SID != testSID {
		t.Errorf("asked for %s, got submission %q", testSID, s.SID)
	}
	if complete && (s.State != "completed" || len(s.MissingResultKeys) != 0) {
		t.Errorf("accepted state %q with %d missing results", s.State, len(s.MissingResultKeys))
	}
	for i, r := range s.Results {
		if err := messages.ValidateSHA256(r.SHA256); err != nil {
			t.Errorf("result %q: %v", r.Key, err)
		}
		if i > 0 && s.Results[i-1].Key >= r.Key {
			t.Errorf("results not in strict key order at %d: %q, %q", i, s.Results[i-1].Key, r.Key)
		}
	}
	checkNames(t, s.names.all())
}
