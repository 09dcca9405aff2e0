package downloader_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/pipeline/downloader"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/internal/sim/alsim"
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

// TestPlantedFilesAreReplacedOrGivenOurMode: a valid cART someone else put
// at the final name is kept, but ends with exactly the downloader's mode
// (no setuid, setgid or sticky bit survives); a symlink, hard link or FIFO
// at <sha256>.json is replaced by a file of our own even when the cART is
// already in place, and whatever it pointed at is left untouched.
func TestPlantedFilesAreReplacedOrGivenOurMode(t *testing.T) {
	h := newHarness(t, alsim.Config{Seed: 31, Submissions: 60})
	sha := h.qualifying(t, 1)[0]
	scratch := t.TempDir()
	d, err := downloader.New(h.al, downloader.Config{OutputDir: scratch, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := worker.HandleOnce(context.Background(), d, fileMsg(sha, "", 0)); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(scratch, sha+".cart"))
	if err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(h.parent, "precious.json")
	const precious = `{"not":"yours"}`

	tests := []struct {
		name     string
		cartMode os.FileMode
		json     func(t *testing.T, final string) // plants something at <sha256>.json; nil: nothing
	}{
		{"setuid cART", 0o640 | os.ModeSetuid, nil},
		{"setgid cART", 0o640 | os.ModeSetgid, nil},
		{"sticky, world-readable cART", 0o644 | os.ModeSticky, nil},
		{"cART more private than ours", 0o600, nil},
		{"symlink at the json", 0o640, func(t *testing.T, final string) { symlink(t, outside, final) }},
		{"dangling symlink at the json", 0o640, func(t *testing.T, final string) { symlink(t, filepath.Join(h.parent, "nowhere"), final) }},
		{"hard link at the json", 0o640, func(t *testing.T, final string) {
			if err := os.Link(outside, final); err != nil {
				t.Skip("hard links unsupported:", err)
			}
		}},
		{"FIFO at the json", 0o640, func(t *testing.T, final string) {
			if err := mkfifo(final); err != nil {
				t.Skip("FIFOs unsupported:", err)
			}
		}},
		{"setuid json of our own", 0o640, func(t *testing.T, final string) {
			write(t, final, []byte(precious), 0o640|os.ModeSetuid)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.RemoveAll(h.out)
			if err := os.MkdirAll(h.out, downloader.DirPerm); err != nil {
				t.Fatal(err)
			}
			write(t, outside, []byte(precious), 0o644)
			write(t, h.final(sha), good, tc.cartMode)
			if st, err := os.Stat(h.final(sha)); err != nil || st.Mode() != tc.cartMode {
				t.Skipf("cannot plant mode %v here: got %v, %v", tc.cartMode, st.Mode(), err)
			}
			meta := downloader.MetadataPath(h.final(sha))
			if tc.json != nil {
				tc.json(t, meta)
			}
			d, err := downloader.New(h.al, downloader.Config{OutputDir: h.out, Metadata: true, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			before := h.downloads()
			if _, err := worker.HandleOnce(context.Background(), d, fileMsg(sha, "abc", 7000)); err != nil {
				t.Fatal(err)
			}
			if n := h.downloads() - before; n != 0 {
				t.Errorf("%d download calls for a valid cART in place", n)
			}
			for _, p := range []string{h.final(sha), meta} {
				st, err := os.Lstat(p)
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode() != downloader.FilePerm {
					t.Errorf("%s has mode %v, want exactly %v", filepath.Base(p), st.Mode(), downloader.FilePerm)
				}
			}
			if b, err := os.ReadFile(outside); err != nil || string(b) != precious {
				t.Errorf("file outside OUTPUT_DIR changed: %q, %v", b, err)
			}
			if st, err := os.Stat(outside); err != nil || st.Mode() != 0o644 {
				t.Errorf("file outside OUTPUT_DIR has mode %v, %v", st.Mode(), err)
			}
			h.checkOnly(t, sha+".cart", sha+".json")
		})
	}
}
