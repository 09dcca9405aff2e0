package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/cli"
)

func testLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// stringConsts returns the string constants of the Go files in dir whose
// names start with one of prefixes.
func stringConsts(t *testing.T, dir string, prefixes ...string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, id := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				for _, p := range prefixes {
					if strings.HasPrefix(id.Name, p) {
						v, _ := strconv.Unquote(lit.Value)
						out[id.Name] = v
					}
				}
			}
			return true
		})
	}
	return out
}

// Every subject, stream, consumer, bucket and header the code names
// appears in the AsyncAPI document (with its schemas, as printed).
func TestDocumentNamesEveryConstant(t *testing.T) {
	bundle, err := Document()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(bundle); err != nil {
		t.Fatal(err)
	}
	doc := buf.Bytes()
	consts := stringConsts(t, "../../pkg/messages", "Subject", "Stream", "Consumer", "Bucket", "Header", "Stage")
	for k, v := range stringConsts(t, "../worker", "Header") {
		consts["worker."+k] = v
	}
	if len(consts) < 25 {
		t.Fatalf("found only %d constants: %v", len(consts), consts)
	}
	for name, v := range consts {
		if !bytes.Contains(doc, []byte(v)) {
			t.Errorf("%s = %q does not appear in the contract", name, v)
		}
	}
}

// The document is well formed and every reference in it resolves: the
// whole bundle, and each subject's part with everything inlined.
func TestCommandPrintsTheContract(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := cli.Run(context.Background(), Command, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var doc map[string]any
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["asyncapi"] != "3.0.0" {
		t.Errorf("asyncapi %v", doc["asyncapi"])
	}
	for _, ref := range refs(doc) {
		if !strings.HasPrefix(ref, "#/") {
			t.Errorf("the printed document still refers to %q", ref)
		}
	}
	if len(Subjects()) < 6 {
		t.Errorf("subjects %v", Subjects())
	}
	for _, subject := range []string{"alharvest.sids", "alharvest.files", "alharvest.collected", "alharvest.dlq.feed", "alharvest.feed.archive", "alharvest.deferred.scorer"} {
		out.Reset()
		if code := cli.Run(context.Background(), Command, []string{subject}, &out, &errOut); code != 0 {
			t.Errorf("%s: exit %d: %s", subject, code, errOut.String())
			continue
		}
		var ch map[string]any
		if err := json.Unmarshal(out.Bytes(), &ch); err != nil {
			t.Fatal(err)
		}
		if r := refs(ch); len(r) > 0 {
			t.Errorf("%s: unresolved references %v", subject, r)
		}
	}
	for _, bad := range [][]string{{"alharvest.nothing"}, {"alharvest.dlq.a.b"}, {"a", "b"}} {
		errOut.Reset()
		if code := cli.Run(context.Background(), Command, bad, &out, &errOut); code != 2 || errOut.Len() == 0 {
			t.Errorf("contract %v: exit %d, %q", bad, code, errOut.String())
		}
	}
}

func refs(v any) []string {
	var out []string
	switch t := v.(type) {
	case map[string]any:
		for k, v := range t {
			if s, ok := v.(string); ok && k == "$ref" {
				out = append(out, s)
				continue
			}
			out = append(out, refs(v)...)
		}
	case []any:
		for _, v := range t {
			out = append(out, refs(v)...)
		}
	}
	return out
}
