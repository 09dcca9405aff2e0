package sbom

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// requires reads the module paths go.mod requires (both blocks).
func requires(t *testing.T, gomod string) map[string]string {
	t.Helper()
	f, err := os.Open(gomod)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "require (":
			in = true
		case in && line == ")":
			in = false
		case in || strings.HasPrefix(line, "require "):
			fields := strings.Fields(strings.TrimPrefix(line, "require "))
			if len(fields) >= 2 {
				out[fields[0]] = fields[1]
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("go.mod requires nothing?")
	}
	return out
}

type doc struct {
	BOMFormat    string `json:"bomFormat"`
	SpecVersion  string `json:"specVersion"`
	SerialNumber string `json:"serialNumber"`
	Metadata     struct {
		Timestamp string    `json:"timestamp"`
		Component component `json:"component"`
	} `json:"metadata"`
	Components   []component  `json:"components"`
	Dependencies []dependency `json:"dependencies"`
}

func TestModuleGraphListsGoMod(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-mod=readonly", "-m", "-json", "all")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("go list -m all unavailable here: %v", err)
	}
	mods, err := ReadGoList(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	b, err := CycloneDX(mods, Options{Version: "v9.9.9"})
	if err != nil {
		t.Fatal(err)
	}
	var d doc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if d.BOMFormat != "CycloneDX" || d.SpecVersion != "1.5" || !strings.HasPrefix(d.SerialNumber, "urn:uuid:") {
		t.Errorf("header = %q %q %q", d.BOMFormat, d.SpecVersion, d.SerialNumber)
	}
	if c := d.Metadata.Component; c.Name != "github.com/alharvest/alharvest" || c.Version != "v9.9.9" || c.Type != "application" {
		t.Errorf("subject = %+v", c)
	}
	if d.Metadata.Timestamp != "" {
		t.Errorf("timestamp %q without Options.Time: not reproducible", d.Metadata.Timestamp)
	}
	have := map[string]string{}
	for _, c := range d.Components {
		have[c.Name] = c.Version
		if c.PURL != "pkg:golang/"+c.Name+"@"+c.Version && !hasProp(c, "go:module:replaced-by") {
			t.Errorf("purl %q for %s@%s", c.PURL, c.Name, c.Version)
		}
	}
	for path, v := range requires(t, filepath.Join(root, "go.mod")) {
		if have[path] != v {
			t.Errorf("go.mod requires %s %s; SBOM has %q", path, v, have[path])
		}
	}
	if len(d.Dependencies) != 1 || len(d.Dependencies[0].DependsOn) != len(d.Components) {
		t.Errorf("dependencies do not list every component")
	}

	again, _ := CycloneDX(mods, Options{Version: "v9.9.9"})
	if !bytes.Equal(b, again) {
		t.Error("same input, different SBOM bytes")
	}
}

func hasProp(c component, name string) bool {
	for _, p := range c.Properties {
		if p.Name == name {
			return true
		}
	}
	return false
}

func TestFromBuildInfo(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("no build info")
	}
	mods := FromBuildInfo(bi)
	b, err := CycloneDX(mods, Options{Time: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	var d doc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.Metadata.Timestamp != "2023-11-14T22:13:20Z" {
		t.Errorf("timestamp = %q", d.Metadata.Timestamp)
	}
	if len(d.Components) != len(bi.Deps) {
		t.Errorf("%d components for %d linked modules", len(d.Components), len(bi.Deps))
	}
	for _, dep := range bi.Deps {
		found := false
		for _, c := range d.Components {
			found = found || c.Name == dep.Path
		}
		if !found {
			t.Errorf("linked module %s missing", dep.Path)
		}
	}
}

func TestErrors(t *testing.T) {
	for name, in := range map[string]string{
		"truncated": `{"Path":"a"`,
		"no path":   `{"Version":"v1"}`,
	} {
		if _, err := ReadGoList(strings.NewReader(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := CycloneDX([]Module{{Path: "x", Version: "v1"}}, Options{}); err == nil {
		t.Error("no main module: no error")
	}
}
