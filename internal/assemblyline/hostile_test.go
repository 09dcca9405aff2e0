package assemblyline

// Hostile Assemblyline answers: what a broken proxy, a compromised server or
// a man in the middle can send back. Each case checks the error says what
// happened, the read is bounded in size, time and memory, and the API key
// appears nowhere (the harness also checks logs and Calls after each test).
//
// Already covered elsewhere, so not repeated here:
//   - a success answer over MaxJSONBytes, for search and submission/full
//     (errors_test.go "answer over MaxJSONBytes");
//   - 1<<20 unterminated '[' as api_response, for search and
//     submission/full (errors_test.go "deeply nested JSON");
//   - items as a string and state as a number (errors_test.go "wrong types");
//     score as a string, fractional, null or missing, sha256 not hex,
//     results a non-empty list, max_score a string, times.completed not a
//     time (submission_test.go TestSubmissionFullMalformed);
//   - a download body shorter than its Content-Length, reset or stalled
//     mid-body (download_test.go TestDownloadRetriesBrokenBodies), and a
//     download over MaxDownloadBytes (TestDownloadMaxBytes);
//   - no response headers at all (download_test.go TestStallWaitingForHeaders);
//   - the key echoed back in errors, HTML pages, redirects and documents
//     (client_test.go TestSecretNeverLeaks).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/failure"
)

// envelopeBytes is what writeEnvelope sends, as bytes.
func envelopeBytes(t *testing.T, status int, resp any, msg string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"api_response": resp, "api_error_message": msg,
		"api_server_version": "4.7.4.stable5", "api_status_code": status,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawJSON answers 200 application/json with body.
func rawJSON(body string) reply { return raw(200, "application/json", body) }

// okFullDoc and okSearchPage are the api_response of the canned answers.
var (
	okFullDoc = map[string]any{
		"sid": testSID, "state": "completed", "max_score": 1000,
		"results": map[string]any{
			testSHA256 + ".YARA.v4_7_0_stable3.c0": map[string]any{"sha256": testSHA256, "result": map[string]any{"score": 1000}},
		},
		"missing_result_keys": []string{},
	}
	okSearchPage = map[string]any{
		"offset": 0, "rows": 500, "total": nil,
		"items": []any{map[string]any{"sid": testSID, "max_score": 1000, "times": map[string]any{"completed": "2025-03-04T15:03:40Z"}}},
	}
)

// outcome is what one operation returned.
type outcome struct {
	err   error
	items int // search: items handed to the page handler
	full  *Submission
	file  []byte // download: what consume read on its last call
	size  int64  // download: the size consume was given
	calls int    // download: consume calls
}

// callEndpoint runs one operation by name with harmless arguments.
func callEndpoint(ctx context.Context, c *Client, name string) outcome {
	var o outcome
	switch name {
	case "search":
		o.err = c.SearchSubmissions(ctx, SearchRequest{Query: "max_score:>=7000"}, func(items []SearchItem) error {
			o.items += len(items)
			return nil
		})
	case "submission_full":
		o.full, o.err = c.SubmissionFull(ctx, testSID)
	case "download":
		o.err = c.Download(ctx, testSHA256, func(r io.Reader, size int64) error {
			o.calls++
			o.size = size
			b, err := io.ReadAll(r)
			o.file = b
			return err
		})
	default:
		panic(name)
	}
	return o
}

// hostileCase is one answer and what the client must make of it.
type hostileCase struct {
	name     string
	endpoint string // "search", "submission_full" or "download"
	reply    reply
	cfg      func(*Config)
	wantKind failure.Kind // failure.Unknown = success
	wantMsg  []string
	requests int // exact number of requests, 0 = not checked
}

func runHostile(t *testing.T, tc hostileCase) outcome {
	t.Helper()
	mods := []func(*Config){func(c *Config) { c.MaxRetries = 1 }}
	if tc.cfg != nil {
		mods = append(mods, tc.cfg)
	}
	hs := newHarness(t, tc.reply, mods...)
	o := callEndpoint(context.Background(), hs.c, tc.endpoint)
	var problems []string
	if tc.wantKind == failure.Unknown {
		if o.err != nil {
			problems = append(problems, fmt.Sprintf("err = %v, want success", o.err))
		}
	} else {
		switch k := failure.KindOf(o.err); {
		case o.err == nil:
			problems = append(problems, "err = nil")
		case k != tc.wantKind:
			problems = append(problems, fmt.Sprintf("kind = %v, want %v (err: %v)", k, tc.wantKind, o.err))
		}
	}
	if o.err != nil {
		msg := o.err.Error()
		for _, m := range tc.wantMsg {
			if !strings.Contains(msg, m) {
				problems = append(problems, fmt.Sprintf("err %q does not say %q", msg, m))
			}
		}
		if len(msg) > 2000 {
			problems = append(problems, fmt.Sprintf("error message is %d bytes long", len(msg)))
		}
		assertNoSecret(t, "error", msg)
		assertNoSecret(t, "error %+v", fmt.Sprintf("%+v", o.err))
	}
	if n := int(hs.requests.Load()); tc.requests != 0 && n != tc.requests {
		problems = append(problems, fmt.Sprintf("%d requests, want %d", n, tc.requests))
	}
	if len(problems) > 0 {
		t.Error(strings.Join(problems, "\n"))
	}
	return o
}

// TestHostileWrongTypes sends answers with a wrong JSON type at each level:
// the envelope, its fields, api_response, and the parts of it the client
// reads. Under HTTP 200 a malformed answer is a server-side problem
// (Unavailable, retried: MaxRetries 1 gives 2 requests); under an error
// status the status decides.
func TestHostileWrongTypes(t *testing.T) {
	okFullJSON := string(mustJSON(t, okFullDoc))
	okSearchJSON := string(mustJSON(t, okSearchPage))
	envWith := func(resp, extra string) string {
		return `{"api_response": ` + resp + `, "api_server_version": "4.7.4.stable5", "api_status_code": 200` + extra + `}`
	}
	fullWith := func(field, value string) string {
		doc := map[string]json.RawMessage{}
		if err := json.Unmarshal([]byte(okFullJSON), &doc); err != nil {
			t.Fatal(err)
		}
		doc[field] = json.RawMessage(value)
		return envWith(string(mustJSON(t, doc)), "")
	}
	resultWith := func(value string) string {
		return fullWith("results", `{"`+testSHA256+`.YARA.v4_7_0_stable3.c0": `+value+`}`)
	}
	const structure = "does not have the expected structure"
	const notJSON = "not the expected JSON"

	var cases []hostileCase
	// The envelope itself, for every endpoint.
	for _, ep := range []string{"search", "submission_full", "download"} {
		for _, top := range []string{`[]`, `"api_response"`, `7`, `true`, `[{"api_response": {}}]`} {
			cases = append(cases, hostileCase{name: "envelope is " + top, endpoint: ep, reply: rawJSON(top),
				wantKind: failure.Unavailable, wantMsg: []string{notJSON, "assemblyline"}, requests: 2})
		}
		cases = append(cases,
			hostileCase{name: "envelope is null", endpoint: ep, reply: rawJSON(`null`),
				wantKind: failure.Unavailable, wantMsg: []string{"has no api_response"}, requests: 2},
			hostileCase{name: "api_error_message is a number", endpoint: ep, reply: rawJSON(envWith(`""`, `, "api_error_message": 404`)),
				wantKind: failure.Unavailable, wantMsg: []string{notJSON}, requests: 2},
			hostileCase{name: "api_error_message is an object", endpoint: ep, reply: rawJSON(envWith(`""`, `, "api_error_message": {"msg": "x"}`)),
				wantKind: failure.Unavailable, wantMsg: []string{notJSON}, requests: 2},
			hostileCase{name: "api_status_code is a string", endpoint: ep, reply: rawJSON(`{"api_response": "", "api_error_message": "gone", "api_status_code": "404"}`),
				wantKind: failure.Unavailable, wantMsg: []string{notJSON}, requests: 2},
			// Under an error status the status decides, whatever the body.
			hostileCase{name: "401 with api_error_message a number", endpoint: ep,
				reply:    raw(401, "application/json", `{"api_response": "", "api_error_message": 401, "api_status_code": 401}`),
				wantKind: failure.Auth, wantMsg: []string{"HTTP 401 Unauthorized", `"api_error_message": 401`}, requests: 1},
			hostileCase{name: "503 with an array envelope", endpoint: ep, reply: raw(503, "application/json", `["busy"]`),
				wantKind: failure.Unavailable, wantMsg: []string{"HTTP 503", `["busy"]`}, requests: 2},
		)
	}
	for _, resp := range []string{`""`, `7`, `[]`, `true`, `"completed"`} {
		cases = append(cases,
			hostileCase{name: "api_response is " + resp, endpoint: "submission_full", reply: rawJSON(envWith(resp, `, "api_error_message": ""`)),
				wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
			hostileCase{name: "api_response is " + resp, endpoint: "search", reply: rawJSON(envWith(resp, `, "api_error_message": ""`)),
				wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
		)
	}
	cases = append(cases,
		// submission/full: an empty or null document is not a running
		// submission: it has no state at all.
		hostileCase{name: "api_response is null", endpoint: "submission_full", reply: rawJSON(envWith(`null`, "")),
			wantKind: failure.Unavailable, wantMsg: []string{"malformed document"}},
		hostileCase{name: "api_response is {}", endpoint: "submission_full", reply: rawJSON(envWith(`{}`, "")),
			wantKind: failure.Unavailable, wantMsg: []string{"malformed document"}},
		hostileCase{name: "sid is a number", endpoint: "submission_full", reply: rawJSON(fullWith("sid", `7`)),
			wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
		hostileCase{name: "state is a list", endpoint: "submission_full", reply: rawJSON(fullWith("state", `["completed"]`)),
			wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
		hostileCase{name: "max_score is an object", endpoint: "submission_full", reply: rawJSON(fullWith("max_score", `{"v": 1}`)),
			wantKind: failure.Unavailable, wantMsg: []string{"max_score: an object is not a number"}, requests: 2},
		hostileCase{name: "max_score is huge", endpoint: "submission_full", reply: rawJSON(fullWith("max_score", "1"+strings.Repeat("0", 5000))),
			wantKind: failure.Unavailable, wantMsg: []string{"max_score: 1000", "not an integral number in range"}, requests: 2},
		hostileCase{name: "times is a string", endpoint: "submission_full", reply: rawJSON(fullWith("times", `"2025-03-04T15:03:40Z"`)),
			wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
		hostileCase{name: "times.completed is a number", endpoint: "submission_full", reply: rawJSON(fullWith("times", `{"completed": 1741100620}`)),
			wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
		hostileCase{name: "missing_result_keys is a string", endpoint: "submission_full", reply: rawJSON(fullWith("missing_result_keys", `"k"`)),
			wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
		hostileCase{name: "missing_result_keys holds a number", endpoint: "submission_full", reply: rawJSON(fullWith("missing_result_keys", `[1]`)),
			wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
		hostileCase{name: "results is a string", endpoint: "submission_full", reply: rawJSON(fullWith("results", `"x"`)),
			wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
		hostileCase{name: "results is a number", endpoint: "submission_full", reply: rawJSON(fullWith("results", `1`)),
			wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
		hostileCase{name: "results is a boolean", endpoint: "submission_full", reply: rawJSON(fullWith("results", `true`)),
			wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
		hostileCase{name: "a result is a list", endpoint: "submission_full", reply: rawJSON(resultWith(`[]`)),
			wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
		hostileCase{name: "a result is a string", endpoint: "submission_full", reply: rawJSON(resultWith(`"x"`)),
			wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
		hostileCase{name: "a result is null", endpoint: "submission_full", reply: rawJSON(resultWith(`null`)),
			wantKind: failure.Unavailable, wantMsg: []string{"has no result.score"}, requests: 2},
		hostileCase{name: "sha256 is a number", endpoint: "submission_full", reply: rawJSON(resultWith(`{"sha256": 5, "result": {"score": 1}}`)),
			wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
		hostileCase{name: "sha256 is an object", endpoint: "submission_full", reply: rawJSON(resultWith(`{"sha256": {}, "result": {"score": 1}}`)),
			wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
		hostileCase{name: "result.result is a list", endpoint: "submission_full", reply: rawJSON(resultWith(`{"sha256": "` + testSHA256 + `", "result": [1]}`)),
			wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
		hostileCase{name: "score is an object", endpoint: "submission_full", reply: rawJSON(resultWith(`{"sha256": "` + testSHA256 + `", "result": {"score": {}}}`)),
			wantKind: failure.Unavailable, wantMsg: []string{"result.score: an object is not a number"}, requests: 2},
		hostileCase{name: "score is a list", endpoint: "submission_full", reply: rawJSON(resultWith(`{"sha256": "` + testSHA256 + `", "result": {"score": [1000]}}`)),
			wantKind: failure.Unavailable, wantMsg: []string{"result.score: a list is not a number"}, requests: 2},
		hostileCase{name: "score is a boolean", endpoint: "submission_full", reply: rawJSON(resultWith(`{"sha256": "` + testSHA256 + `", "result": {"score": true}}`)),
			wantKind: failure.Unavailable, wantMsg: []string{"result.score: a boolean is not a number"}, requests: 2},
		hostileCase{name: "score is 1e400", endpoint: "submission_full", reply: rawJSON(resultWith(`{"sha256": "` + testSHA256 + `", "result": {"score": 1e400}}`)),
			wantKind: failure.Unavailable, wantMsg: []string{"1e400 is not an integral number in range"}, requests: 2},
		hostileCase{name: "score is 2^63", endpoint: "submission_full", reply: rawJSON(resultWith(`{"sha256": "` + testSHA256 + `", "result": {"score": 9223372036854775808}}`)),
			wantKind: failure.Unavailable, wantMsg: []string{"9223372036854775808 is not an integral number in range"}, requests: 2},

		// search: a page that is not a page must not end the sweep as if
		// it were the last one, or the rest of the sweep is lost silently.
		hostileCase{name: "api_response is null", endpoint: "search", reply: rawJSON(envWith(`null`, `, "api_error_message": ""`)),
			wantKind: failure.Unavailable, wantMsg: []string{"items"}},
		hostileCase{name: "api_response is {}", endpoint: "search", reply: rawJSON(envWith(`{}`, `, "api_error_message": ""`)),
			wantKind: failure.Unavailable, wantMsg: []string{"items"}},
		hostileCase{name: "items is null", endpoint: "search", reply: rawJSON(envWith(`{"items": null, "next_deep_paging_id": "abc"}`, `, "api_error_message": ""`)),
			wantKind: failure.Unavailable, wantMsg: []string{"items"}},
		hostileCase{name: "items is an object", endpoint: "search", reply: rawJSON(envWith(`{"items": {"sid": "abc"}}`, `, "api_error_message": ""`)),
			wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
		hostileCase{name: "items is a number", endpoint: "search", reply: rawJSON(envWith(`{"items": 1}`, `, "api_error_message": ""`)),
			wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
		hostileCase{name: "next_deep_paging_id is a number", endpoint: "search", reply: rawJSON(envWith(`{"items": [{"sid": "abc"}], "next_deep_paging_id": 5}`, `, "api_error_message": ""`)),
			wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
		hostileCase{name: "next_deep_paging_id is an object", endpoint: "search", reply: rawJSON(envWith(`{"items": [{"sid": "abc"}], "next_deep_paging_id": {}}`, `, "api_error_message": ""`)),
			wantKind: failure.Unavailable, wantMsg: []string{structure}, requests: 2},
		// Items of the wrong type are skipped one by one (logged), by design.
		hostileCase{name: "items of every wrong type", endpoint: "search",
			reply:    rawJSON(envWith(`{"items": [1, "abc", null, [], true, {"sid": 5}, {"sid": null}, {"sid": ["abc"]}]}`, `, "api_error_message": ""`)),
			requests: 1},
		// The success path still works with the extra fields a server may add.
		hostileCase{name: "well-formed with unknown fields", endpoint: "search", reply: rawJSON(envWith(okSearchJSON, `, "api_error_message": "", "extra": [1, {"x": null}]`)), requests: 1},
	)
	for _, tc := range cases {
		t.Run(tc.endpoint+"/"+tc.name, func(t *testing.T) { runHostile(t, tc) })
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHostileDeepNesting nests 100 000 levels where the client does not
// look (unterminated api_response is covered in errors_test.go): closed,
// inside a field it decodes, inside a field it skips, and in error answers.
// encoding/json refuses more than 10 000 levels before decoding anything.
func TestHostileDeepNesting(t *testing.T) {
	const depth = 100_000
	closed := strings.Repeat("[", depth) + strings.Repeat("]", depth)
	objs := strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
	envOf := func(resp string) string {
		return `{"api_response": ` + resp + `, "api_error_message": "", "api_status_code": 200}`
	}
	fullOf := func(extra string) string {
		return envOf(`{"sid": "` + testSID + `", "state": "completed", "results": {}, ` + extra + `}`)
	}
	cases := []hostileCase{
		{name: "closed lists as api_response", endpoint: "search", reply: rawJSON(envOf(closed)),
			wantKind: failure.Unavailable, wantMsg: []string{"exceeded max depth"}, requests: 2},
		{name: "closed lists as an item", endpoint: "search", reply: rawJSON(envOf(`{"items": [` + closed + `]}`)),
			wantKind: failure.Unavailable, wantMsg: []string{"exceeded max depth"}, requests: 2},
		{name: "closed objects as api_response", endpoint: "submission_full", reply: rawJSON(envOf(objs)),
			wantKind: failure.Unavailable, wantMsg: []string{"exceeded max depth"}, requests: 2},
		{name: "in result.score", endpoint: "submission_full",
			reply:    rawJSON(fullOf(`"x": 1, "results": {"` + testSHA256 + `.X.v1.c0": {"result": {"score": ` + closed + `}}}`)),
			wantKind: failure.Unavailable, wantMsg: []string{"exceeded max depth"}, requests: 2},
		{name: "in the skipped file_tree", endpoint: "submission_full", reply: rawJSON(fullOf(`"file_tree": ` + objs)),
			wantKind: failure.Unavailable, wantMsg: []string{"exceeded max depth"}, requests: 2},
		{name: "in an unknown envelope field", endpoint: "submission_full",
			reply:    rawJSON(`{"api_response": {}, "api_error_message": "", "x": ` + closed + `}`),
			wantKind: failure.Unavailable, wantMsg: []string{"exceeded max depth"}, requests: 2},
		// Not an envelope, so not Assemblyline saying "not found": a 404
		// only counts as the file's own failure in Assemblyline's envelope;
		// anything else is the server being away.
		{name: "as a 404 body", endpoint: "download", reply: raw(404, "application/json", closed),
			wantKind: failure.Unavailable, wantMsg: []string{"HTTP 404 Not Found from 127.0.0.1:", "not an Assemblyline API answer", "it starts: [[[["}, requests: 2},
		{name: "as a JSON body under 200", endpoint: "download", reply: rawJSON(envOf(closed)),
			wantKind: failure.Unavailable, wantMsg: []string{"exceeded max depth"}, requests: 2},
	}
	for _, tc := range cases {
		t.Run(tc.endpoint+"/"+tc.name, func(t *testing.T) { runHostile(t, tc) })
	}
}

// endless answers with prefix and then repeats chunk until the client goes
// away, counting what it managed to write.
func endless(status int, contentType, prefix string, chunk []byte, sent *atomic.Int64) reply {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		n, err := io.WriteString(w, prefix)
		sent.Add(int64(n))
		for err == nil && r.Context().Err() == nil {
			n, err = w.Write(chunk)
			sent.Add(int64(n))
		}
	}
}

// heapWatch samples HeapAlloc while a test runs and reports the peak
// growth over the level before it started.
type heapWatch struct {
	base uint64
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func watchHeap() *heapWatch {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w := &heapWatch{base: ms.HeapAlloc, stop: make(chan struct{}), done: make(chan struct{})}
	w.peak.Store(ms.HeapAlloc)
	go func() {
		defer close(w.done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > w.peak.Load() {
				w.peak.Store(ms.HeapAlloc)
			}
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// growth stops the sampling and returns the peak growth in bytes.
func (w *heapWatch) growth() int64 {
	close(w.stop)
	<-w.done
	return int64(w.peak.Load()) - int64(w.base)
}

// TestHostileEndlessBody: a server that never stops sending. The client
// must stop at its cap with TooLarge, promptly, in memory that does not grow
// with what the server sends. A JSON answer is buffered whole by the
// decoder, so its memory is bounded by MaxJSONBytes (kept small here); a
// download streams, so 512 MiB must pass through a small heap.
func TestHostileEndlessBody(t *testing.T) {
	const mib = 1 << 20
	filler := bytes.Repeat([]byte(`{"sid": "4EZNjXD44dmYMRbXYPAe6t", "max_score": 1000}, `), 1200)
	cases := []struct {
		name, endpoint string
		status         int
		contentType    string
		prefix         string
		chunk          []byte
		cfg            func(*Config)
		minSent        int64
		maxGrowth      int64
		wantKind       failure.Kind
		wantMsg        []string
		requests       int32 // 0 means 1
	}{
		{
			name: "endless items list", endpoint: "search", status: 200, contentType: "application/json",
			prefix: `{"api_response": {"items": [`, chunk: filler,
			cfg:     func(c *Config) { c.MaxJSONBytes = 8 * mib },
			minSent: 8 * mib, maxGrowth: 64 * mib,
			wantKind: failure.TooLarge, wantMsg: []string{"assemblyline search: the answer exceeds the 8388608-byte limit"},
		},
		{
			name: "endless string in file_tree", endpoint: "submission_full", status: 200, contentType: "application/json",
			prefix: `{"api_response": {"sid": "` + testSID + `", "state": "completed", "file_tree": "`, chunk: bytes.Repeat([]byte("x"), 64<<10),
			cfg:     func(c *Config) { c.MaxJSONBytes = 8 * mib },
			minSent: 8 * mib, maxGrowth: 64 * mib,
			wantKind: failure.TooLarge, wantMsg: []string{"assemblyline submission/full: the answer exceeds the 8388608-byte limit"},
		},
		{
			name: "endless white space", endpoint: "submission_full", status: 200, contentType: "application/json",
			prefix: `{"api_response": `, chunk: bytes.Repeat([]byte(" \n\t"), 20<<10),
			cfg:     func(c *Config) { c.MaxJSONBytes = 8 * mib },
			minSent: 8 * mib, maxGrowth: 64 * mib,
			wantKind: failure.TooLarge, wantMsg: []string{"exceeds the 8388608-byte limit"},
		},
		{
			// Error answers of a download are capped at 1 MiB whatever
			// MaxJSONBytes says. What was read is no complete envelope, so
			// it is not Assemblyline saying "not found" (no real envelope
			// is a megabyte long): the server is treated
			// as away rather than the file as missing.
			name: "endless 404 error answer", endpoint: "download", status: 404, contentType: "application/json",
			prefix: `{"api_response": {}, "api_error_message": "The file was not found in the system.`, chunk: bytes.Repeat([]byte("!"), 64<<10),
			minSent: 1 * mib, maxGrowth: 64 * mib,
			wantKind: failure.Unavailable, wantMsg: []string{"HTTP 404 Not Found from", "not an Assemblyline API answer", "The file was not found in the system."},
			// Unavailable is repeated like any outage (MaxRetries 3),
			// each attempt still stopping at the 1 MiB cap.
			requests: 4,
		},
		{
			name: "endless file", endpoint: "download", status: 200, contentType: "application/octet-stream",
			prefix: "CART", chunk: bytes.Repeat([]byte{0xA5}, 64<<10),
			cfg:     func(c *Config) { c.MaxDownloadBytes = 512 * mib },
			minSent: 512 * mib, maxGrowth: 64 * mib,
			wantKind: failure.TooLarge, wantMsg: []string{"assemblyline download: the file exceeds the 536870912-byte limit"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.endpoint+"/"+tc.name, func(t *testing.T) {
			var sent atomic.Int64
			mods := []func(*Config){func(c *Config) { c.MaxRetries = 3 }}
			if tc.cfg != nil {
				mods = append(mods, tc.cfg)
			}
			hs := newHarness(t, endless(tc.status, tc.contentType, tc.prefix, tc.chunk, &sent), mods...)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()

			heap := watchHeap()
			start := time.Now()
			var read int64
			var err error
			if tc.endpoint == "download" {
				// Stream like the downloader does: never hold the file.
				err = hs.c.Download(ctx, testSHA256, func(r io.Reader, _ int64) error {
					n, err := io.Copy(io.Discard, r)
					read = n
					return err
				})
			} else {
				err = callEndpoint(ctx, hs.c, tc.endpoint).err
			}
			took := time.Since(start)
			grew := heap.growth()
			t.Logf("server sent %d MiB, client read %d MiB, heap grew %d MiB, took %s: %v",
				sent.Load()>>20, read>>20, grew>>20, took.Round(time.Millisecond), err)

			if k := failure.KindOf(err); err == nil || k != tc.wantKind {
				t.Fatalf("err = %v (kind %v), want %v", err, k, tc.wantKind)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("err %q does not say %q", err, m)
				}
			}
			assertNoSecret(t, "error", err.Error())
			if ctx.Err() != nil {
				t.Errorf("ended by the test's deadline, not by the client (%s)", took)
			}
			// Bytes the client read may still be uncounted while the
			// handler sits in Write; Close waits for the handler to end.
			hs.srv.Close()
			if s := sent.Load(); s < tc.minSent {
				t.Errorf("the server sent only %d bytes before the client gave up, want at least %d", s, tc.minSent)
			}
			if grew > tc.maxGrowth {
				t.Errorf("heap grew by %d MiB reading an endless body, want under %d MiB", grew>>20, tc.maxGrowth>>20)
			}
			// TooLarge is final; an error status is retried only when
			// it means the server is away (5xx, or not its envelope).
			want := max(tc.requests, 1)
			if n := hs.requests.Load(); n != want {
				t.Errorf("%d requests, want %d; an oversized answer must not be asked again", n, want)
			}
		})
	}
}

// TestHostileEndlessDownloadWithoutCap documents that with MaxDownloadBytes
// at zero (no cap, which is how service.Setup builds the production client)
// an endless download ends only with the caller's context.
func TestHostileEndlessDownloadWithoutCap(t *testing.T) {
	var sent atomic.Int64
	hs := newHarness(t, endless(200, "application/octet-stream", "CART", bytes.Repeat([]byte{1}, 64<<10), &sent))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	heap := watchHeap()
	err := hs.c.Download(ctx, testSHA256, func(r io.Reader, _ int64) error {
		_, err := io.Copy(io.Discard, r)
		return err
	})
	grew := heap.growth()
	t.Logf("server sent %d MiB in 500ms, heap grew %d MiB: %v", sent.Load()>>20, grew>>20, err)
	if !errors.Is(err, context.DeadlineExceeded) || failure.KindOf(err) != failure.Timeout {
		t.Fatalf("err = %v, want the caller's deadline", err)
	}
	if grew > 64<<20 {
		t.Errorf("heap grew by %d MiB", grew>>20)
	}
	if n := hs.requests.Load(); n != 1 {
		t.Errorf("%d requests after the caller's deadline", n)
	}
	checkDeadlineMessage(t, err, "assemblyline download: reading the file: context deadline exceeded")
}

// checkDeadlineMessage asserts an error ended by the caller's deadline says
// which call it ended and where.
func checkDeadlineMessage(t *testing.T, err error, want string) {
	t.Helper()
	assertNoSecret(t, "error", err.Error())
	if !strings.Contains(err.Error(), want) {
		t.Errorf("err %q does not say %q: a deadline must not hide which call it ended", err, want)
	}
}

// overlong answers with a Content-Length that covers only declared and then
// sends extra on the same connection, which a client that trusted the
// stream instead of the header would read as part of the body (or as the
// next answer).
func overlong(contentType string, declared []byte, extra string) reply {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		fmt.Fprintf(rw, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", contentType, len(declared))
		rw.Write(declared)
		rw.WriteString(extra)
		rw.Flush()
		// Give the client time to read the answer before the close.
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHostileBodyLongerThanContentLength: Go's transport reads exactly
// Content-Length bytes; the excess must neither reach the caller nor
// poison the next call on that client.
func TestHostileBodyLongerThanContentLength(t *testing.T) {
	// net/http reports the excess ("Unsolicited response received on idle
	// HTTP channel") on the standard logger; keep it in the test's log.
	prev := log.Writer()
	log.SetOutput(testLogWriter{t})
	t.Cleanup(func() { log.SetOutput(prev) })
	file := fileBody[:4096]
	fullEnv := envelopeBytes(t, 200, okFullDoc, "")
	searchEnv := envelopeBytes(t, 200, okSearchPage, "")
	evilFull := string(envelopeBytes(t, 200, map[string]any{"sid": "Evil", "state": "completed", "results": map[string]any{}}, ""))
	poison := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!"

	t.Run("download gets exactly Content-Length bytes", func(t *testing.T) {
		hs := newHarness(t, sequence(overlong("application/octet-stream", file, "EXTRA BYTES "+poison), serveFile(fileBody)))
		o := callEndpoint(context.Background(), hs.c, "download")
		if o.err != nil {
			t.Fatalf("err = %v", o.err)
		}
		if !bytes.Equal(o.file, file) || o.size != int64(len(file)) || o.calls != 1 {
			t.Errorf("consume read %d bytes (size %d, %d calls), want exactly the %d announced", len(o.file), o.size, o.calls, len(file))
		}
		// The next call gets its own, intact answer.
		o2 := callEndpoint(context.Background(), hs.c, "download")
		if o2.err != nil || !bytes.Equal(o2.file, fileBody) {
			t.Errorf("next download: %d bytes, err %v", len(o2.file), o2.err)
		}
	})
	t.Run("submission/full decodes only the announced document", func(t *testing.T) {
		hs := newHarness(t, sequence(overlong("application/json", fullEnv, evilFull+poison), okFull))
		for i := range 2 {
			o := callEndpoint(context.Background(), hs.c, "submission_full")
			if o.err != nil || o.full == nil || o.full.SID != testSID || len(o.full.Results) != 1 {
				t.Errorf("call %d: %+v, %v", i, o.full, o.err)
			}
		}
	})
	t.Run("search decodes only the announced page", func(t *testing.T) {
		hs := newHarness(t, sequence(overlong("application/json", searchEnv, poison), okSearch))
		for i := range 2 {
			if o := callEndpoint(context.Background(), hs.c, "search"); o.err != nil || o.items != 1 {
				t.Errorf("call %d: %d items, %v", i, o.items, o.err)
			}
		}
	})
	t.Run("Content-Length cutting the document is a truncated answer", func(t *testing.T) {
		hs := newHarness(t, sequence(overlong("application/json", fullEnv[:len(fullEnv)/2], string(fullEnv[len(fullEnv)/2:])), okFull))
		o := callEndpoint(context.Background(), hs.c, "submission_full")
		if o.err != nil || o.full == nil || o.full.SID != testSID {
			t.Fatalf("got %+v, %v; want the retry to succeed", o.full, o.err)
		}
		calls := hs.callsCopy()
		if len(calls) != 2 || calls[0].Err == nil {
			t.Fatalf("calls = %+v, want a failed attempt then a success", calls)
		}
		first := calls[0].Err
		if k := failure.KindOf(first); k != failure.Unavailable || !strings.Contains(first.Error(), "truncated body is the likely cause") {
			t.Errorf("first attempt: %v (kind %v)", first, k)
		}
	})
}

// testLogWriter sends the standard logger's lines to t.Log.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// shortBody announces the whole body, sends the first cut bytes and closes
// the connection cleanly.
func shortBody(body []byte, cut int) reply {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:cut])
	}
}

// TestHostileBodyShorterThanContentLength covers the JSON endpoints (the
// download is covered in download_test.go): a cut answer is Unavailable
// with the byte counts, and retried.
func TestHostileBodyShorterThanContentLength(t *testing.T) {
	for _, ep := range []struct {
		name string
		body []byte
		ok   reply
	}{
		{"search", envelopeBytes(t, 200, okSearchPage, ""), okSearch},
		{"submission_full", envelopeBytes(t, 200, okFullDoc, ""), okFull},
	} {
		cut := len(ep.body) / 2
		t.Run(ep.name+"/cut then success", func(t *testing.T) {
			hs := newHarness(t, sequence(shortBody(ep.body, cut), ep.ok))
			if o := callEndpoint(context.Background(), hs.c, ep.name); o.err != nil {
				t.Fatalf("err = %v, want the retry to succeed", o.err)
			}
			calls := hs.callsCopy()
			if len(calls) != 2 || calls[0].Err == nil || calls[1].Err != nil {
				t.Fatalf("calls = %+v", calls)
			}
			want := fmt.Sprintf("the answer was cut off after %d of %d bytes", cut, len(ep.body))
			if first := calls[0].Err; failure.KindOf(first) != failure.Unavailable || !errors.Is(first, io.ErrUnexpectedEOF) || !strings.Contains(first.Error(), want) {
				t.Errorf("first attempt: %v, want Unavailable saying %q", first, want)
			}
		})
		t.Run(ep.name+"/cut forever", func(t *testing.T) {
			runHostile(t, hostileCase{endpoint: ep.name, reply: shortBody(ep.body, cut),
				wantKind: failure.Unavailable, wantMsg: []string{"was cut off after", "gave up after 2 attempts"}, requests: 2})
		})
	}
	// A complete document followed by a connection that drops before
	// Content-Length: JSON is self-delimiting, so the document is whole.
	t.Run("submission_full/complete document, short of Content-Length", func(t *testing.T) {
		body := envelopeBytes(t, 200, okFullDoc, "")
		hs := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(len(body)+100))
			w.Write(body)
		})
		o := callEndpoint(context.Background(), hs.c, "submission_full")
		if o.err != nil || o.full == nil || len(o.full.Results) != 1 {
			t.Errorf("got %+v, %v", o.full, o.err)
		}
	})
}

// trickle sends the status line and headers at once, then body one byte
// every gap, stopping when the client goes away.
func trickle(contentType string, body []byte, gap time.Duration) reply {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		for _, b := range body {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(gap):
			}
			if _, err := w.Write([]byte{b}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}
}

// trickleHeaders sends even the status line one byte every gap.
func trickleHeaders(gap time.Duration) reply {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		bw := bufio.NewWriter(conn)
		for _, b := range []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}") {
			time.Sleep(gap)
			bw.WriteByte(b)
			if bw.Flush() != nil {
				return
			}
		}
	}
}

// TestHostileSlowloris: a server that sends one byte per second. With a
// small StallTimeout each attempt ends as a Timeout that says how far it
// got; the retries are bounded, so the whole call is too.
func TestHostileSlowloris(t *testing.T) {
	const stall = 300 * time.Millisecond
	bodies := map[string][]byte{
		"search":          envelopeBytes(t, 200, okSearchPage, ""),
		"submission_full": envelopeBytes(t, 200, okFullDoc, ""),
		"download":        fileBody[:100],
	}
	for _, ep := range []string{"search", "submission_full", "download"} {
		ct := "application/json"
		what := "answer"
		if ep == "download" {
			ct, what = "application/octet-stream", "file"
		}
		t.Run(ep+"/body at 1 byte per second", func(t *testing.T) {
			start := time.Now()
			runHostile(t, hostileCase{endpoint: ep, reply: trickle(ct, bodies[ep], time.Second),
				cfg:      func(c *Config) { c.StallTimeout = stall },
				wantKind: failure.Timeout, wantMsg: []string{"the " + what + " stalled: nothing received for 300ms after 0 bytes", "gave up after 2 attempts"},
				requests: 2})
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %s", d)
			}
		})
		t.Run(ep+"/headers at 1 byte per second", func(t *testing.T) {
			start := time.Now()
			runHostile(t, hostileCase{endpoint: ep, reply: trickleHeaders(time.Second),
				cfg:      func(c *Config) { c.StallTimeout = stall },
				wantKind: failure.Timeout, wantMsg: []string{"no response within 300ms", "gave up after 2 attempts"},
				requests: 2})
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
	// A trickle just under the stall timeout never stalls: only the
	// caller's context bounds it (StallTimeout is per wait, not a rate).
	t.Run("submission_full/trickle under the stall timeout", func(t *testing.T) {
		hs := newHarness(t, trickle("application/json", bodies["submission_full"], stall/3), func(c *Config) { c.StallTimeout = stall })
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := hs.c.SubmissionFull(ctx, testSID)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the caller's deadline", err)
		}
		if d := time.Since(start); d < time.Second {
			t.Errorf("ended after %s, before the caller's deadline: %v", d, err)
		}
		if n := hs.requests.Load(); n != 1 {
			t.Errorf("%d requests", n)
		}
		checkDeadlineMessage(t, err, "assemblyline submission/full: reading the answer: context deadline exceeded")
	})
}

// TestHostileHugeErrorAnswers: error answers far larger than any real one.
// The read stops at the cap (MaxJSONBytes, and 1 MiB for a download), the
// status decides the kind, and the message stays short.
func TestHostileHugeErrorAnswers(t *testing.T) {
	bigMsg := strings.Repeat("quota ", 2<<20/6) // a 2 MiB api_error_message
	for _, ep := range []string{"search", "submission_full", "download"} {
		// A download reads at most 1 MiB of an error answer, so it sees a
		// cut JSON and quotes the start of it.
		want := "HTTP 503 Service Unavailable: quota quota"
		if ep == "download" {
			want = `HTTP 503 Service Unavailable from 127.0.0.1:`
		}
		t.Run(ep+"/503 with a 2 MiB message", func(t *testing.T) {
			runHostile(t, hostileCase{endpoint: ep, reply: env(503, "", bigMsg),
				cfg:      func(c *Config) { c.MaxJSONBytes = 4 << 20 },
				wantKind: failure.Unavailable, wantMsg: []string{want, "…"}, requests: 2})
		})
		t.Run(ep+"/401 over MaxJSONBytes", func(t *testing.T) {
			runHostile(t, hostileCase{endpoint: ep, reply: env(401, map[string]any{"pad": strings.Repeat("p", 64<<10)}, "Invalid user or APIKey"),
				cfg:      func(c *Config) { c.MaxJSONBytes = 1 << 10 },
				wantKind: failure.Auth, wantMsg: []string{"HTTP 401 Unauthorized: non-JSON answer:"}, requests: 1})
		})
	}
}
