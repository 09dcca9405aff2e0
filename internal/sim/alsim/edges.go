package alsim

// Deliberate threshold edge cases. Every score is derived from the design
// threshold T so the cases keep their meaning for any T; the comments give
// the values for T = 7000.

type ecomp struct {
	svc   string
	score int64
	empty bool
}

type efile struct {
	label  string // non-empty: reported by Corpus.EdgeCases under this name
	share  string // files with the same key are one file across edge submissions
	parent int    // index of the parent file in the submission, -1 for a root
	comps  []ecomp
}

type espec struct {
	files []efile
	dups  [][2]int // extra (parent, child) tree edges
}

func edgeSpecs(T int64) []espec {
	a := T * 5 / 7 // 5000
	b := T - a     // 2000
	c := T * 3 / 10
	return []espec{
		// Exactly T, from two services plus a zero and an empty result.
		{files: []efile{
			{label: "exact-threshold", parent: -1, comps: []ecomp{{"YARA", a, false}, {"AntiVirus", b, false}, {"Characterize", 0, false}, {"Extract", 0, true}}},
			{parent: 0, comps: []ecomp{{"PEFile", 10, false}, {"Characterize", 0, false}}},
		}},
		// T-1: neither the file nor the submission (max_score T-1) matches.
		{files: []efile{
			{label: "one-below-threshold", parent: -1, comps: []ecomp{{"AntiVirus", a, false}, {"YARA", b - 1, false}, {"PEFile", 0, false}}},
		}},
		// T+1.
		{files: []efile{
			{label: "one-above-threshold", parent: -1, comps: []ecomp{{"AntiVirus", a, false}, {"YARA", b + 1, false}}},
		}},
		// Only the sum of four services reaches T; no three of them do (7500).
		{files: []efile{
			{parent: -1, comps: []ecomp{{"Extract", 10, false}, {"Characterize", 0, false}}},
			{label: "sum-of-services", parent: 0, comps: []ecomp{{"YARA", c, false}, {"AntiVirus", c, false}, {"Cuckoo", c, false}, {"ConfigExtractor", T - 3*c + T/14, false}}},
		}},
		// Positive results reach T (7500) but a safelisting -1000 pushes the
		// file to 6500; the submission matches through its root (8000).
		{files: []efile{
			{label: "qualifying-beside-negative", parent: -1, comps: []ecomp{{"YARA", a, false}, {"AntiVirus", T * 3 / 7, false}, {"Extract", 0, false}}},
			{label: "pushed-below-by-negative", parent: 0, comps: []ecomp{{"YARA", a, false}, {"AntiVirus", T*2/7 + T/14, false}, {"Safelist", -T / 7, false}}},
		}},
		// max_score >= T through one file only; the others stay below
		// (3500, 7250, 6990, 0, -100).
		{files: []efile{
			{parent: -1, comps: []ecomp{{"Extract", 10, false}, {"YARA", T/2 - 10, false}}},
			{label: "only-qualifying-file", parent: 0, comps: []ecomp{{"AntiVirus", a, false}, {"Cuckoo", b + T/28, false}}},
			{label: "near-miss-in-matching", parent: 0, comps: []ecomp{{"YARA", a, false}, {"AntiVirus", b - 10, false}}},
			{parent: 0, comps: []ecomp{{"Characterize", 0, false}, {"PEFile", 0, false}}},
			{parent: 1, comps: []ecomp{{"TagCheck", -100, false}, {"Characterize", 0, false}}},
		}},
		// One file, three submissions, three scores: 7100 (qualifies), 6800
		// in a submission matching through another file, 500 in a
		// non-matching one.
		{files: []efile{
			{label: "shared-qualifying-here", share: "X", parent: -1, comps: []ecomp{{"YARA", a, false}, {"AntiVirus", b + T/70, false}}},
		}},
		{files: []efile{
			{label: "matching-by-other-file", parent: -1, comps: []ecomp{{"AntiVirus", a, false}, {"YARA", b + T/14, false}}},
			{label: "shared-below-here", share: "X", parent: 0, comps: []ecomp{{"YARA", a, false}, {"PEFile", b - T/35, false}}},
		}},
		{files: []efile{
			{label: "shared-low-nonmatching", share: "X", parent: -1, comps: []ecomp{{"PEFile", T / 14, false}, {"Characterize", 0, false}}},
		}},
		// Every file negative: max_score is clamped to 0 (AL 4.7).
		{files: []efile{
			{label: "all-negative", parent: -1, comps: []ecomp{{"Safelist", -T / 7, false}, {"Characterize", 0, false}}},
			{parent: 0, comps: []ecomp{{"TagCheck", -100, false}}},
		}},
		// A qualifying file extracted by two parents: the tree shows it twice,
		// the second node truncated; its results count once (8000).
		{files: []efile{
			{parent: -1, comps: []ecomp{{"Extract", 10, false}, {"Characterize", 0, false}}},
			{parent: 0, comps: []ecomp{{"Extract", 0, false}, {"Oletools", 10, false}}},
			{label: "extracted-twice", parent: 0, comps: []ecomp{{"YARA", a, false}, {"AntiVirus", b + T/7, false}}},
		}, dups: [][2]int{{1, 2}}},
	}
}

func (b *builder) edgeSub(sp espec) {
	roots := 0
	for _, f := range sp.files {
		if f.parent < 0 {
			roots++
		}
	}
	s := b.startSub(roots)
	i := int32(len(b.c.subs) - 1)
	for j, f := range sp.files {
		file, ok := b.shared[f.share]
		if f.share == "" || !ok {
			file = b.newFile(b.randSize(), payloadTypes[b.rng.IntN(len(payloadTypes))])
			if f.share != "" {
				b.shared[f.share] = file
			}
		}
		res := make([]resRef, len(f.comps))
		for k, cp := range f.comps {
			res[k] = resRef{svc: serviceIndex(cp.svc), score: int32(cp.score), empty: cp.empty}
		}
		b.addRef(s, file, int16(f.parent), res)
		if f.label != "" {
			b.c.edgeCases = append(b.c.edgeCases, edgeCase{name: f.label, sub: i, ref: j})
		}
	}
	for _, d := range sp.dups {
		s.dups = append(s.dups, edgeRef{uint16(d[0]), uint16(d[1])})
	}
	b.finishSub(s)
}
