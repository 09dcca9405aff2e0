package alsim

import (
	"sort"
	"strings"
)

// The submission index as Elasticsearch sees it: which fields exist, their
// types (which decide how queries and sorts treat them), which are stored
// (returned when no fl is given), and how each is read from the compact
// record. "done" is whether the submission is completed in the snapshot
// being searched: a running submission has max_score 0 and no completion
// time.

type ftype uint8

const (
	ftKeyword ftype = iota
	ftInt
	ftDate
	ftText
	ftBool
)

// fval is a field value: n for ints, bools (0/1) and dates (µs), s for
// strings.
type fval struct {
	n int64
	s string
}

type field struct {
	path   string
	typ    ftype
	stored bool
	// get returns the value, or false when the document has none.
	get func(c *Corpus, i int, done bool) (fval, bool)
	// multi, when set, makes the field multi-valued (arrays).
	multi func(c *Corpus, i int, done bool) []fval
	// write emits the value as JSON; nil means by type from get/multi.
	write func(w *jw, c *Corpus, i int, done bool)
}

func constStr(s string) func(*Corpus, int, bool) (fval, bool) {
	return func(*Corpus, int, bool) (fval, bool) { return fval{s: s}, true }
}

func constBool(b bool) func(*Corpus, int, bool) (fval, bool) {
	n := int64(0)
	if b {
		n = 1
	}
	return func(*Corpus, int, bool) (fval, bool) { return fval{n: n}, true }
}

func constInt(n int64) func(*Corpus, int, bool) (fval, bool) {
	return func(*Corpus, int, bool) (fval, bool) { return fval{n: n}, true }
}

func rootFiles(c *Corpus, i int) []fileRef {
	var out []fileRef
	for _, f := range c.subs[i].files {
		if f.parent < 0 {
			out = append(out, f)
		}
	}
	return out
}

// subFields is sorted by path; output nesting relies on that order.
var subFields = func() []*field {
	fs := []*field{
		{path: "archive_ts", typ: ftDate, stored: true, get: func(*Corpus, int, bool) (fval, bool) { return fval{}, false }},
		{path: "archived", typ: ftBool, stored: true, get: constBool(false)},
		{path: "classification", typ: ftKeyword, stored: true, get: constStr(classification)},
		{path: "error_count", typ: ftInt, stored: true, get: func(c *Corpus, i int, done bool) (fval, bool) {
			if !done {
				return fval{}, true
			}
			return fval{n: int64(len(c.subs[i].errs))}, true
		}},
		{path: "expiry_ts", typ: ftDate, get: func(c *Corpus, i int, _ bool) (fval, bool) {
			return fval{n: c.subs[i].submitted + ttlDays*day}, true
		}},
		{path: "file_count", typ: ftInt, stored: true, get: func(c *Corpus, i int, done bool) (fval, bool) {
			if !done {
				return fval{n: int64(c.subs[i].nRoots)}, true
			}
			return fval{n: int64(len(c.subs[i].files))}, true
		}},
		{path: "files.name", typ: ftKeyword, multi: func(c *Corpus, i int, _ bool) []fval {
			var out []fval
			for _, f := range rootFiles(c, i) {
				out = append(out, fval{s: c.fileName(f.file)})
			}
			return out
		}},
		{path: "files.sha256", typ: ftKeyword, multi: func(c *Corpus, i int, _ bool) []fval {
			var out []fval
			for _, f := range rootFiles(c, i) {
				out = append(out, fval{s: c.shaHex(f.file)})
			}
			return out
		}},
		{path: "files.size", typ: ftInt, multi: func(c *Corpus, i int, _ bool) []fval {
			var out []fval
			for _, f := range rootFiles(c, i) {
				out = append(out, fval{n: c.sizes[f.file]})
			}
			return out
		}},
		{path: "from_archive", typ: ftBool, stored: true, get: constBool(false)},
		{path: "id", typ: ftKeyword, get: func(c *Corpus, i int, _ bool) (fval, bool) { return fval{s: c.subs[i].sid}, true }},
		{path: "max_score", typ: ftInt, stored: true, get: func(c *Corpus, i int, done bool) (fval, bool) {
			if !done {
				return fval{}, true
			}
			return fval{n: int64(c.subs[i].maxScore)}, true
		}},
		{path: "metadata.source", typ: ftKeyword, get: func(c *Corpus, i int, _ bool) (fval, bool) {
			if src := c.subs[i].source; src > 0 {
				return fval{s: sources[src-1]}, true
			}
			return fval{}, false
		}},
		{path: "params.classification", typ: ftKeyword, get: constStr(classification)},
		{path: "params.deep_scan", typ: ftBool, get: constBool(false)},
		{path: "params.description", typ: ftText, stored: true, get: func(c *Corpus, i int, _ bool) (fval, bool) {
			return fval{s: "Inspection of file: " + c.fileName(c.subs[i].files[0].file)}, true
		}},
		{path: "params.groups", typ: ftKeyword, multi: func(*Corpus, int, bool) []fval { return []fval{{s: "USERS"}} }},
		{path: "params.ignore_cache", typ: ftBool, get: constBool(false)},
		{path: "params.max_extracted", typ: ftInt, get: constInt(500)},
		{path: "params.max_supplementary", typ: ftInt, get: constInt(500)},
		{path: "params.priority", typ: ftInt, get: func(c *Corpus, i int, _ bool) (fval, bool) {
			return fval{n: int64(c.subs[i].priority)}, true
		}},
		{path: "params.quota_item", typ: ftBool, get: constBool(true)},
		{path: "params.submitter", typ: ftKeyword, stored: true, get: func(c *Corpus, i int, _ bool) (fval, bool) {
			return fval{s: submitters[c.subs[i].submitter]}, true
		}},
		{path: "params.ttl", typ: ftInt, get: constInt(ttlDays)},
		{path: "params.type", typ: ftKeyword, get: constStr("USER")},
		{path: "scan_key", typ: ftKeyword, get: func(c *Corpus, i int, _ bool) (fval, bool) {
			return fval{s: fakeDigest(c.sha(c.subs[i].files[0].file), uint64(i), 32) + "v0"}, true
		}},
		{path: "sid", typ: ftKeyword, stored: true, get: func(c *Corpus, i int, _ bool) (fval, bool) { return fval{s: c.subs[i].sid}, true }},
		{path: "state", typ: ftKeyword, stored: true, get: func(_ *Corpus, _ int, done bool) (fval, bool) {
			if done {
				return fval{s: "completed"}, true
			}
			return fval{s: "submitted"}, true
		}},
		{path: "times.completed", typ: ftDate, get: func(c *Corpus, i int, done bool) (fval, bool) {
			if !done {
				return fval{}, false
			}
			return fval{n: c.subs[i].completed}, true
		}},
		{path: "times.submitted", typ: ftDate, stored: true, get: func(c *Corpus, i int, _ bool) (fval, bool) {
			return fval{n: c.subs[i].submitted}, true
		}},
		{path: "to_be_deleted", typ: ftBool, stored: true, get: constBool(false)},
		{path: "verdict.malicious", typ: ftKeyword, multi: func(*Corpus, int, bool) []fval { return nil }},
		{path: "verdict.non_malicious", typ: ftKeyword, multi: func(*Corpus, int, bool) []fval { return nil }},
	}
	sort.Slice(fs, func(a, b int) bool { return fs[a].path < fs[b].path })
	return fs
}()

var fieldByPath = func() map[string]*field {
	m := map[string]*field{}
	for _, f := range subFields {
		m[f.path] = f
	}
	return m
}()

// lookupField resolves a query or sort field. Unknown metadata keys exist
// (metadata is dynamic) but are never set.
func lookupField(path string) (*field, bool) {
	if f, ok := fieldByPath[path]; ok {
		return f, true
	}
	if strings.HasPrefix(path, "metadata.") && len(path) > len("metadata.") {
		return &field{path: path, typ: ftKeyword, get: func(*Corpus, int, bool) (fval, bool) { return fval{}, false }}, true
	}
	return nil, false
}

// values returns every value of f in document i.
func (f *field) values(c *Corpus, i int, done bool) []fval {
	if f.multi != nil {
		return f.multi(c, i, done)
	}
	if v, ok := f.get(c, i, done); ok {
		return []fval{v}
	}
	return nil
}

func (f *field) writeValue(w *jw, c *Corpus, i int, done bool) {
	if f.write != nil {
		f.write(w, c, i, done)
		return
	}
	one := func(v fval) {
		switch f.typ {
		case ftInt:
			w.int(v.n)
		case ftBool:
			w.bool(v.n != 0)
		case ftDate:
			w.time(v.n)
		default:
			w.str(v.s)
		}
	}
	if f.multi != nil {
		w.arr()
		for _, v := range f.multi(c, i, done) {
			one(v)
		}
		w.endArr()
		return
	}
	v, ok := f.get(c, i, done)
	if !ok {
		w.null()
		return
	}
	one(v)
}

// selection is the resolved fl: which leaf fields an item carries.
type selection struct {
	fields []*field // sorted by path
	files  []string // selected subfields of the files array, sorted
}

var storedSelection = func() selection {
	var sel selection
	for _, f := range subFields {
		if f.stored || f.path == "id" {
			sel.fields = append(sel.fields, f)
		}
	}
	return sel
}()

// selectFields resolves an fl string as Elasticsearch source filtering
// does, plus AL's rule that id only comes back when named. The entries are
// not trimmed: AL splits on "," only.
func selectFields(fl string) selection {
	patterns := strings.Split(fl, ",")
	var sel selection
	files := map[string]bool{}
	for _, f := range subFields {
		if f.path == "id" {
			for _, p := range patterns {
				if p == "id" {
					sel.fields = append(sel.fields, f)
					break
				}
			}
			continue
		}
		for _, p := range patterns {
			if pathSelected(f.path, p) {
				if sub, ok := strings.CutPrefix(f.path, "files."); ok {
					files[sub] = true
				} else {
					sel.fields = append(sel.fields, f)
				}
				break
			}
		}
	}
	for k := range files {
		sel.files = append(sel.files, k)
	}
	sort.Strings(sel.files)
	return sel
}

func pathSelected(path, pattern string) bool {
	if pattern == "" {
		return false
	}
	if strings.ContainsAny(pattern, "*") {
		return glob(pattern, path) || glob(pattern+".*", path)
	}
	return path == pattern || strings.HasPrefix(path, pattern+".")
}

// glob matches * (any run, dots included) and ? (one byte).
func glob(pattern, s string) bool {
	px, sx := 0, 0
	nextPx, nextSx := -1, -1
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				nextPx, nextSx = px, sx+1
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if nextSx > 0 && nextSx <= len(s) {
			px, sx = nextPx, nextSx
			continue
		}
		return false
	}
	return true
}

// writeItem emits one search hit with the selected fields, nested by path.
func (sel selection) writeItem(w *jw, c *Corpus, i int, done bool) {
	w.obj()
	var stack []string
	closeTo := func(n int) {
		for len(stack) > n {
			w.end()
			stack = stack[:len(stack)-1]
		}
	}
	filesDone := len(sel.files) == 0
	writeFiles := func() {
		closeTo(0)
		w.key("files")
		w.arr()
		for _, f := range rootFiles(c, i) {
			w.obj()
			for _, sub := range sel.files {
				switch sub {
				case "name":
					w.kstr("name", c.fileName(f.file))
				case "sha256":
					w.kstr("sha256", c.shaHex(f.file))
				case "size":
					w.kint("size", c.sizes[f.file])
				}
			}
			w.end()
		}
		w.endArr()
		filesDone = true
	}
	for _, f := range sel.fields {
		if !filesDone && f.path > "files" {
			writeFiles()
		}
		if f.multi == nil {
			if _, ok := f.get(c, i, done); !ok && strings.HasPrefix(f.path, "metadata.") {
				continue
			}
		}
		segs := strings.Split(f.path, ".")
		parents := segs[:len(segs)-1]
		common := 0
		for common < len(stack) && common < len(parents) && stack[common] == parents[common] {
			common++
		}
		closeTo(common)
		for _, p := range parents[common:] {
			w.key(p)
			w.obj()
			stack = append(stack, p)
		}
		w.key(segs[len(segs)-1])
		f.writeValue(w, c, i, done)
	}
	if !filesDone {
		writeFiles()
	}
	closeTo(0)
	w.end()
}
