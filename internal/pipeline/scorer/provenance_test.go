package scorer_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/pipeline/scorer"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
	"github.com/alharvest/alharvest/pkg/messages"
)

// TestHandleCarriesProvenance: each files message says where its file came
// from: the server, the submission's times.completed, the type and the
// names Assemblyline gives the file. A file extracted under two parents
// under two names carries both, cleaned of the right-to-left override
// that disguises its extension; a file the tree does not name carries
// none. The document is an Assemblyline envelope written out, so the
// names travel the client's real decoding.
func TestHandleCarriesProvenance(t *testing.T) {
	const sid = "4EZNjXD44dmYMRbXYPAe6t"
	doc, exe, bare := strings.Repeat("d", 64), strings.Repeat("e", 64), strings.Repeat("b", 64)
	body := `{"api_response": {"sid": "` + sid + `", "state": "completed", "max_score": 9000,
		"times": {"submitted": "2025-03-04T15:02:11Z", "completed": "2025-03-04T15:03:40.551028Z"},
		"results": {
			"` + doc + `.Extract.v4_7_0_stable2.c0": {"sha256": "` + doc + `", "type": "document/office/word", "result": {"score": 10}},
			"` + exe + `.YARA.v4_7_0_stable3.c0": {"sha256": "` + exe + `", "type": "executable/windows/pe32", "result": {"score": 9000}},
			"` + bare + `.YARA.v4_7_0_stable3.c0": {"sha256": "` + bare + `", "result": {"score": 9000}}},
		"file_tree": {"` + doc + `": {"name": ["invoice.doc"], "type": "document/office/word", "sha256": "` + doc + `", "size": 1, "truncated": false, "score": 10,
			"children": {
				"` + exe + `": {"name": ["payload.exe"], "sha256": "` + exe + `", "children": {}, "truncated": false, "score": 9000},
				"` + strings.Repeat("c", 64) + `": {"name": ["archive.zip"], "children": {
					"` + exe + `": {"name": ["invoice\u202efdp.exe"], "sha256": "` + exe + `", "children": {}, "truncated": true, "score": 9000}}}}}},
		"missing_result_keys": []},
		"api_error_message": "", "api_server_version": "4.7.4.stable5", "api_status_code": 200}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-APIKEY") != alsim.DefaultAPIKey || r.URL.Path != "/api/v4/submission/full/"+sid+"/" {
			http.Error(w, "unexpected request", http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	s := scorer.New(alsimtest.Client(t, srv.URL, 3), scorer.Config{Threshold: 7000, Server: srv.URL, Logger: quiet})

	outs, err := worker.HandleOnce(context.Background(), s, sidMsg(jsonSID(sid)))
	if err != nil {
		t.Fatal(err)
	}
	completed := time.Date(2025, 3, 4, 15, 3, 40, 551028000, time.UTC)
	want := []messages.File{
		{SHA256: bare, SID: sid, Score: 9000, Provenance: messages.Provenance{Server: srv.URL, Completed: completed}},
		{SHA256: exe, SID: sid, Score: 9000, Provenance: messages.Provenance{Server: srv.URL, Type: "executable/windows/pe32", Completed: completed,
			Names: []string{"invoicefdp.exe", "payload.exe"}}},
	}
	var got []messages.File
	for _, m := range outs {
		f, err := messages.DecodeFile(m.Data)
		if err != nil {
			t.Fatalf("%s: %v", m.Data, err)
		}
		got = append(got, f)
		if f.SHA256 == bare && strings.Contains(string(m.Data), `"names"`) {
			t.Errorf("a file without names has a names field: %s", m.Data)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("files messages:\n got %+v\nwant %+v", got, want)
	}
}
