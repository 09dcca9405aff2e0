package assemblyline

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/sim/alsim"
)

// checkFastAgainstStd is the contract of the fast path: when it accepts a
// document, encoding/json accepts it too, without any error, and decodes
// exactly the same thing.
func checkFastAgainstStd(t *testing.T, body []byte) bool {
	t.Helper()
	var fast fullDoc
	if !fast.decodeFast(body) {
		return false
	}
	var env envelope[fullDoc]
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("fast path accepted what encoding/json rejects (%v):\n%.300s", err, body)
	}
	if env.Message != "" || env.Response == nil {
		t.Fatalf("fast path accepted an error or empty answer:\n%.300s", body)
	}
	if !reflect.DeepEqual(&fast, env.Response) {
		t.Fatalf("fast and encoding/json disagree:\nfast %+v\nstd  %+v\n%.300s", fast, *env.Response, body)
	}
	return true
}

func renderFull(t testing.TB, cfg alsim.Config, n int) [][]byte {
	sim, err := alsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i := 0; i < n && i < sim.Corpus().Len(); i++ {
		req := httptest.NewRequest(http.MethodGet, "/api/v4/submission/full/"+sim.Corpus().Submission(i).SID+"/", nil)
		req.Header.Set("X-USER", alsim.DefaultUser)
		req.Header.Set("X-APIKEY", alsim.DefaultAPIKey)
		rec := httptest.NewRecorder()
		sim.Handler().ServeHTTP(rec, req)
		out = append(out, rec.Body.Bytes())
	}
	return out
}

func TestFastDecodeMatchesEncodingJSON(t *testing.T) {
	docs := renderFull(t, alsim.Config{Seed: 3, Submissions: 60, Incomplete: 5}, 60)
	accepted := 0
	for _, d := range docs {
		if checkFastAgainstStd(t, d) {
			accepted++
		}
	}
	// Realistic documents must take the fast path, or it is pointless.
	if accepted < len(docs)-5 {
		t.Errorf("fast path took %d of %d realistic documents", accepted, len(docs))
	}
	files, _ := filepath.Glob("testdata/submission_*.json")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		env := `{"api_error_message":"","api_response":` + string(b) + `,"api_server_version":"4.7.4.stable5","api_status_code":200}`
		checkFastAgainstStd(t, []byte(env))
	}
}

func TestFastDecodeDefersToEncodingJSON(t *testing.T) {
	const ok = `"sid":"abc","state":"completed","results":{}`
	for _, doc := range []string{
		`{"api_error_message":"boom","api_response":{` + ok + `}}`,        // an error answer
		`{"api_response":{"SID":"abc","state":"completed"}}`,              // case-insensitive key
		`{"api_response":{"\u017fid":"abc","state":"completed"}}`,         // Unicode case folding
		`{"api_response":{"sid":"a\u0062c","state":"completed"}}`,         // escaped value
		`{"api_response":{"sid":"abc","state":"completed","results":[]}}`, // running submission's list
		`{"api_response":{` + ok + `,"max_score":"12"}}`,                  // wrong type
		`{"api_response":{` + ok + `}} x`,                                 // trailing data
		`{"api_response":{` + ok + `},"api_status_code":"200"}`,           // envelope type
		`{"api_response":{` + ok + `}`,                                    // truncated
		`{"api_response":[]}`,
		`[]`,
		`{"api_response":{` + ok + `,"file_tree":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`,
	} {
		var d fullDoc
		if d.decodeFast([]byte(doc)) {
			t.Errorf("fast path accepted %.80s", doc)
		}
	}
}

func FuzzFastDecode(f *testing.F) {
	for _, d := range renderFull(f, alsim.Config{Seed: 5, Submissions: 8, Incomplete: 2}, 8) {
		f.Add(d)
	}
	f.Add([]byte(`{"api_response":{"sid":"abc","state":"completed","results":{"k":{"sha256":null,"result":{"score":1e3}}}},"api_error_message":""}`))
	f.Add([]byte(`{"api_response":{"times":null,"missing_result_keys":[],"results":null},"api_status_code":200}`))
	names, err := os.ReadFile(filepath.Join("testdata", "submission_names.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(wrapEnvelope(names))
	sha := strings.Repeat("a", 64)
	for _, tree := range []string{
		`{"` + sha + `":{"name":["a\u0000b","\u202e.exe","\ud800","x\ty"],"children":{"` + sha + `":{"name":["b"],"name":["a","a"]}}}}`,
		"{\"" + sha + "\":{\"name\":[\"\xff\xfe\x7f\xc2\x85\xed\xa0\x80\"]}}",
		`{"` + sha + `":{"name":"x","children":[1]},"k":null,"` + strings.ToUpper(sha) + `":{"name":[1e400,null,{},[],"n","n"]}}`,
		`{"\u0061` + sha[1:] + `":{"name":["escaped key"]},"` + sha + `":{"Name":["folded"]}}`,
		`[]`, `null`, `"x"`,
	} {
		f.Add([]byte(`{"api_response":{"sid":"abc","state":"completed","results":{},"file_tree":` + tree + `},"api_error_message":""}`))
	}
	f.Add([]byte(`{"api_response":{"sid":"abc","File_tree":{},"file_tree":{"` + sha + `":{"name":["a"]}},"state":"completed"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkFastAgainstStd(t, body)
	})
}
