package assemblyline

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestResultTypeNeverFailsScoring: the file type is informational; any
// value the server puts there decodes, the same on both decoders.
func TestResultTypeNeverFailsScoring(t *testing.T) {
	sha := strings.Repeat("a", 64)
	for name, tc := range map[string]struct{ raw, want string }{
		"type":      {`"executable/windows/pe32"`, "executable/windows/pe32"},
		"null":      {`null`, ""},
		"number":    {`5`, ""},
		"object":    {`{"x":1}`, ""},
		"control":   {`"a\u0001b"`, ""},
		"too long":  {`"` + strings.Repeat("x", 300) + `"`, ""},
		"non-ASCII": {`"documént"`, ""},
	} {
		doc := `{"api_response":{"sid":"s1","state":"completed","max_score":10,"times":{"completed":"2025-03-04T15:03:40.551028Z"},` +
			`"results":{"` + sha + `.X.v1.c1":{"sha256":"` + sha + `","type":` + tc.raw + `,"result":{"score":10}}},"missing_result_keys":[]},` +
			`"api_error_message":"","api_server_version":"4","api_status_code":200}`
		var slow envelope[fullDoc]
		if err := json.Unmarshal([]byte(doc), &slow); err != nil {
			t.Fatalf("%s: encoding/json: %v", name, err)
		}
		got := string(slow.Response.Results[sha+".X.v1.c1"].Type)
		if got != tc.want {
			t.Errorf("%s: encoding/json type %q, want %q", name, got, tc.want)
		}
		var fast fullDoc
		if fast.decodeFast([]byte(doc)) {
			if got := string(fast.Results[sha+".X.v1.c1"].Type); got != tc.want {
				t.Errorf("%s: fast decoder type %q, want %q", name, got, tc.want)
			}
		}
	}
}
