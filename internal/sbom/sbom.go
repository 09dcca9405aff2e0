// Package sbom writes a CycloneDX software bill of materials for alharvest:
// the Go modules a release binary links (from its embedded build
// information) or the whole module graph (`go list -m -json all`). It needs
// no network and no tool beyond the Go toolchain, so the release build can
// produce it offline and reproducibly.
package sbom

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// Module is one Go module, as `go list -m -json` and debug.BuildInfo name it.
type Module struct {
	Path    string
	Version string
	// Sum is the go.sum hash ("h1:..."), when known.
	Sum     string
	Replace *Module
	// Main marks the main module (the subject of the SBOM).
	Main bool
}

// FromBuildInfo lists the main module and every module linked into a binary.
func FromBuildInfo(bi *debug.BuildInfo) []Module {
	out := []Module{{Path: bi.Main.Path, Version: bi.Main.Version, Sum: bi.Main.Sum, Main: true}}
	for _, d := range bi.Deps {
		out = append(out, fromDebug(d))
	}
	return out
}

func fromDebug(d *debug.Module) Module {
	m := Module{Path: d.Path, Version: d.Version, Sum: d.Sum}
	if d.Replace != nil {
		r := fromDebug(d.Replace)
		m.Replace = &r
	}
	return m
}

// ReadGoList decodes the JSON stream of `go list -m -json all`.
func ReadGoList(r io.Reader) ([]Module, error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	var out []Module
	for {
		var m Module
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("sbom: reading go list output: %w", err)
		}
		if m.Path == "" {
			return nil, errors.New("sbom: go list output has a module without a path")
		}
		out = append(out, m)
	}
}

// Options adjust the document.
type Options struct {
	// Version names the release of the main module (the build's
	// version.Version); empty keeps the module's own version.
	Version string
	// Time stamps the document; the zero time leaves the stamp out, which
	// keeps the document byte-for-byte reproducible.
	Time time.Time
}

// CycloneDX renders the modules as a CycloneDX 1.5 JSON document. The main
// module is the document's subject; every other module is a library
// component, sorted, once. The serial number is derived from the content,
// so the same inputs always give the same bytes.
func CycloneDX(mods []Module, o Options) ([]byte, error) {
	var main *Module
	byRef := map[string]component{}
	for i := range mods {
		m := mods[i]
		if m.Main {
			if main == nil {
				main = &mods[i]
			}
			continue
		}
		c := toComponent(m)
		byRef[c.BOMRef] = c
	}
	if main == nil {
		return nil, errors.New("sbom: no main module")
	}
	subject := toComponent(*main)
	subject.Type = "application"
	if o.Version != "" {
		subject.Version = o.Version
		subject.PURL = purl(main.Path, o.Version)
		subject.BOMRef = subject.PURL
	}
	comps := make([]component, 0, len(byRef))
	for _, c := range byRef {
		comps = append(comps, c)
	}
	slices.SortFunc(comps, func(a, b component) int { return strings.Compare(a.BOMRef, b.BOMRef) })
	deps := make([]string, len(comps))
	for i, c := range comps {
		deps[i] = c.BOMRef
	}

	doc := document{
		BOMFormat: "CycloneDX", SpecVersion: "1.5", Version: 1,
		Metadata: metadata{
			Component: subject,
			Tools:     tools{Components: []component{{Type: "application", Name: "alharvest-sbom", BOMRef: "alharvest-sbom"}}},
		},
		Components:   comps,
		Dependencies: []dependency{{Ref: subject.BOMRef, DependsOn: deps}},
	}
	if !o.Time.IsZero() {
		doc.Metadata.Timestamp = o.Time.UTC().Format(time.RFC3339)
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	doc.SerialNumber = serial(body)
	return json.MarshalIndent(doc, "", "  ")
}

// serial makes an RFC 4122 URN (version 5 layout) from the document's hash.
func serial(body []byte) string {
	h := sha256.Sum256(body)
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func toComponent(m Module) component {
	eff := m
	if m.Replace != nil {
		// What is built is the replacement; the original path stays visible.
		eff = *m.Replace
	}
	c := component{Type: "library", Name: m.Path, Version: eff.Version, PURL: purl(eff.Path, eff.Version)}
	c.BOMRef = c.PURL
	if eff.Sum != "" {
		c.Properties = append(c.Properties, property{Name: "go:module:sum", Value: eff.Sum})
	}
	if m.Replace != nil {
		c.Properties = append(c.Properties, property{Name: "go:module:replaced-by", Value: eff.Path})
	}
	return c
}

// purl is the package URL of a Go module (pkg:golang/<path>@<version>).
func purl(path, version string) string {
	p := "pkg:golang/" + path
	if version != "" && version != "(devel)" {
		p += "@" + version
	}
	return p
}

type document struct {
	BOMFormat    string       `json:"bomFormat"`
	SpecVersion  string       `json:"specVersion"`
	SerialNumber string       `json:"serialNumber,omitempty"`
	Version      int          `json:"version"`
	Metadata     metadata     `json:"metadata"`
	Components   []component  `json:"components"`
	Dependencies []dependency `json:"dependencies"`
}

type metadata struct {
	Timestamp string    `json:"timestamp,omitempty"`
	Tools     tools     `json:"tools"`
	Component component `json:"component"`
}

type tools struct {
	Components []component `json:"components"`
}

type component struct {
	Type       string     `json:"type"`
	BOMRef     string     `json:"bom-ref"`
	Name       string     `json:"name"`
	Version    string     `json:"version,omitempty"`
	PURL       string     `json:"purl,omitempty"`
	Properties []property `json:"properties,omitempty"`
}

type property struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type dependency struct {
	Ref       string   `json:"ref"`
	DependsOn []string `json:"dependsOn"`
}
