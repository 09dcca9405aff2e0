package alsim

import (
	"math"
	"slices"
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

func (s *subRec) resOf(ref int) []resRef {
	f := s.files[ref]
	return s.res[f.resOff : int(f.resOff)+int(f.nRes)]
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
