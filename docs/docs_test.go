// Package docs holds no code: its tests keep the pages in this directory and
// the README true. Links must resolve, and every command a page shows for
// one of the module's binaries must be one the built binary accepts.
package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// root is the module's directory, seen from this package.
const root = ".."

// pending are pages and subcommands that other branches add. The checks
// accept them while they are missing and fail once they exist, so that the
// entry is removed as soon as it is no longer needed.
var pending = map[string]string{}

// page is one markdown file, its path relative to the module root.
type page struct {
	path string
	text string
}

// pages returns README.md and every docs/*.md.
func pages(t *testing.T) []page {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	paths = append([]string{filepath.Join(root, "README.md")}, paths...)
	var ps []page
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		ps = append(ps, page{path: filepath.ToSlash(rel), text: string(b)})
	}
	if len(ps) < 10 {
		t.Fatalf("found %d pages; has docs/ moved?", len(ps))
	}
	return ps
}

var (
	linkRe    = regexp.MustCompile(`\[[^\]]*\]\(([^)\s]+)\)`)
	headingRe = regexp.MustCompile("(?m)^#{1,6} +(.+?) *$")
	fenceRe   = regexp.MustCompile("(?ms)^```.*?^```")
)

// anchors returns the GitHub anchors of a markdown text's headings.
func anchors(text string) map[string]bool {
	text = fenceRe.ReplaceAllString(text, "") // a "# comment" in a code block is no heading
	seen := map[string]int{}
	out := map[string]bool{}
	for _, m := range headingRe.FindAllStringSubmatch(text, -1) {
		a := slug(m[1])
		if n := seen[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// slug is GitHub's heading anchor: lower case, spaces to hyphens, and
// everything but letters, digits, hyphens and underscores dropped.
func slug(h string) string {
	h = strings.ReplaceAll(h, "`", "")
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestLinksResolve checks every relative link of every page: the file
// exists, and so does the heading an anchor names.
func TestLinksResolve(t *testing.T) {
	ps := pages(t)
	texts := map[string]string{}
	for _, p := range ps {
		texts[p.path] = p.text
	}
	for _, p := range ps {
		body := fenceRe.ReplaceAllString(p.text, "")
		for _, m := range linkRe.FindAllStringSubmatch(body, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			dest := p.path
			if file != "" {
				dest = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(p.path), file)))
			}
			if strings.HasPrefix(dest, "../") {
				t.Errorf("%s: link %s leaves the repository", p.path, target)
				continue
			}
			if _, err := os.Stat(filepath.Join(root, dest)); err != nil {
				if why, ok := pending[dest]; ok {
					t.Logf("%s: link %s: %s comes from another branch", p.path, target, why)
					continue
				}
				t.Errorf("%s: link %s: %s does not exist", p.path, target, dest)
				continue
			}
			if anchor == "" || !strings.HasSuffix(dest, ".md") {
				continue
			}
			text, ok := texts[dest]
			if !ok {
				b, err := os.ReadFile(filepath.Join(root, dest))
				if err != nil {
					t.Fatal(err)
				}
				text = string(b)
			}
			if !anchors(text)[anchor] {
				t.Errorf("%s: link %s: %s has no heading with the anchor #%s", p.path, target, dest, anchor)
			}
		}
	}
	for dest, why := range pending {
		if strings.HasSuffix(dest, ".md") {
			if _, err := os.Stat(filepath.Join(root, dest)); err == nil {
				t.Errorf("%s (%s) exists now: remove it from pending", dest, why)
			}
		}
	}
}

// TestAnchors checks slug against headings whose GitHub anchors are known.
func TestAnchors(t *testing.T) {
	for h, want := range map[string]string{
		"Assemblyline (every binary)":                     "assemblyline-every-binary",
		"Downloader and output (downloader, alharvest)":   "downloader-and-output-downloader-alharvest",
		"Size concurrency against the Assemblyline quota": "size-concurrency-against-the-assemblyline-quota",
		"Re-publishing and collecting again":              "re-publishing-and-collecting-again",
		"`alharvest feed`: the handing over":              "alharvest-feed-the-handing-over",
	} {
		if got := slug(h); got != want {
			t.Errorf("slug(%q) = %q, want %q", h, got, want)
		}
	}
	got := anchors("# A\n## Twice\n```\n# not a heading\n```\n## Twice\n")
	want := []string{"a", "twice", "twice-1"}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, want) {
		t.Errorf("anchors = %v, want %v", keys, want)
	}
}
