package assemblyline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/pkg/messages"
)

// TestSubmissionFullNames: a tree as Assemblyline builds it (a file under
// two parents, a truncated node, escaped non-ASCII names as Flask writes
// them) with hostile and malformed parts mixed in. Names are informational,
// so nothing here fails the submission.
func TestSubmissionFullNames(t *testing.T) {
	const fixtureName = "submission_names.json"
	hs := newHarness(t, fixture(t, fixtureName))
	got, err := hs.c.SubmissionFull(context.Background(), "Nam3sTr33SubmissionId")
	if err != nil {
		t.Fatal(err)
	}
	many := []string{"linebreak.txt"} // the 16 smallest of 25 distinct names
	for i := 1; i <= 15; i++ {
		many = append(many, fmt.Sprintf("n%02d.bin", i))
	}
	want := map[string][]string{
		shaDoc: {"invoice.doc"},
		// Extracted twice, once under a node whose key is not a hash (its
		// children still count); the right-to-left override is removed.
		shaExe:                  {"nested under a bad key.exe", "payload.exe", "photogpj.exe"},
		strings.Repeat("c", 64): {"ARCHIVE.ZIP", "archive.zip", "счёт.zip"}, // an uppercase key is the same file
		strings.Repeat("d", 64): many,
		strings.Repeat("f", 64): {"kept.txt"}, // beside names that are not strings
	}
	if all := got.names.all(); !reflect.DeepEqual(all, want) {
		t.Errorf("names:\n got %q\nwant %q", all, want)
	}
	if n := got.Names(strings.ToUpper(shaExe)); n != nil {
		t.Errorf("Names takes lowercase hashes only, got %q", n)
	}

	// Both decoders read it alike, and this realistic document stays on
	// the fast path even with its escaped names.
	b, err := os.ReadFile(filepath.Join("testdata", fixtureName))
	if err != nil {
		t.Fatal(err)
	}
	if !checkFastAgainstStd(t, wrapEnvelope(b)) {
		t.Error("the fast path refused the names fixture")
	}
}

// TestFileNamesHostile feeds both decoders trees built to hurt: huge,
// numerous, control-laden and invalid names, deep trees, repeated and
// case-folded keys. Whenever the fast path accepts, it must agree with
// encoding/json (checkFastAgainstStd); the names are what encoding/json's
// path decodes.
func TestFileNamesHostile(t *testing.T) {
	sha := strings.Repeat("a", 64)
	node := func(names string) string { return `{"` + sha + `": {"name": [` + names + `], "children": {}}}` }
	doc := func(tree string) []byte {
		return wrapEnvelope([]byte(`{"sid": "` + testSID + `", "state": "completed", "results": {}, "file_tree": ` + tree + `}`))
	}
	quoted := func(names ...string) string {
		q := make([]string, len(names))
		for i, n := range names {
			q[i] = `"` + n + `"`
		}
		return strings.Join(q, ", ")
	}
	var numerous []string
	for i := 10000; i > 0; i-- {
		numerous = append(numerous, fmt.Sprintf("f%05d", i))
	}
	deep := strings.Repeat(`{"`+strings.Repeat("b", 64)+`": {"children": `, 4000) + node(`"bottom.bin"`) + strings.Repeat("}}", 4000)
	var wide strings.Builder
	wide.WriteString("{")
	for i := range 5000 {
		if i > 0 {
			wide.WriteString(",")
		}
		fmt.Fprintf(&wide, `"%064x": {"name": ["w.bin"]}`, i)
	}
	wide.WriteString("}")

	tests := []struct {
		name string
		body []byte
		want map[string][]string // nil: no names at all
		fast bool                // whether the fast path takes it
	}{
		{"plain", doc(node(`"a.exe"`)), map[string][]string{sha: {"a.exe"}}, true},
		{"huge name cut to MaxNameBytes", doc(node(quoted(strings.Repeat("é", 1<<19)))), map[string][]string{sha: {strings.Repeat("é", messages.MaxNameBytes/2)}}, true},
		{"10000 names, the 16 smallest kept", doc(node(quoted(numerous...))), map[string][]string{sha: slices.Sorted(slices.Values(numerous))[:messages.MaxNames]}, true},
		{"5000 files", doc(wide.String()), nil, true}, // checked below
		{"escaped control characters removed", doc(node(quoted(`a\u0000b\tc\nd\u001b[0m\u007f\u0085\u009b.exe`))), map[string][]string{sha: {"abcd[0m.exe"}}, true},
		{"raw DEL and C1 removed", doc(node(quoted("a\x7fb\xc2\x85c"))), map[string][]string{sha: {"abc"}}, true},
		{"bidi controls removed", doc(node(quoted(`invoice\u202efdp.exe`, "\u2066x\u2069\u200e"))), map[string][]string{sha: {"invoicefdp.exe", "x"}}, true},
		{"invalid UTF-8, one U+FFFD per byte", doc(node(quoted("a\xff\xfeb", "\xed\xa0\x80"))), map[string][]string{sha: {"a\ufffd\ufffdb", "\ufffd\ufffd\ufffd"}}, true},
		{"lone surrogate escape", doc(node(quoted(`x\ud800y`))), map[string][]string{sha: {"x\ufffdy"}}, true},
		{"only control characters: dropped", doc(node(quoted(`\u0000\u0001`, ``))), nil, true},
		{"duplicates merged", doc(node(quoted("b", "a", "b", "a"))), map[string][]string{sha: {"a", "b"}}, true},
		{"names that are not strings", doc(node(`1e400, -0, true, null, {"x": "y"}, ["z"], "ok"`)), map[string][]string{sha: {"ok"}}, true},
		{"name not a list", doc(`{"` + sha + `": {"name": "a.exe", "children": null}}`), nil, true},
		{"node not an object", doc(`{"` + sha + `": ["a.exe"]}`), nil, true},
		{"tree not an object", doc(`[{"` + sha + `": {"name": ["a.exe"]}}]`), nil, true},
		{"tree null", doc(`null`), nil, true},
		{"key not a hash", doc(`{"../../etc/passwd": {"name": ["a.exe"]}}`), nil, true},
		{"4000 levels deep", doc(deep), map[string][]string{sha: {"bottom.bin"}}, true},
		{"repeated name key: both read", doc(`{"` + sha + `": {"name": ["a"], "name": ["b"]}}`), map[string][]string{sha: {"a", "b"}}, true},
		{"repeated file_tree: both read", wrapEnvelope([]byte(`{"sid": "` + testSID + `", "file_tree": ` + node(`"a"`) + `, "state": "completed", "file_tree": ` + node(`"b"`) + `}`)), map[string][]string{sha: {"a", "b"}}, true},
		{"keys are exact", doc(`{"` + sha + `": {"Name": ["a"], "NAME": ["b"], "children": {"` + sha + `": {"names": ["c"]}}}}`), nil, true},
		// encoding/json's ground, where the fast path defers:
		{"escaped key", doc(`{"\u0061` + sha[1:] + `": {"name": ["a.exe"]}}`), map[string][]string{sha: {"a.exe"}}, false},
		{"case-folded file_tree", wrapEnvelope([]byte(`{"sid": "` + testSID + `", "state": "completed", "File_Tree": ` + node(`"a"`) + `}`)), map[string][]string{sha: {"a"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if fast := checkFastAgainstStd(t, tt.body); fast != tt.fast {
				t.Errorf("fast path took it: %v, want %v", fast, tt.fast)
			}
			var env envelope[fullDoc]
			if err := json.Unmarshal(tt.body, &env); err != nil {
				t.Fatalf("encoding/json: %v", err)
			}
			got := env.Response.Names.all()
			if tt.name == "5000 files" {
				if len(got) != 5000 || !slices.Equal(got[fmt.Sprintf("%064x", 4999)], []string{"w.bin"}) {
					t.Errorf("%d files named", len(got))
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("names:\n got %q\nwant %q", got, tt.want)
			}
			checkNames(t, got)
		})
	}
}

// checkNames holds for any names the client hands out: a valid hash each,
// at most MaxNames, each as CleanName leaves it, sorted and unique — what
// the files message accepts.
func checkNames(t *testing.T, names map[string][]string) {
	t.Helper()
	for sha, list := range names {
		if err := messages.ValidateSHA256(sha); err != nil {
			t.Errorf("names for %q: %v", sha, err)
		}
		if len(list) == 0 || len(list) > messages.MaxNames {
			t.Errorf("%s has %d names", sha, len(list))
		}
		for i, n := range list {
			if n == "" || messages.CleanName(n) != n {
				t.Errorf("%s: name %q is not clean", sha, n)
			}
			if i > 0 && list[i-1] >= n {
				t.Errorf("%s: names not sorted and unique: %q", sha, list)
			}
		}
		if err := (messages.File{SHA256: sha, Provenance: messages.Provenance{Names: list}}).Validate(); err != nil {
			t.Errorf("%s: the files message refuses its names: %v", sha, err)
		}
	}
}

// all returns every file's names, keyed by hash; nil when none.
func (n *fileNames) all() map[string][]string {
	if len(n.files) == 0 {
		return nil
	}
	m := make(map[string][]string, len(n.files))
	for _, f := range n.files {
		sha := string(f.sha[:])
		if got := n.of(sha); !slices.Equal(got, f.names) {
			panic("fileNames.of(" + sha + ") disagrees with its entry")
		}
		m[sha] = f.names
	}
	return m
}
