package alsim

import (
	"slices"
	"strconv"
	"strings"
)

// Rendering of submission/full documents (§4.1, §4.3 of the API notes).
// Keys are written in sorted order because Flask's jsonify sorts them.

const (
	classification = "TLP:C"
	day            = int64(86400e6) // µs
	ttlDays        = 30
)

// rnd is a tiny deterministic stream for per-document details, so the
// same document renders identically every time without storing anything.
type rnd uint64

func (r *rnd) next() uint64 {
	*r += golden
	return mix64(uint64(*r))
}

func (r *rnd) intn(n int) int { return int(r.next() % uint64(n)) }

func (c *Corpus) fileName(f int32) string {
	h := mix64(uint64(f)*golden ^ uint64(c.seed)<<17)
	ft := &fileTypes[c.ftypes[f]]
	stem := nameStems[h%uint64(len(nameStems))]
	if (h>>32)%3 == 0 {
		return stem + ft.ext
	}
	return stem + "_" + strconv.Itoa(int((h>>40)%10000)) + ft.ext
}

// fakeDigest derives a stable hex string of n chars from a sha256; used for
// md5, sha1, tlsh and scan keys, which nothing in the pipeline checks.
func fakeDigest(sha *[32]byte, salt uint64, n int) string {
	x := rnd(uint64(sha[0]) | uint64(sha[1])<<8 | uint64(sha[2])<<16 | uint64(sha[3])<<24 | uint64(sha[4])<<32 | salt<<40)
	out := make([]byte, 0, n)
	for len(out) < n {
		v := x.next()
		for k := 0; k < 16 && len(out) < n; k++ {
			out = append(out, hexDigits[v&0xf])
			v >>= 4
		}
	}
	return string(out)
}

type resKey struct {
	key string
	ref int // index into files
	k   int // index into subRec.res
}

type fullOpts struct {
	completed bool
	hideRes   int   // index into subRec.res to report as missing; -1 for none
	nowUS     int64 // request time, for synthesized empty results
}

// hiddenResult picks the result a "missing results" fault hides: the best
// result of the best file, so a client that ignores missing_result_keys
// undercounts that file.
func (s *subRec) hiddenResult() int {
	best, bestRef := -1, -1
	for j, f := range s.files {
		if bestRef < 0 || f.score > s.files[bestRef].score {
			bestRef = j
		}
	}
	if bestRef < 0 {
		return -1
	}
	f := s.files[bestRef]
	for k := int(f.resOff); k < int(f.resOff)+int(f.nRes); k++ {
		if !s.res[k].empty && (best < 0 || s.res[k].score > s.res[best].score) {
			best = k
		}
	}
	return best
}

type fullRenderer struct {
	c        *Corpus
	s        *subRec
	i        int
	o        fullOpts
	w        *jw
	shas     []string
	children [][]int
	seen     []bool
}

// appendFull renders the api_response of submission/full for submission i.
func (c *Corpus) appendFull(b []byte, i int, o fullOpts) []byte {
	s := &c.subs[i]
	r := &fullRenderer{c: c, s: s, i: i, o: o, w: &jw{b: b}}
	r.shas = make([]string, len(s.files))
	for j, f := range s.files {
		if o.completed || f.parent < 0 {
			r.shas[j] = c.shaHex(f.file)
		}
	}
	r.children = make([][]int, len(s.files))
	if o.completed {
		for j, f := range s.files {
			if f.parent >= 0 {
				r.children[f.parent] = append(r.children[f.parent], j)
			}
		}
		for _, d := range s.dups {
			r.children[d.parent] = append(r.children[d.parent], int(d.child))
		}
		for _, ch := range r.children {
			slices.SortFunc(ch, func(a, b int) int { return strings.Compare(r.shas[a], r.shas[b]) })
		}
	}
	r.render()
	return r.w.b
}

func (r *fullRenderer) render() {
	w, s, c, o := r.w, r.s, r.c, r.o
	var keys []resKey
	var missing []string
	if o.completed {
		for j, f := range s.files {
			for k := int(f.resOff); k < int(f.resOff)+int(f.nRes); k++ {
				key := r.resultKey(j, k)
				if k == o.hideRes {
					missing = append(missing, key)
					continue
				}
				keys = append(keys, resKey{key, j, k})
			}
		}
		slices.SortFunc(keys, func(a, b resKey) int { return strings.Compare(a.key, b.key) })
	}

	w.obj()
	w.knull("archive_ts")
	w.kbool("archived", false)
	w.kstr("classification", classification)
	if o.completed {
		w.kint("error_count", int64(len(s.errs)))
	} else {
		w.kint("error_count", 0)
	}
	w.key("errors")
	r.errors()
	w.ktime("expiry_ts", s.submitted+ttlDays*day)
	if o.completed {
		w.kint("file_count", int64(len(s.files)))
	} else {
		w.kint("file_count", int64(s.nRoots))
	}
	w.key("file_infos")
	r.fileInfos()
	w.key("file_tree")
	r.tree()
	w.key("files")
	r.rootFiles()
	w.kbool("from_archive", false)
	if o.completed {
		w.kint("max_score", int64(s.maxScore))
	} else {
		w.kint("max_score", 0)
	}
	w.key("metadata")
	r.metadata()
	w.kraw("missing_error_keys", "[]")
	w.kraw("missing_file_keys", "[]")
	w.key("missing_result_keys")
	w.arr()
	for _, m := range missing {
		w.str(m)
	}
	w.endArr()
	w.key("params")
	r.params()
	w.key("results")
	w.obj()
	for _, k := range keys {
		w.key(k.key)
		r.result(k)
	}
	w.end()
	w.kstr("scan_key", fakeDigest(c.sha(s.files[0].file), uint64(r.i), 32)+"v0")
	w.kstr("sid", s.sid)
	if o.completed {
		w.kstr("state", "completed")
	} else {
		w.kstr("state", "submitted")
	}
	w.key("times")
	w.obj()
	if o.completed {
		w.ktime("completed", s.completed)
	} else {
		w.knull("completed")
	}
	w.ktime("submitted", s.submitted)
	w.end()
	w.kbool("to_be_deleted", false)
	w.kraw("tracing_events", "[]")
	w.kraw("verdict", `{"malicious":[],"non_malicious":[]}`)
	w.end()
}

func (r *fullRenderer) resultKey(j, k int) string {
	res := r.s.res[k]
	svc := &services[res.svc]
	key := r.shas[j] + "." + svc.name + ".v" + versionKey(svc.version) + ".c" + confKey(res.svc, res.variant)
	if res.empty {
		key += ".e"
	}
	return key
}

func (r *fullRenderer) rootFiles() {
	w := r.w
	w.arr()
	for j, f := range r.s.files {
		if f.parent >= 0 {
			continue
		}
		w.obj()
		w.kstr("name", r.c.fileName(f.file))
		w.kstr("sha256", r.shas[j])
		w.kint("size", r.c.sizes[f.file])
		w.end()
	}
	w.endArr()
}

func (r *fullRenderer) metadata() {
	w := r.w
	w.obj()
	if r.s.source > 0 {
		w.kstr("source", sources[r.s.source-1])
	}
	w.end()
}

func (r *fullRenderer) params() {
	w, s, c := r.w, r.s, r.c
	w.obj()
	w.kbool("auto_archive", false)
	w.kstr("classification", classification)
	w.kbool("deep_scan", false)
	w.kbool("delete_after_archive", false)
	w.kstr("description", "Inspection of file: "+c.fileName(s.files[0].file))
	w.kbool("generate_alert", false)
	w.kraw("groups", `["USERS"]`)
	w.kbool("ignore_cache", false)
	w.kbool("ignore_filtering", false)
	w.kbool("ignore_recursion_prevention", false)
	w.kbool("ignore_size", false)
	w.knull("initial_data")
	w.kbool("malicious", false)
	w.kint("max_extracted", 500)
	w.kint("max_supplementary", 500)
	w.kbool("never_drop", false)
	w.kint("priority", int64(s.priority))
	w.knull("psid")
	w.kbool("quota_item", true)
	w.kraw("service_spec", "{}")
	w.kraw("services", `{"excluded":[],"rescan":[],"resubmit":[],"selected":["Antivirus","Dynamic Analysis","Extraction","Static Analysis"]}`)
	w.kstr("submitter", submitters[s.submitter])
	w.kbool("trace", false)
	w.kint("ttl", ttlDays)
	w.kstr("type", "USER")
	w.kbool("use_archive_alternate_dtl", false)
	w.end()
}
