package alsim

import (
	"slices"
	"strconv"
	"strings"
)

// submission/full's results and errors dicts (§4.1): one entry per
// result key, with sections, heuristics and tags consistent with its score,
// and the empty ".e" results synthesized at request time.

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
		r.openResult(now)
		w.kbool("from_archive", false)
		w.kbool("partial", false)
		w.key("response")
		w.obj()
		w.kraw("extracted", "[]")
		r.milestones(svc, now, now)
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
	r.openResult(created)
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
	r.milestones(svc, created-4e6-int64(rk.k)*137e3, created-500e3)
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

// openResult opens a result document with the keys every result starts
// with, stored or synthesized.
func (r *fullRenderer) openResult(created int64) {
	w := r.w
	w.obj()
	w.knull("archive_ts")
	w.kstr("classification", classification)
	w.ktime("created", created)
	w.kbool("drop_file", false)
	w.ktime("expiry_ts", created+ttlDays*day)
}

// milestones writes the response's milestones and the service keys that
// follow them, the same in every result.
func (r *fullRenderer) milestones(svc *service, started, completed int64) {
	w := r.w
	w.key("milestones")
	w.obj()
	w.ktime("service_completed", completed)
	w.ktime("service_started", started)
	w.end()
	w.knull("service_context")
	w.knull("service_debug_info")
	w.kstr("service_name", svc.name)
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
