package downloader_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/alsim"
	"github.com/alharvest/alharvest/internal/downloader"
	"github.com/alharvest/alharvest/internal/worker"
	"github.com/alharvest/alharvest/pkg/messages"
)

// TestMetadataCarriesProvenance: the collected event and <sha256>.json
// carry the provenance of the files message unchanged, names included.
// Names are attacker-chosen text: one that looks like a path stays data in
// the JSON and nothing but <sha256>.cart and <sha256>.json appears; one
// with a control character is refused before anything is fetched.
func TestMetadataCarriesProvenance(t *testing.T) {
	h := newHarness(t, alsim.Config{Seed: 31, Submissions: 60})
	d, err := downloader.New(h.al, downloader.Config{OutputDir: h.out, Metadata: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	sha := h.qualifying(t, 1)[0]
	prov := messages.Provenance{
		Server:    "https://al.example.org",
		Type:      "executable/windows/pe32",
		Completed: time.Date(2025, 3, 4, 15, 3, 40, 551028000, time.UTC),
		Names:     []string{"../../../../tmp/evil.exe", `C:\Users\x\invoice.exe`, "<script>.js", "счёт.exe"},
	}
	msg, err := messages.NewFileMsg(messages.File{SHA256: sha, SID: "4EZNjXD44dmYMRbXYPAe6t", Score: 7123, Provenance: prov})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := worker.HandleOnce(context.Background(), d, rawMsg(string(msg.Data)))
	if err != nil {
		t.Fatal(err)
	}
	h.checkEvent(t, outs, sha, "4EZNjXD44dmYMRbXYPAe6t", 7123)
	ev, err := messages.DecodeCollected(outs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ev.Provenance, prov) || ev.CollectedAt.IsZero() {
		t.Errorf("event provenance %+v at %v, want %+v", ev.Provenance, ev.CollectedAt, prov)
	}
	b, err := os.ReadFile(downloader.MetadataPath(h.final(sha)))
	if err != nil {
		t.Fatal(err)
	}
	var meta messages.Collected
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatalf("metadata file: %v", err)
	}
	if !reflect.DeepEqual(meta, ev) {
		t.Errorf("metadata file %+v, event %+v", meta, ev)
	}
	h.checkOnly(t, sha+".cart", sha+".json")

	bad := strings.Replace(string(msg.Data), "evil.exe", `evil\n.exe`, 1)
	other := h.qualifying(t, 2)[1]
	bad = strings.ReplaceAll(bad, sha, other)
	before := h.downloads()
	if _, err := worker.HandleOnce(context.Background(), d, rawMsg(bad)); !errors.Is(err, messages.ErrInvalid) {
		t.Errorf("a name with a newline: %v, want invalid", err)
	}
	if n := h.downloads() - before; n != 0 {
		t.Errorf("a refused message caused %d downloads", n)
	}
	h.checkOnly(t, sha+".cart", sha+".json")
}
