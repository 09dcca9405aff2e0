package alsim

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync/atomic"
	"time"
)

// Building the corpus (deterministic in Config.Seed): submissions with
// their file trees, shared and benign files, the edge cases, the big file,
// and the order in which faults doom files.

type builder struct {
	cfg        Config
	rng        *rand.Rand
	c          *Corpus
	qualPool   []int32 // files that qualified in some submission
	commonPool []int32 // benign files many submissions contain
	poolCap    int
	shared     map[string]int32 // edge-case files shared between edge submissions
}

// buildCorpus generates the corpus described by cfg (defaults applied).
func buildCorpus(cfg Config, start time.Time) *Corpus {
	anchor := cfg.Now
	if anchor.IsZero() {
		anchor = start
	}
	c := &Corpus{
		seed:    cfg.Seed,
		design:  cfg.DesignThreshold,
		anchor:  anchor.UnixMicro(),
		start:   start,
		subs:    make([]subRec, 0, cfg.Submissions),
		bigFile: -1,
	}
	b := &builder{
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(uint64(cfg.Seed), 0xa55e3b1e)),
		c:       c,
		poolCap: max(8, cfg.Submissions/100),
		shared:  map[string]int32{},
	}
	n := cfg.Submissions

	// Edge cases first, when the corpus has room for them.
	specs := edgeSpecs(cfg.DesignThreshold)
	if n >= 2*len(specs) {
		for _, sp := range specs {
			b.edgeSub(sp)
		}
	}
	nEdge := len(c.subs)

	// Decide which of the remaining submissions arrive late or stay
	// incomplete before generating them: late ones must match.
	kinds := make([]Kind, n)
	perm := b.rng.Perm(n - nEdge)
	for j, p := range perm {
		switch {
		case j < cfg.LateArrivals:
			kinds[nEdge+p] = Late
		case j < cfg.LateArrivals+cfg.Incomplete:
			kinds[nEdge+p] = Incomplete
		}
	}
	late := 0
	for i := nEdge; i < n; i++ {
		matching := kinds[i] == Late || b.rng.Float64() < cfg.MatchFraction
		b.randomSub(matching)
		s := &c.subs[i]
		s.kind = kinds[i]
		switch s.kind {
		case Incomplete:
			s.arrive = never
			if cfg.IncompleteFor > 0 {
				s.arrive = cfg.IncompleteFor
			}
			s.submitted = c.anchor - b.between(5e6, 600e6)
			s.completed = c.anchor + int64(cfg.IncompleteFor/time.Microsecond)
		case Late:
			late++
			s.arrive = time.Duration(int64(cfg.ArrivalWindow) * int64(late) / int64(cfg.LateArrivals))
			s.completed = c.anchor + int64(s.arrive/time.Microsecond)
			s.submitted = s.completed - b.between(20e6, 300e6)
		}
	}
	if cfg.BigFileSize > 0 {
		b.addBigFile()
	}
	b.assignVariants()
	b.assignSIDs()

	c.bySID = make(map[string]int32, len(c.subs))
	for i := range c.subs {
		c.bySID[c.subs[i].sid] = int32(i)
	}
	c.hashes = make([][32]byte, len(c.sizes))
	c.hashed = make([]atomic.Bool, len(c.sizes))
	c.idx = make(map[uint64]int32, len(c.sizes)/4)
	c.idxMore = map[[32]byte]int32{}
	c.byTime = make([]int32, len(c.subs))
	for i := range c.byTime {
		c.byTime[i] = int32(i)
	}
	sort.Slice(c.byTime, func(a, b int) bool {
		sa, sb := &c.subs[c.byTime[a]], &c.subs[c.byTime[b]]
		ma, mb := sa.submitted/1000, sb.submitted/1000
		if ma != mb {
			return ma > mb
		}
		return c.byTime[a] > c.byTime[b]
	})
	b.chooseDoomOrder()
	return c
}

// between draws a uniform int64 in [lo, hi].
func (b *builder) between(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + b.rng.Int64N(hi-lo+1)
}

func (b *builder) newFile(size int64, ftype uint8) int32 {
	b.c.sizes = append(b.c.sizes, size)
	b.c.ftypes = append(b.c.ftypes, ftype)
	return int32(len(b.c.sizes) - 1)
}

// randSize draws a log-uniform size.
func (b *builder) randSize() int64 {
	lo, hi := math.Log(float64(b.cfg.SizeMin)), math.Log(float64(b.cfg.SizeMax))
	s := int64(math.Exp(lo + b.rng.Float64()*(hi-lo)))
	return min(max(s, b.cfg.SizeMin), b.cfg.SizeMax)
}

func (b *builder) poisson(lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= b.rng.Float64()
		if p <= l || k > 200 {
			return k
		}
		k++
	}
}

type pendingRef struct {
	file   int32
	target int64
}

func (b *builder) pickFrom(pool []int32, refs []pendingRef) int32 {
	for range 4 {
		f := pool[b.rng.IntN(len(pool))]
		if !slices.ContainsFunc(refs, func(r pendingRef) bool { return r.file == f }) {
			return f
		}
	}
	return -1
}

func (b *builder) randomSub(matching bool) {
	cfg := b.cfg
	T := cfg.DesignThreshold
	var refs []pendingRef
	if matching {
		nq := 1 + b.poisson(cfg.QualifyingPerMatch-1)
		for range nq {
			f := int32(-1)
			if len(b.qualPool) > 0 && b.rng.Float64() < cfg.SharedFraction {
				f = b.pickFrom(b.qualPool, refs)
			}
			if f < 0 {
				f = b.newFile(b.randSize(), payloadTypes[b.rng.IntN(len(payloadTypes))])
				b.qualPool = append(b.qualPool, f)
			}
			refs = append(refs, pendingRef{f, T + b.qualDelta()})
		}
	}
	nx := int(b.between(int64(cfg.FilesMin), int64(cfg.FilesMax)))
	if nx == 0 && len(refs) == 0 {
		nx = 1
	}
	for range nx {
		f := int32(-1)
		r := b.rng.Float64()
		switch {
		case r < 0.08 && len(b.commonPool) > 0:
			f = b.pickFrom(b.commonPool, refs)
		case r < 0.12 && len(b.qualPool) > 0:
			// A file that qualifies elsewhere scores low here: other
			// services ran.
			f = b.pickFrom(b.qualPool, refs)
		}
		if f < 0 {
			f = b.newFile(b.randSize(), uint8(b.rng.IntN(len(fileTypes))))
			if len(b.commonPool) < b.poolCap && b.rng.Float64() < 0.05 {
				b.commonPool = append(b.commonPool, f)
			}
		}
		refs = append(refs, pendingRef{f, b.nonQualScore()})
	}
	b.rng.Shuffle(len(refs), func(i, j int) { refs[i], refs[j] = refs[j], refs[i] })

	// Tree: one root usually, sometimes a few; children hang below an
	// earlier file, within the extraction depth limit.
	nRoots := 1
	if len(refs) >= 3 {
		switch r := b.rng.Float64(); {
		case r < 0.02:
			nRoots = 3
		case r < 0.12:
			nRoots = 2
		}
	}
	parents := make([]int16, len(refs))
	depth := make([]int, len(refs))
	for j := range refs {
		if j < nRoots {
			parents[j] = -1
			continue
		}
		p := b.rng.IntN(j)
		for tries := 0; depth[p] >= maxDepth && tries < 8; tries++ {
			p = b.rng.IntN(j)
		}
		if depth[p] >= maxDepth {
			p = 0
		}
		parents[j] = int16(p)
		depth[j] = depth[p] + 1
	}
	s := b.startSub(nRoots)
	for j, r := range refs {
		b.addRef(s, r.file, parents[j], b.decompose(r.target, b.nServices(), b.hasChild(parents, j)))
	}
	// Occasionally the same file is extracted twice: a second tree edge,
	// which the tree renders as a truncated node.
	if len(refs) >= 4 && b.rng.Float64() < 0.04 {
		child := nRoots + b.rng.IntN(len(refs)-nRoots)
		p := b.rng.IntN(len(refs))
		if p != child && int(parents[child]) != p && !isDescendant(parents, p, child) {
			s.dups = append(s.dups, edgeRef{uint16(p), uint16(child)})
		}
	}
	// Some services fail on some files.
	if b.rng.Float64() < 0.15 {
		for range 1 + b.rng.IntN(2) {
			ref := b.rng.IntN(len(s.files))
			svc := uint8(b.rng.IntN(len(services)))
			if slices.ContainsFunc(s.resOf(ref), func(r resRef) bool { return r.svc == svc }) ||
				slices.ContainsFunc(s.errs, func(e errRef) bool { return int(e.ref) == ref && e.svc == svc }) {
				continue
			}
			s.errs = append(s.errs, errRef{uint16(ref), svc, uint8(b.rng.IntN(len(errorKinds)))})
		}
	}
	b.finishSub(s)
}

func isDescendant(parents []int16, node, ancestor int) bool {
	for p := int(parents[node]); p >= 0; p = int(parents[p]) {
		if p == ancestor {
			return true
		}
	}
	return false
}

func (b *builder) hasChild(parents []int16, j int) bool {
	return slices.Contains(parents, int16(j))
}

func (b *builder) nServices() int {
	return int(b.between(int64(b.cfg.ServicesMin), int64(b.cfg.ServicesMax)))
}

// startSub appends an empty submission with ordinary timestamps.
func (b *builder) startSub(nRoots int) *subRec {
	c := b.c
	ago := b.between(60e6, 30*86400e6)
	dur := min(20e6+int64(b.rng.ExpFloat64()*90e6), 1800e6)
	sub := subRec{
		submitted: c.anchor - ago - dur,
		completed: c.anchor - ago,
		nRoots:    uint8(nRoots),
		submitter: uint8(b.rng.IntN(len(submitters))),
		priority:  uint16([]int{150, 500, 1000, 1500}[b.rng.IntN(4)]),
	}
	// Python omits the fraction of a timestamp with zero microseconds.
	if b.rng.Float64() < 0.05 {
		sub.submitted -= ((sub.submitted % 1e6) + 1e6) % 1e6
	}
	if b.rng.Float64() < 0.05 {
		sub.completed -= ((sub.completed % 1e6) + 1e6) % 1e6
	}
	if b.rng.Float64() < 0.7 {
		sub.source = uint8(1 + b.rng.IntN(len(sources)))
	}
	c.subs = append(c.subs, sub)
	return &c.subs[len(c.subs)-1]
}

func (b *builder) addRef(s *subRec, file int32, parent int16, res []resRef) {
	var sum int64
	for _, r := range res {
		sum += int64(r.score)
	}
	s.files = append(s.files, fileRef{
		file: file, score: int32(sum), parent: parent,
		resOff: uint16(len(s.res)), nRes: uint8(len(res)),
	})
	s.res = append(s.res, res...)
}

func (b *builder) finishSub(s *subRec) {
	var m int32
	for _, f := range s.files {
		m = max(m, f.score)
	}
	s.maxScore = m
}

// addBigFile hangs one huge qualifying file below the root of the first
// ordinary matching submission.
func (b *builder) addBigFile() {
	T := b.cfg.DesignThreshold
	for i := range b.c.subs {
		s := &b.c.subs[i]
		if s.kind != Normal || int64(s.maxScore) < T || b.c.isEdgeSub(i) {
			continue
		}
		f := b.newFile(b.cfg.BigFileSize, 4) // archive/zip
		b.addRef(s, f, 0, b.decompose(T+500, 3, false))
		b.finishSub(s)
		b.c.bigFile = f
		return
	}
}

func (c *Corpus) isEdgeSub(i int) bool {
	for _, e := range c.edgeCases {
		if int(e.sub) == i {
			return true
		}
	}
	return false
}

// chooseDoomOrder lists, in a seeded random order, the files that
// MissingBlobs and AlwaysCorrupt may pick: qualifying at the design
// threshold in an ordinary submission, not an edge case, not the big file.
func (b *builder) chooseDoomOrder() {
	c := b.c
	edge := map[int32]bool{}
	for _, e := range c.edgeCases {
		edge[c.subs[e.sub].files[e.ref].file] = true
	}
	files := c.qualifying(c.design, func(i int) bool { return c.subs[i].kind == Normal })
	files = slices.DeleteFunc(files, func(f int32) bool { return edge[f] || f == c.bigFile })
	slices.Sort(files)
	r := rand.New(rand.NewPCG(uint64(c.seed), 0xd00d))
	r.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
	c.doomOrder = files
}
