package alsim

import (
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
)

// submission/full's file_tree and file_infos (§4.1): the extraction tree
// keyed by sha256, children sorted, and each file's metadata.

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
