package messages

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestProvenanceIsOptionalAndBounded(t *testing.T) {
	sha := strings.Repeat("b", 64)
	// An older producer's message: no provenance, still valid.
	old, err := DecodeFile([]byte(`{"sha256":"` + sha + `","sid":"abc","score":7000}`))
	if err != nil || old.Provenance != (Provenance{}) {
		t.Fatalf("old message: %+v, %v", old, err)
	}
	completed := time.Date(2025, 3, 4, 15, 3, 40, 551028000, time.UTC)
	f := File{SHA256: sha, SID: "abc", Score: 7000, Provenance: Provenance{Server: "https://al.example.org", Type: "executable/windows/pe32", Completed: completed}}
	m, err := NewFileMsg(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"server":"https://al.example.org","type":"executable/windows/pe32","completed":"2025-03-04T15:03:40.551028Z"`; !strings.Contains(string(m.Data), want) {
		t.Errorf("payload %s lacks %s", m.Data, want)
	}
	back, err := DecodeFile(m.Data)
	if err != nil || back != f {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	b, _ := json.Marshal(File{SHA256: sha})
	if strings.Contains(string(b), "completed") || strings.Contains(string(b), "server") {
		t.Errorf("empty provenance is not omitted: %s", b)
	}
	for name, p := range map[string]Provenance{
		"long type":   {Type: strings.Repeat("x", 2000)},
		"long server": {Server: strings.Repeat("x", 2000)},
		"bad utf-8":   {Type: "\xff"},
	} {
		if err := (File{SHA256: sha, Provenance: p}).Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if err := (Collected{SHA256: sha, Path: "/x", Provenance: p}).Validate(); err == nil {
			t.Errorf("%s: collected accepted", name)
		}
	}
}
