package messages

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestProvenanceIsOptionalAndBounded(t *testing.T) {
	sha := strings.Repeat("b", 64)
	// An older producer's message: no provenance, still valid.
	old, err := DecodeFile([]byte(`{"sha256":"` + sha + `","sid":"abc","score":7000}`))
	if err != nil || !reflect.DeepEqual(old.Provenance, Provenance{}) {
		t.Fatalf("old message: %+v, %v", old, err)
	}
	completed := time.Date(2025, 3, 4, 15, 3, 40, 551028000, time.UTC)
	f := File{SHA256: sha, SID: "abc", Score: 7000, Provenance: Provenance{Server: "https://al.example.org", Type: "executable/windows/pe32", Completed: completed, Names: []string{"invoice.doc", "изображение.jpg"}}}
	m, err := NewFileMsg(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"server":"https://al.example.org","type":"executable/windows/pe32","completed":"2025-03-04T15:03:40.551028Z","names":["invoice.doc","изображение.jpg"]`; !strings.Contains(string(m.Data), want) {
		t.Errorf("payload %s lacks %s", m.Data, want)
	}
	back, err := DecodeFile(m.Data)
	if err != nil || !reflect.DeepEqual(back, f) {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	b, _ := json.Marshal(File{SHA256: sha})
	if strings.Contains(string(b), "completed") || strings.Contains(string(b), "server") || strings.Contains(string(b), "names") {
		t.Errorf("empty provenance is not omitted: %s", b)
	}
	for name, p := range map[string]Provenance{
		"long type":   {Type: strings.Repeat("x", 2000)},
		"long server": {Server: strings.Repeat("x", 2000)},
		"bad utf-8":   {Type: "\xff"},
		"17 names":    {Names: strings.Split("a b c d e f g h i j k l m n o p q", " ")},
		"empty name":  {Names: []string{""}},
		"long name":   {Names: []string{strings.Repeat("é", MaxNameBytes/2+1)}},
		"name utf-8":  {Names: []string{"a\xffb"}},
		"name NUL":    {Names: []string{"a\x00b"}},
		"name LF":     {Names: []string{"invoice\n.doc"}},
		"name C1":     {Names: []string{"a\u0085b"}},
		"name RLO":    {Names: []string{"photo\u202egpj.exe"}},
		"name LS":     {Names: []string{"a\u2028b"}},
	} {
		if err := (File{SHA256: sha, Provenance: p}).Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if err := (Collected{SHA256: sha, Path: "/x", Provenance: p}).Validate(); err == nil {
			t.Errorf("%s: collected accepted", name)
		}
	}
}

func TestNamesAtTheirBoundsAreValid(t *testing.T) {
	sha := strings.Repeat("b", 64)
	names := make([]string, MaxNames)
	for i := range names {
		// The worst case for the payload: every byte escaped by JSON.
		names[i] = strings.Repeat("<", MaxNameBytes-1) + string(rune('a'+i))
	}
	c := Collected{SHA256: sha, Path: "/x/" + sha + ".cart", Provenance: Provenance{Server: strings.Repeat("s", maxProvenanceText), Type: strings.Repeat("t", maxProvenanceText), Names: names}}
	m, err := NewCollectedMsg(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Data) > MaxMessageSize {
		t.Fatalf("largest valid event is %d bytes, over MaxMessageSize", len(m.Data))
	}
	back, err := DecodeCollected(m.Data)
	if err != nil || !slices.Equal(back.Names, names) {
		t.Fatalf("round trip: %v, %q", err, back.Names)
	}
	// An explicit empty list decodes as no list, as its re-encoding does.
	f, err := DecodeFile([]byte(`{"sha256":"` + sha + `","names":[]}`))
	if err != nil || f.Names != nil {
		t.Errorf("empty names: %#v, %v", f.Names, err)
	}
}

func TestCleanName(t *testing.T) {
	long := strings.Repeat("a", MaxNameBytes-1) + "é" // the cut falls inside é
	for _, tc := range []struct{ in, want string }{
		{"invoice.doc", "invoice.doc"},
		{"изображение.jpg", "изображение.jpg"},
		{`..\..\Windows\System32\evil.dll`, `..\..\Windows\System32\evil.dll`}, // data, never a path
		{"../../etc/passwd", "../../etc/passwd"},
		{" spaced .exe ", " spaced .exe "},
		{"tab\there\r\n", "tabhere"},
		{"nul\x00byte", "nulbyte"},
		{"esc\x1b[31mred\x1b[0m", "esc[31mred[0m"},
		{"del\x7f", "del"},
		{"c1\u0085\u009b", "c1"},
		{"photo\u202egpj.exe", "photogpj.exe"},
		{"\u2066iso\u2069\u200e\u200f\u061c", "iso"},
		{"line\u2028para\u2029", "linepara"},
		{"bad\xff\xfeutf8", "bad\ufffd\ufffdutf8"},
		{"\ufffd kept", "\ufffd kept"},
		{"\x00\x01\u202e", ""},
		{long, strings.Repeat("a", MaxNameBytes-1)},
		{strings.Repeat("\xff", MaxNameBytes), strings.Repeat("\ufffd", MaxNameBytes/3)},
		{strings.Repeat("x", 10000), strings.Repeat("x", MaxNameBytes)},
	} {
		got := CleanName(tc.in)
		if got != tc.want {
			t.Errorf("CleanName(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if CleanName(got) != got {
			t.Errorf("CleanName(%q) is not stable", tc.in)
		}
		if got != "" {
			if err := (File{SHA256: strings.Repeat("b", 64), Provenance: Provenance{Names: []string{got}}}).Validate(); err != nil {
				t.Errorf("cleaned %q does not validate: %v", got, err)
			}
		}
	}
}
