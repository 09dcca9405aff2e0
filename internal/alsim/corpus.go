package alsim

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/big"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Kind says how a submission behaves over time.
type Kind uint8

// Submission kinds.
const (
	// Normal submissions are completed and searchable from the start.
	Normal Kind = iota
	// Incomplete submissions are "submitted" (running) until
	// Config.IncompleteFor has passed, if ever; they are searchable with
	// max_score 0 meanwhile, as in the real system.
	Incomplete
	// Late submissions do not exist for search until their completion
	// time (within Config.ArrivalWindow) passes.
	Late
)

// String names the kind for logs and JSON-minded humans.
func (k Kind) String() string {
	switch k {
	case Incomplete:
		return "incomplete"
	case Late:
		return "late"
	}
	return "normal"
}

const never = time.Duration(math.MaxInt64)

// maxDepth is submission.max_extraction_depth's default.
const maxDepth = 6

type resRef struct {
	score int32
	svc   uint8
	empty bool // an empty result: key ends in ".e", synthesized, score 0
	// variant selects the conf_key: 0 is the service's usual one. A file
	// whose result from one service differs between submissions gets a
	// different conf_key per distinct score (other submission parameters),
	// because in Assemblyline a result key names one stored document.
	variant uint16
}

type fileRef struct {
	file   int32
	score  int32 // the per-file sum over this submission's results
	parent int16 // index into subRec.files, -1 for a submitted (root) file
	resOff uint16
	nRes   uint8
}

type errRef struct {
	ref  uint16
	svc  uint8
	kind uint8
}

type edgeRef struct{ parent, child uint16 }

// subRec is the compact form of a submission; documents are rendered from
// it on demand.
type subRec struct {
	sid       string
	submitted int64 // unix µs
	completed int64 // unix µs once complete
	arrive    time.Duration
	files     []fileRef
	res       []resRef
	errs      []errRef
	dups      []edgeRef // extra tree edges: a file extracted by two parents
	maxScore  int32     // once complete; never below 0 (AL 4.7 rule)
	kind      Kind
	nRoots    uint8
	submitter uint8
	source    uint8 // 0: empty metadata, else sources[source-1]
	priority  uint16
}

// Corpus is the simulated datastore: submissions, their results and the
// files they reference. All exported methods are safe for concurrent use
// and never change what the corpus contains.
type Corpus struct {
	seed   int64
	design int64
	anchor int64     // document "now", unix µs
	start  time.Time // real time the clock of arrivals starts from

	subs  []subRec
	bySID map[string]int32

	sizes  []int64
	ftypes []uint8

	// sha256 values are computed on first use and cached.
	hashes [][32]byte
	// md5s and sha1s are set only by prehashAll.
	md5s   [][16]byte
	sha1s  [][20]byte
	hashed []atomic.Bool
	hashMu [64]sync.Mutex

	// idx maps the first 8 bytes of a computed sha256 to its file; the rare
	// prefix collision goes to idxMore.
	idxMu        sync.RWMutex
	idx          map[uint64]int32
	idxMore      map[[32]byte]int32
	indexAllOnce sync.Once

	edgeCases []edgeCase
	bigFile   int32
	doomOrder []int32 // files MissingBlobs / AlwaysCorrupt pick from, in seeded order
	byTime    []int32 // submissions by times.submitted desc, index desc (the default sort)
}

// ---------------------------------------------------------------------------
// Building

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

// qualDelta is how far above the threshold a qualifying file lands.
func (b *builder) qualDelta() int64 {
	T := b.cfg.DesignThreshold
	if b.rng.Float64() < 0.03 {
		return 0
	}
	d := int64(b.rng.ExpFloat64()*float64(T)/6/10) * 10
	return min(d, 5*T)
}

// nonQualScore draws a per-file score below the threshold: mostly zero or
// small, some near misses, some safelisted (negative).
func (b *builder) nonQualScore() int64 {
	T := b.cfg.DesignThreshold
	r := b.rng.Float64()
	var s int64
	switch {
	case r < 0.45:
		s = 0
	case r < 0.70:
		s = []int64{10, 50, 100, 250, 500, 1000}[b.rng.IntN(6)]
	case r < 0.85:
		s = b.between(100, max(100, T/2)/10) * 10
	case r < 0.93:
		s = b.between(T/2, T-1)
	case r < 0.97:
		s = T - 1 - b.between(0, min(300, T-1))
	default:
		s = []int64{-1000, -100, -1100, -900}[b.rng.IntN(4)]
	}
	return min(s, T-1)
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

func (s *subRec) resOf(ref int) []resRef {
	f := s.files[ref]
	return s.res[f.resOff : int(f.resOff)+int(f.nRes)]
}

var (
	extractSvcs = []uint8{serviceIndex("Extract"), serviceIndex("Oletools")}
	heavySvcs   = []uint8{serviceIndex("YARA"), serviceIndex("AntiVirus"), serviceIndex("Cuckoo"), serviceIndex("ConfigExtractor"), serviceIndex("MetaDefender")}
	mixedSvcs   = []uint8{serviceIndex("YARA"), serviceIndex("AntiVirus"), serviceIndex("PEFile"), serviceIndex("Characterize"), serviceIndex("URLCreator"), serviceIndex("Frankenstrings")}
	svcSafelist = serviceIndex("Safelist")
	svcTagCheck = serviceIndex("TagCheck")
)

// decompose splits a per-file target score into k service results that sum
// to it exactly: one "absorber" service carries the remainder, the others
// draw typical heuristic scores (many zeros, a few empties and negatives).
func (b *builder) decompose(target int64, k int, extractor bool) []resRef {
	var absorber uint8
	switch {
	case target >= 1000:
		absorber = heavySvcs[b.rng.IntN(len(heavySvcs))]
	case target <= -1000:
		absorber = svcSafelist
	case target < 0:
		absorber = svcTagCheck
	default:
		absorber = mixedSvcs[b.rng.IntN(len(mixedSvcs))]
	}
	chosen := []uint8{absorber}
	if extractor {
		e := extractSvcs[b.rng.IntN(len(extractSvcs))]
		if e != absorber {
			chosen = append(chosen, e)
		}
	}
	for _, p := range b.rng.Perm(len(services)) {
		if len(chosen) >= k {
			break
		}
		if !slices.Contains(chosen, uint8(p)) {
			chosen = append(chosen, uint8(p))
		}
	}
	res := make([]resRef, len(chosen))
	rem := target
	for i := len(chosen) - 1; i >= 1; i-- {
		svc := chosen[i]
		isExtractor := extractor && i == 1
		if !isExtractor && b.rng.Float64() < 0.15 {
			res[i] = resRef{svc: svc, empty: true}
			continue
		}
		var v int64
		switch services[svc].role {
		case roleExtract:
			v = []int64{0, 0, 10, 10, 100}[b.rng.IntN(5)]
		case roleInfo:
			v = []int64{0, 0, 0, 10, 50, 100, 250, 500}[b.rng.IntN(8)]
		case roleHeavy:
			v = []int64{0, 0, 10, 100, 500, 1000, 2000}[b.rng.IntN(7)]
		case roleSafe:
			v = []int64{0, 0, 0, -100}[b.rng.IntN(4)]
		}
		if v > 0 && v > rem {
			v = 0
		}
		res[i] = resRef{svc: svc, score: int32(v)}
		rem -= v
	}
	// Spread a large remainder over the other heavy services so single
	// results stay in the usual 10..5000 range where the file has them.
	const capScore = 5000
	for i := 1; i < len(res) && rem > capScore; i++ {
		if res[i].empty || services[res[i].svc].role != roleHeavy {
			continue
		}
		add := min(rem-capScore, capScore-int64(res[i].score))
		if add > 0 {
			res[i].score += int32(add)
			rem -= add
		}
	}
	res[0] = resRef{svc: absorber, score: int32(rem)}
	return res
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

// assignVariants makes result keys consistent across submissions: for
// each file and service, every distinct score gets its own conf_key
// variant (its rank among the distinct scores), so one key always means
// one score.
func (b *builder) assignVariants() {
	c := b.c
	refs := make([]uint8, len(c.sizes)) // saturating reference counts
	for i := range c.subs {
		for _, f := range c.subs[i].files {
			if refs[f.file] < 2 {
				refs[f.file]++
			}
		}
	}
	type entry struct {
		file  int32
		score int32
		sub   int32
		res   uint16
		svc   uint8
	}
	var es []entry
	for i := range c.subs {
		s := &c.subs[i]
		for _, f := range s.files {
			if refs[f.file] < 2 {
				continue
			}
			for k := int(f.resOff); k < int(f.resOff)+int(f.nRes); k++ {
				if r := s.res[k]; !r.empty {
					es = append(es, entry{f.file, r.score, int32(i), uint16(k), r.svc})
				}
			}
		}
	}
	slices.SortFunc(es, func(a, b entry) int {
		if a.file != b.file {
			return cmpInt(int64(a.file), int64(b.file))
		}
		if a.svc != b.svc {
			return cmpInt(int64(a.svc), int64(b.svc))
		}
		return cmpInt(int64(a.score), int64(b.score))
	})
	rank := 0
	for j, e := range es {
		switch {
		case j == 0 || e.file != es[j-1].file || e.svc != es[j-1].svc:
			rank = 0
		case e.score != es[j-1].score:
			rank++
		}
		c.subs[e.sub].res[e.res].variant = uint16(min(rank, math.MaxUint16))
	}
}

// confKey is the conf_key of a result variant.
func confKey(svc uint8, variant uint16) string {
	if variant == 0 {
		return services[svc].conf
	}
	return base62(0, mix64(uint64(svc)<<16|uint64(variant)))
}

// assignSIDs gives every submission a base62 SID of a random 128-bit value,
// without padding, and makes sure both common lengths occur.
func (b *builder) assignSIDs() {
	seen := make(map[string]bool, len(b.c.subs))
	gen := func(force int) string {
		for {
			hi, lo := b.rng.Uint64(), b.rng.Uint64()
			switch force {
			case 21:
				hi >>= 3 // < 2^125 < 62^21
			case 22:
				hi |= 1 << 63 // >= 2^127 > 62^21
			}
			s := base62(hi, lo)
			if (force == 0 || len(s) == force) && !seen[s] {
				seen[s] = true
				return s
			}
		}
	}
	has := map[int]bool{}
	for i := range b.c.subs {
		s := gen(0)
		b.c.subs[i].sid = s
		has[len(s)] = true
	}
	if len(b.c.subs) >= 2 {
		if !has[21] {
			b.c.subs[1].sid = gen(21)
		}
		if !has[22] {
			b.c.subs[0].sid = gen(22)
		}
	}
}

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// base62 encodes the 128-bit value hi:lo like python-baseconv: no padding.
func base62(hi, lo uint64) string {
	var buf [16]byte
	binary.BigEndian.PutUint64(buf[:8], hi)
	binary.BigEndian.PutUint64(buf[8:], lo)
	v := new(big.Int).SetBytes(buf[:])
	if v.Sign() == 0 {
		return "0"
	}
	s := v.Text(62)
	// big.Int uses 0-9a-zA-Z; the SID alphabet puts upper case first.
	out := []byte(s)
	for i, ch := range out {
		switch {
		case ch >= 'a' && ch <= 'z':
			out[i] = ch - 'a' + 'A'
		case ch >= 'A' && ch <= 'Z':
			out[i] = ch - 'A' + 'a'
		}
	}
	return string(out)
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

// doomedFiles returns the never-downloadable files for the given counts.
func (c *Corpus) doomedFiles(missing, corrupt int) (m, k map[int32]bool) {
	m, k = map[int32]bool{}, map[int32]bool{}
	for i, f := range c.doomOrder {
		switch {
		case i < missing:
			m[f] = true
		case i < missing+corrupt:
			k[f] = true
		default:
			return m, k
		}
	}
	return m, k
}

// ---------------------------------------------------------------------------
// Time

// elapsed is the arrival clock: time since the server started.
func (c *Corpus) elapsed(now time.Time) time.Duration { return now.Sub(c.start) }

// completedAt reports whether submission i is completed at elapsed time el.
func (c *Corpus) completedAt(i int, el time.Duration) bool { return el >= c.subs[i].arrive }

// visibleAt reports whether submission i is searchable at elapsed time el.
func (c *Corpus) visibleAt(i int, el time.Duration) bool {
	s := &c.subs[i]
	return s.kind != Late || el >= s.arrive
}

// eventual reports whether submission i ever completes.
func (c *Corpus) eventual(i int) bool { return c.subs[i].arrive != never }

// ---------------------------------------------------------------------------
// Hashes

// sha returns file f's sha256, computing and indexing it on first use.
func (c *Corpus) sha(f int32) *[32]byte {
	if !c.hashed[f].Load() {
		c.storeHash(f, c.content(f).sha256)
	}
	return &c.hashes[f]
}

// storeHash records and indexes file f's sha256 unless it is known
// already; hash runs under f's lock, so at most once per file.
func (c *Corpus) storeHash(f int32, hash func() [32]byte) {
	mu := &c.hashMu[int(f)%len(c.hashMu)]
	mu.Lock()
	defer mu.Unlock()
	if !c.hashed[f].Load() {
		h := hash()
		c.hashes[f] = h
		c.addIndex(h, f)
		c.hashed[f].Store(true)
	}
}

func (c *Corpus) shaHex(f int32) string { return hex.EncodeToString(c.sha(f)[:]) }

func (c *Corpus) addIndex(h [32]byte, f int32) {
	k := binary.BigEndian.Uint64(h[:8])
	c.idxMu.Lock()
	defer c.idxMu.Unlock()
	if old, ok := c.idx[k]; ok && old != f {
		c.idxMore[h] = f
		return
	}
	c.idx[k] = f
}

func (c *Corpus) lookupIndexed(h [32]byte) (int32, bool) {
	c.idxMu.RLock()
	defer c.idxMu.RUnlock()
	if f, ok := c.idx[binary.BigEndian.Uint64(h[:8])]; ok && c.hashed[f].Load() && c.hashes[f] == h {
		return f, true
	}
	f, ok := c.idxMore[h]
	return f, ok
}

// lookup finds a file by sha256. A hash nobody has seen yet (a client
// remembering files from an earlier alsim process) makes the corpus hash
// every file once, so the answer is always right.
func (c *Corpus) lookup(h [32]byte) (int32, bool) {
	if f, ok := c.lookupIndexed(h); ok {
		return f, true
	}
	c.indexAllOnce.Do(func() {
		all := make([]int32, len(c.sizes))
		for i := range all {
			all[i] = int32(i)
		}
		c.hashAll(all)
	})
	return c.lookupIndexed(h)
}

// prehashAll computes every file's sha256, and md5 and sha1 for the
// footers of their cART encodings, on all CPUs, so that serving a download
// hashes nothing.
func (c *Corpus) prehashAll() {
	c.md5s = make([][16]byte, len(c.sizes))
	c.sha1s = make([][20]byte, len(c.sizes))
	onAllCPUs(len(c.sizes), func(i int) {
		f := int32(i)
		m, s1, h := c.content(f).allDigests()
		c.md5s[f], c.sha1s[f] = m, s1
		c.storeHash(f, func() [32]byte { return h })
	})
}

// footer returns the optional footer of file f's cART encoding when the
// digests were precomputed, else nil (cart.Pack then computes them).
func (c *Corpus) footer(f int32) map[string]string {
	if c.md5s == nil {
		return nil
	}
	return map[string]string{
		"md5":    hex.EncodeToString(c.md5s[f][:]),
		"sha1":   hex.EncodeToString(c.sha1s[f][:]),
		"sha256": hex.EncodeToString(c.sha(f)[:]),
		"length": strconv.FormatInt(c.sizes[f], 10),
	}
}

// hashAll computes the given files' hashes on all CPUs.
func (c *Corpus) hashAll(files []int32) {
	onAllCPUs(len(files), func(i int) { c.sha(files[i]) })
}

// onAllCPUs calls do(i) for every i in [0, n), spread over GOMAXPROCS
// goroutines, and returns when all calls have.
func onAllCPUs(n int, do func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				do(int(i))
			}
		})
	}
	wg.Wait()
}

// ---------------------------------------------------------------------------
// Expected sets

// qualifying lists, without duplicates, the files whose per-file score
// reaches threshold in some submission accepted by include.
func (c *Corpus) qualifying(threshold int64, include func(i int) bool) []int32 {
	seen := make([]uint64, (len(c.sizes)+63)/64)
	var out []int32
	for i := range c.subs {
		if !include(i) {
			continue
		}
		for _, fr := range c.subs[i].files {
			if int64(fr.score) >= threshold && seen[fr.file/64]&(1<<(fr.file%64)) == 0 {
				seen[fr.file/64] |= 1 << (fr.file % 64)
				out = append(out, fr.file)
			}
		}
	}
	return out
}

// sortedHex hashes the files and returns their sha256s sorted.
func (c *Corpus) sortedHex(files []int32) []string {
	c.hashAll(files)
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = c.shaHex(f)
	}
	slices.Sort(out)
	return out
}

// ---------------------------------------------------------------------------
// Read-only view for tests and tools

// FileScore is one file of a submission with its score there.
type FileScore struct {
	FileID int
	SHA256 string
	Size   int64
	// Score is the sum of this submission's results for the file.
	Score int64
	// Root is true for submitted files, false for extracted ones.
	Root bool
}

// SubmissionInfo describes one submission as it is once complete.
type SubmissionInfo struct {
	Index int
	SID   string
	Kind  Kind
	// MaxScore is max_score once the submission is complete.
	MaxScore  int64
	Submitted time.Time
	// Completed is times.completed once complete (zero if it never is).
	Completed time.Time
	// CompletesAfter is how long after server start the submission
	// completes (Incomplete) or appears (Late); zero for Normal.
	CompletesAfter time.Duration
	Files          []FileScore
}

// EdgeCase names a deliberate threshold edge case of the corpus.
type EdgeCase struct {
	// Name says what the case exercises, e.g. "exact-threshold".
	Name string
	SID  string
	// SHA256 and Score identify the file and its per-file score in that
	// submission.
	SHA256 string
	Score  int64
	// MaxScore is the submission's max_score.
	MaxScore int64
}

type edgeCase struct {
	name string
	sub  int32
	ref  int
}

// Len is the number of submissions.
func (c *Corpus) Len() int { return len(c.subs) }

// NumFiles is the number of distinct files.
func (c *Corpus) NumFiles() int { return len(c.sizes) }

// Submission describes submission i (0 <= i < Len()); it hashes the files.
func (c *Corpus) Submission(i int) SubmissionInfo {
	s := &c.subs[i]
	info := SubmissionInfo{
		Index:     i,
		SID:       s.sid,
		Kind:      s.kind,
		MaxScore:  int64(s.maxScore),
		Submitted: time.UnixMicro(s.submitted).UTC(),
	}
	if c.eventual(i) {
		info.Completed = time.UnixMicro(s.completed).UTC()
	}
	if s.kind != Normal {
		info.CompletesAfter = s.arrive
	}
	for _, fr := range s.files {
		info.Files = append(info.Files, FileScore{
			FileID: int(fr.file), SHA256: c.shaHex(fr.file), Size: c.sizes[fr.file],
			Score: int64(fr.score), Root: fr.parent < 0,
		})
	}
	return info
}

// Lookup finds a submission by SID.
func (c *Corpus) Lookup(sid string) (SubmissionInfo, bool) {
	i, ok := c.bySID[sid]
	if !ok {
		return SubmissionInfo{}, false
	}
	return c.Submission(int(i)), true
}

// EdgeCases lists the deliberate edge cases (empty for tiny corpora).
func (c *Corpus) EdgeCases() []EdgeCase {
	out := make([]EdgeCase, 0, len(c.edgeCases))
	for _, e := range c.edgeCases {
		s := &c.subs[e.sub]
		fr := s.files[e.ref]
		out = append(out, EdgeCase{
			Name: e.name, SID: s.sid, SHA256: c.shaHex(fr.file),
			Score: int64(fr.score), MaxScore: int64(s.maxScore),
		})
	}
	return out
}

// FileSHA256 returns a file's sha256 by id.
func (c *Corpus) FileSHA256(id int) string { return c.shaHex(int32(id)) }

// FileSize returns a file's size by id.
func (c *Corpus) FileSize(id int) int64 { return c.sizes[id] }

// BigFile returns the id of the Config.BigFileSize file, or -1.
func (c *Corpus) BigFile() int { return int(c.bigFile) }
