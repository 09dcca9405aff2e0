package alsim

import (
	"encoding/hex"
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

// resultTimes spreads result creation over the submission's run.
func (r *fullRenderer) resultTime(k int) int64 {
	s := r.s
	span := s.completed - s.submitted
	return s.submitted + span*int64(k+1)/int64(len(s.res)+1)
}

// extractorRes picks which result of file j lists its extracted children.
func (r *fullRenderer) extractorRes(j int) int {
	f := r.s.files[j]
	lo, hi := int(f.resOff), int(f.resOff)+int(f.nRes)
	for _, want := range []func(svcRole, string) bool{
		func(role svcRole, _ string) bool { return role == roleExtract },
		func(_ svcRole, name string) bool { return name == "Cuckoo" },
		func(svcRole, string) bool { return true },
	} {
		for k := lo; k < hi; k++ {
			res := r.s.res[k]
			if !res.empty && want(services[res.svc].role, services[res.svc].name) {
				return k
			}
		}
	}
	return -1
}

func (r *fullRenderer) result(rk resKey) {
	w, s, c := r.w, r.s, r.c
	res := s.res[rk.k]
	svc := &services[res.svc]
	f := s.files[rk.ref]
	if res.empty {
		// create_empty_result_from_key: synthesized now, version from the key.
		now := r.o.nowUS
		w.obj()
		w.knull("archive_ts")
		w.kstr("classification", classification)
		w.ktime("created", now)
		w.kbool("drop_file", false)
		w.ktime("expiry_ts", now+ttlDays*day)
		w.kbool("from_archive", false)
		w.kbool("partial", false)
		w.key("response")
		w.obj()
		w.kraw("extracted", "[]")
		w.key("milestones")
		w.obj()
		w.ktime("service_completed", now)
		w.ktime("service_started", now)
		w.end()
		w.knull("service_context")
		w.knull("service_debug_info")
		w.kstr("service_name", svc.name)
		w.knull("service_tool_version")
		w.kstr("service_version", versionKey(svc.version))
		w.kraw("supplementary", "[]")
		w.end()
		w.kraw("result", `{"score":0,"sections":[]}`)
		w.kstr("sha256", r.shas[rk.ref])
		w.knull("size")
		w.knull("type")
		w.end()
		return
	}
	created := r.resultTime(rk.k)
	w.obj()
	w.knull("archive_ts")
	w.kstr("classification", classification)
	w.ktime("created", created)
	w.kbool("drop_file", false)
	w.ktime("expiry_ts", created+ttlDays*day)
	w.kbool("partial", false)
	w.key("response")
	w.obj()
	w.key("extracted")
	w.arr()
	if r.extractorRes(rk.ref) == rk.k {
		parentName := c.fileName(f.file)
		for _, ch := range r.children[rk.ref] {
			w.obj()
			w.kbool("allow_dynamic_recursion", false)
			w.kstr("classification", classification)
			w.kstr("description", "Extracted from "+parentName)
			w.kbool("is_section_image", false)
			w.kstr("name", c.fileName(s.files[ch].file))
			w.kstr("parent_relation", "EXTRACTED")
			w.kstr("sha256", r.shas[ch])
			w.end()
		}
	}
	w.endArr()
	w.key("milestones")
	w.obj()
	w.ktime("service_completed", created-500e3)
	w.ktime("service_started", created-4e6-int64(rk.k)*137e3)
	w.end()
	w.knull("service_context")
	w.knull("service_debug_info")
	w.kstr("service_name", svc.name)
	if svc.tool == "" {
		w.knull("service_tool_version")
	} else {
		w.kstr("service_tool_version", svc.tool)
	}
	w.kstr("service_version", svc.version)
	w.kraw("supplementary", "[]")
	w.end()
	w.key("result")
	w.obj()
	w.kint("score", int64(res.score))
	w.key("sections")
	r.sections(rk, res, svc)
	w.end()
	w.kstr("sha256", r.shas[rk.ref])
	w.kint("size", c.sizes[f.file])
	w.kstr("type", fileTypes[c.ftypes[f.file]].typ)
	w.end()
}

// sections splits a result score into one or two heuristic sections whose
// scores add up to it, as the service API computes result.score.
func (r *fullRenderer) sections(rk resKey, res resRef, svc *service) {
	w := r.w
	// Seeded by the result's identity (file, service, variant), not the
	// submission: one result key is one document wherever it appears.
	x := rnd(mix64(uint64(r.c.seed)) ^ uint64(r.s.files[rk.ref].file)<<24 ^ uint64(res.svc)<<16 ^ uint64(res.variant))
	score := int64(res.score)
	var parts []int64
	switch {
	case score == 0:
		parts = []int64{0}
	case score > 1000 && x.intn(2) == 0:
		first := []int64{1000, 500, 250}[x.intn(3)]
		parts = []int64{first, score - first}
	default:
		parts = []int64{score}
	}
	w.arr()
	for n, p := range parts {
		h := x.intn(len(svc.heurs))
		w.obj()
		w.kbool("auto_collapse", false)
		w.kstr("body", svc.heurs[h]+" ("+strconv.Itoa(x.intn(40)+1)+" indicators)")
		w.kstr("body_format", "TEXT")
		w.kstr("classification", classification)
		w.kint("depth", int64(n))
		w.key("heuristic")
		if p == 0 && x.intn(2) == 0 {
			w.null()
		} else {
			w.obj()
			if svc.name == "Cuckoo" && p > 0 {
				w.kraw("attack", `[{"attack_id":"T1055","categories":["defense-evasion","privilege-escalation"],"pattern":"Process Injection"}]`)
			} else {
				w.kraw("attack", "[]")
			}
			w.kstr("heur_id", strings.ToUpper(svc.name)+"."+strconv.Itoa(h+1))
			w.kstr("name", svc.heurs[h])
			w.kint("score", p)
			w.kraw("signature", "[]")
			w.end()
		}
		w.knull("promote_to")
		w.key("tags")
		w.arr()
		w.obj()
		w.kbool("safelisted", p < 0)
		short := svc.tagType[strings.LastIndexByte(svc.tagType, '.')+1:]
		w.kstr("short_type", short)
		w.kstr("type", svc.tagType)
		w.kstr("value", tagValue(svc.tagType, x.next()))
		w.end()
		w.endArr()
		w.kstr("title_text", svc.heurs[h])
		w.end()
	}
	w.endArr()
}

func tagValue(typ string, v uint64) string {
	n := strconv.FormatUint(v%100000, 36)
	switch {
	case strings.HasPrefix(typ, "network.dynamic.domain"), strings.HasPrefix(typ, "network.static.domain"):
		return "c2-" + n + ".example.net"
	case strings.HasPrefix(typ, "network.static.uri"):
		return "http://dl-" + n + ".example.com/payload.bin"
	case strings.HasPrefix(typ, "av.virus_name"):
		return "Trojan:Win32/Agent." + strings.ToUpper(n)
	case strings.HasPrefix(typ, "attribution.family"):
		return []string{"AgentTesla", "Emotet", "QakBot", "RedLine", "AsyncRAT"}[v%5]
	case strings.HasPrefix(typ, "file.rule.yara"):
		return "malware_rule_" + n
	}
	return "indicator_" + n
}

func (r *fullRenderer) errors() {
	w, s := r.w, r.s
	w.obj()
	if !r.o.completed {
		w.end()
		return
	}
	type ek struct {
		key string
		e   errRef
	}
	var keys []ek
	for _, e := range s.errs {
		svc := &services[e.svc]
		kind := errorKinds[e.kind]
		keys = append(keys, ek{r.shas[e.ref] + "." + svc.name + ".v" + versionKey(svc.version) + ".c" + svc.conf + ".e" + strconv.Itoa(kind.code), e})
	}
	slices.SortFunc(keys, func(a, b ek) int { return strings.Compare(a.key, b.key) })
	for _, k := range keys {
		svc := &services[k.e.svc]
		kind := errorKinds[k.e.kind]
		created := s.completed - 1e6
		w.key(k.key)
		w.obj()
		w.knull("archive_ts")
		w.ktime("created", created)
		w.ktime("expiry_ts", created+ttlDays*day)
		w.key("response")
		w.obj()
		w.kstr("message", kind.message)
		w.knull("service_debug_info")
		w.kstr("service_name", svc.name)
		w.knull("service_tool_version")
		if kind.serviceVersion {
			w.kstr("service_version", svc.version)
		} else {
			w.kstr("service_version", "0")
		}
		w.kstr("status", kind.status)
		w.end()
		w.kstr("severity", kind.severity)
		w.kstr("sha256", r.shas[k.e.ref])
		w.kstr("type", kind.typ)
		w.end()
	}
	w.end()
}

func (r *fullRenderer) tree() {
	w := r.w
	roots := []int{}
	for j, f := range r.s.files {
		if f.parent < 0 {
			roots = append(roots, j)
		}
	}
	slices.SortFunc(roots, func(a, b int) int { return strings.Compare(r.shas[a], r.shas[b]) })
	r.seen = make([]bool, len(r.s.files))
	w.obj()
	for _, j := range roots {
		r.node(j)
	}
	w.end()
}

// node writes one tree node; a file met again is not expanded and is
// marked truncated.
func (r *fullRenderer) node(j int) {
	w, c := r.w, r.c
	f := r.s.files[j]
	truncated := r.seen[j]
	r.seen[j] = true
	w.key(r.shas[j])
	w.obj()
	w.key("children")
	w.obj()
	if !truncated {
		for _, ch := range r.children[j] {
			r.node(ch)
		}
	}
	w.end()
	w.key("name")
	w.arr()
	w.str(c.fileName(f.file))
	w.endArr()
	if r.o.completed {
		w.kint("score", int64(f.score))
	} else {
		w.kint("score", 0)
	}
	w.kstr("sha256", r.shas[j])
	w.kint("size", c.sizes[f.file])
	w.kbool("truncated", truncated)
	w.kstr("type", fileTypes[c.ftypes[f.file]].typ)
	w.end()
}

func (r *fullRenderer) fileInfos() {
	w, c, s := r.w, r.c, r.s
	var refs []int
	for j, f := range s.files {
		if r.o.completed || f.parent < 0 {
			refs = append(refs, j)
		}
	}
	slices.SortFunc(refs, func(a, b int) int { return strings.Compare(r.shas[a], r.shas[b]) })
	var head [64]byte
	w.obj()
	for _, j := range refs {
		f := s.files[j].file
		sha := c.sha(f)
		ft := &fileTypes[c.ftypes[f]]
		spec := c.content(f)
		n := min(int64(len(head)), spec.size)
		spec.fill(0, head[:n])
		ascii := make([]byte, n)
		for k, ch := range head[:n] {
			if ch >= 0x20 && ch < 0x7f {
				ascii[k] = ch
			} else {
				ascii[k] = '.'
			}
		}
		seenCount := 1 + int64(mix64(uint64(f))%12)
		first := s.submitted - int64(mix64(uint64(f)+1)%uint64(20*day))
		w.key(r.shas[j])
		w.obj()
		w.knull("archive_ts")
		w.kstr("ascii", string(ascii))
		w.kstr("classification", classification)
		w.kraw("comments", "[]")
		w.key("entropy")
		w.float(ft.entropy)
		w.ktime("expiry_ts", s.submitted+ttlDays*day)
		w.kbool("from_archive", false)
		w.kstr("hex", hex.EncodeToString(head[:n]))
		w.kbool("is_section_image", false)
		w.kbool("is_supplementary", false)
		w.kraw("label_categories", `{"attribution":[],"info":[],"technique":[]}`)
		w.kraw("labels", "[]")
		w.kstr("magic", ft.magic)
		w.kstr("md5", fakeDigest(sha, 1, 32))
		w.kstr("mime", ft.mime)
		w.key("seen")
		w.obj()
		w.kint("count", seenCount)
		w.ktime("first", first)
		w.ktime("last", s.submitted)
		w.end()
		w.kstr("sha1", fakeDigest(sha, 2, 40))
		w.kstr("sha256", r.shas[j])
		w.kint("size", c.sizes[f])
		w.kstr("ssdeep", strconv.FormatInt(max(3, c.sizes[f]/64), 10)+":"+fakeDigest(sha, 3, 40)+":"+fakeDigest(sha, 4, 20))
		w.kstr("tlsh", "T1"+strings.ToUpper(fakeDigest(sha, 5, 70)))
		w.kstr("type", ft.typ)
		w.end()
	}
	w.end()
}
