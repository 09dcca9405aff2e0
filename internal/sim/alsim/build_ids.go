package alsim

import (
	"encoding/binary"
	"math"
	"math/big"
	"slices"
)

// Identifiers while building: conf_key variants that keep one key per
// score, and base62 SIDs of both common lengths.

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
