package alsim

import (
	"slices"
)

// Scores while building: per-file targets above or below the design
// threshold, split exactly into plausible service results.

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
