package alsim

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sorting (§3.2): sort specs, per-document sort keys with Elasticsearch's
// missing-value rules, and the matching documents in sort order.

type sortField struct {
	f    *field
	desc bool
}

// sortVal is one sort value as Elasticsearch reports it in hit.sort.
type sortVal struct {
	n     int64
	s     string
	isStr bool
	null  bool
}

func (v sortVal) appendJSON(b []byte) []byte {
	switch {
	case v.null:
		return append(b, "null"...)
	case v.isStr:
		return appendJSONString(b, v.s)
	}
	return strconv.AppendInt(b, v.n, 10)
}

// parseSort follows assemblyline's parse_sort: comma-separated "field dir"
// items, a bare field meaning asc, anything else an error.
func parseSort(s string) ([]sortField, *searchError) {
	var out []sortField
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		parts := strings.Split(item, " ")
		dir := "asc"
		switch {
		case len(parts) == 1:
		case len(parts) == 2 && (parts[1] == "asc" || parts[1] == "desc"):
			dir = parts[1]
		default:
			return nil, searchException("Unknown sort parameter %s", item)
		}
		f, ok := lookupField(parts[0])
		if !ok {
			return nil, searchException("No mapping found for [%s] in order to sort on", parts[0])
		}
		switch {
		case f.typ == ftText:
			return nil, searchException("Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set fielddata=true on [%s] in order to load field data by uninverting the inverted index. Note that this can use significant memory.", f.path)
		case f.multi != nil:
			return nil, searchException("alsim does not support sorting on the multi-valued field [%s]", f.path)
		}
		out = append(out, sortField{f, dir == "desc"})
	}
	return out, nil
}

// sortKey computes hit.sort for document i (without the _shard_doc tie
// breaker). Missing numbers sort last in both directions, which
// Elasticsearch expresses with Long.MIN/MAX sentinels.
func sortKey(c *Corpus, i int, done bool, spec []sortField) []sortVal {
	out := make([]sortVal, len(spec))
	for k, sf := range spec {
		v, ok := sf.f.get(c, i, done)
		switch sf.f.typ {
		case ftKeyword:
			if ok {
				out[k] = sortVal{s: v.s, isStr: true}
			} else {
				out[k] = sortVal{null: true}
			}
		default:
			switch {
			case !ok && sf.desc:
				out[k] = sortVal{n: math.MinInt64}
			case !ok:
				out[k] = sortVal{n: math.MaxInt64}
			case sf.f.typ == ftDate:
				out[k] = sortVal{n: floorDiv(v.n, 1000)}
			default:
				out[k] = sortVal{n: v.n}
			}
		}
	}
	return out
}

// compareKeys orders two (key, doc) pairs by spec, then by doc descending
// (the _shard_doc tie breaker).
func compareKeys(a []sortVal, ai int, b []sortVal, bi int, spec []sortField) int {
	for k, sf := range spec {
		x, y := a[k], b[k]
		var c int
		switch {
		case x.null && y.null:
		case x.null:
			c = 1
		case y.null:
			c = -1
		case x.isStr:
			c = strings.Compare(x.s, y.s)
			if sf.desc {
				c = -c
			}
		default:
			c = cmpInt(x.n, y.n)
			if sf.desc {
				c = -c
			}
		}
		if c != 0 {
			return c
		}
	}
	return cmpInt(int64(bi), int64(ai))
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// matches evaluates query and filters over the snapshot at elapsed time el
// and returns the matching documents in sort order.
func (c *Corpus) matches(q []query, spec []sortField, el time.Duration) []int32 {
	test := func(i int) bool {
		if !c.visibleAt(i, el) {
			return false
		}
		done := c.completedAt(i, el)
		for _, qq := range q {
			if !qq.match(c, i, done) {
				return false
			}
		}
		return true
	}
	// The default sort has a precomputed order.
	if len(spec) == 1 && spec[0].desc && spec[0].f.path == "times.submitted" {
		var out []int32
		for _, i := range c.byTime {
			if test(int(i)) {
				out = append(out, i)
			}
		}
		return out
	}
	type hit struct {
		i   int32
		key []sortVal
	}
	var hits []hit
	for i := range c.subs {
		if test(i) {
			hits = append(hits, hit{int32(i), sortKey(c, i, c.completedAt(i, el), spec)})
		}
	}
	slices.SortFunc(hits, func(a, b hit) int { return compareKeys(a.key, int(a.i), b.key, int(b.i), spec) })
	out := make([]int32, len(hits))
	for k, h := range hits {
		out[k] = h.i
	}
	return out
}
