package alsim

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Search over the submission index (§3): Lucene subset, sort, fl, offset
// paging with Elasticsearch's 10 000 window, and deep paging through
// point-in-time snapshots exactly as assemblyline-base drives them.

const maxResultWindow = 10000

// searchParams are the request arguments after GET/POST decoding. Numbers
// stay raw until used, as Elasticsearch coerces them.
type searchParams struct {
	query        string
	filters      []string
	offset       any
	rows         any
	sort         string
	fl           *string
	deepPagingID *string
	trackTotal   any
}

// searchError is a failure with the HTTP status and message to send.
type searchError struct {
	status int
	msg    string
}

func (e *searchError) Error() string { return e.msg }

func searchException(format string, args ...any) *searchError {
	return &searchError{400, "SearchException: " + fmt.Sprintf(format, args...)}
}

var errInternal = &searchError{500, "Internal Server Error"}

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

// cursor is an open point in time: the index as it was when it opened.
type cursor struct {
	id      string
	snapEl  time.Duration
	expires time.Time
	pages   int
	// memo caches the sorted matches of the last query run in this
	// snapshot; a deep-paging loop repeats the same query every page.
	memoKey string
	memo    []int32
}

type cursorStore struct {
	mu sync.Mutex
	m  map[string]*cursor
}

func newPitID() string {
	// Shaped like an Elasticsearch 8 PIT id: long URL-safe base64.
	var buf [90]byte
	copy(buf[:], "\x01\x0bsubmission_hot\x16alsim-node-0\x00\x00\x00\x00\x00\x00\x00\x00")
	rand.Read(buf[40:])
	return base64.URLEncoding.EncodeToString(buf[:])
}

// toInt coerces a parameter the way Elasticsearch would.
func toInt(v any, name string, def int) (int, *searchError) {
	switch x := v.(type) {
	case nil:
		return def, nil
	case float64:
		if x != math.Trunc(x) {
			return 0, searchException("[%s] failed to parse field [%s]", name, name)
		}
		return int(x), nil
	case json.Number:
		n, err := strconv.Atoi(string(x))
		if err != nil {
			return 0, searchException("[%s] failed to parse field [%s]", name, name)
		}
		return n, nil
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil {
			return 0, searchException("Failed to parse int parameter [%s] with value [%s]", name, x)
		}
		return n, nil
	case bool:
		return 0, searchException("[%s] failed to parse field [%s]", name, name)
	}
	return 0, errInternal
}

// search runs one search request and returns the api_response JSON.
func (s *Server) search(p searchParams, now time.Time) ([]byte, *searchError) {
	c := s.corpus
	offset, serr := toInt(p.offset, "from", 0)
	if serr != nil {
		return nil, serr
	}
	rows, serr := toInt(p.rows, "size", 25)
	if serr != nil {
		return nil, serr
	}
	// Parse the deep paging id first: a malformed one blows up in
	// assemblyline before Elasticsearch is ever asked.
	var pitID string
	var after []any
	deep := p.deepPagingID != nil
	if deep && strings.Contains(*p.deepPagingID, ",") {
		parts := strings.Split(*p.deepPagingID, ",")
		if len(parts) != 2 {
			return nil, errInternal
		}
		raw, err := pyB64Decode(parts[1])
		if err != nil {
			return nil, errInternal
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil || dec.More() {
			return nil, errInternal
		}
		arr, ok := v.([]any)
		if !ok {
			return nil, searchException("search_after must be an array of sort values")
		}
		pitID, after = parts[0], arr
	}
	switch {
	case offset < 0:
		return nil, searchException("[from] parameter cannot be negative")
	case rows < 0:
		return nil, searchException("[size] parameter cannot be negative, found [%d]", rows)
	case offset+rows > maxResultWindow:
		return nil, searchException("Result window is too large, from + size must be less than or equal to: [%d] but was [%d]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.", maxResultWindow, offset+rows)
	case after != nil && offset != 0:
		return nil, searchException("`from` parameter must be set to 0 when `search_after` is used.")
	}
	spec, serr := parseSort(p.sort)
	if serr != nil {
		return nil, serr
	}
	nowMS := now.UnixMilli() - (s.corpus.start.UnixMilli() - time.UnixMicro(c.anchor).UnixMilli())
	var qs []query
	for _, src := range append([]string{p.query}, p.filters...) {
		q, err := parseQuery(src, nowMS)
		if err != nil {
			return nil, searchException("%s", err.Error())
		}
		qs = append(qs, q)
	}
	var sel selection
	if p.fl == nil || *p.fl == "" {
		sel = storedSelection
	} else {
		sel = selectFields(*p.fl)
	}

	el := c.elapsed(now)
	var cur *cursor
	var list []int32
	total := -1
	memoKey := p.query + "\x00" + strings.Join(p.filters, "\x00") + "\x00" + p.sort
	if deep {
		var serr *searchError
		cur, serr = s.openOrFind(pitID, now)
		if serr != nil {
			return nil, serr
		}
		s.cursors.mu.Lock()
		if cur.memoKey != memoKey || cur.memo == nil {
			s.cursors.mu.Unlock()
			m := c.matches(qs, spec, cur.snapEl)
			s.cursors.mu.Lock()
			cur.memoKey, cur.memo = memoKey, m
		}
		list = cur.memo
		s.cursors.mu.Unlock()
		el = cur.snapEl
	} else {
		list = c.matches(qs, spec, el)
		total = len(list)
		switch tt := p.trackTotal.(type) {
		case nil:
			total = min(total, maxResultWindow)
		case bool:
			if !tt {
				total = -1
			}
		case string:
			if tt == "false" {
				total = -1
			} else if n, err := strconv.Atoi(tt); err == nil && n >= 0 {
				total = min(total, n)
			} else if tt != "true" {
				total = min(total, maxResultWindow)
			}
		case float64:
			total = min(total, int(tt))
		case json.Number:
			if n, err := tt.Int64(); err == nil {
				total = min(total, int(n))
			}
		}
	}

	start := offset
	if after != nil {
		if len(after) != len(spec)+1 {
			return nil, searchException("search_after has %d value(s) but sort has %d.", len(after), len(spec)+1)
		}
		key, doc, serr := decodeAfter(after, spec)
		if serr != nil {
			return nil, serr
		}
		start, _ = slices.BinarySearchFunc(list, 0, func(i int32, _ int) int {
			ik := sortKey(c, int(i), c.completedAt(int(i), el), spec)
			if cmp := compareKeys(ik, int(i), key, doc, spec); cmp <= 0 {
				return -1
			}
			return 1
		})
	}
	end := min(start+rows, len(list))
	start = min(start, end)
	page := list[start:end]

	w := &jw{b: make([]byte, 0, 256+len(page)*400)}
	w.obj()
	w.key("items")
	w.arr()
	for _, i := range page {
		sel.writeItem(w, c, int(i), c.completedAt(int(i), el))
	}
	w.endArr()
	if cur != nil {
		if len(page) < rows {
			s.closeCursor(cur.id)
		} else if len(page) > 0 {
			last := int(page[len(page)-1])
			sv := append(sortKey(c, last, c.completedAt(last, el), spec), sortVal{n: int64(last)})
			w.kstr("next_deep_paging_id", cur.id+","+base64.StdEncoding.EncodeToString(pyJSONList(sv)))
		}
	}
	w.kint("offset", int64(offset))
	w.kint("rows", int64(rows))
	if total < 0 {
		w.knull("total")
	} else {
		w.kint("total", int64(total))
	}
	w.end()
	return w.b, nil
}

// pyJSONList renders sort values like Python's json.dumps: ", " between.
func pyJSONList(vs []sortVal) []byte {
	b := []byte{'['}
	for k, v := range vs {
		if k > 0 {
			b = append(b, ", "...)
		}
		b = v.appendJSON(b)
	}
	return append(b, ']')
}

// pyB64Decode behaves like Python's base64.b64decode without validate:
// characters outside the alphabet are dropped, then padding must be right.
func pyB64Decode(s string) ([]byte, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' {
			b.WriteByte(c)
		}
	}
	return base64.StdEncoding.DecodeString(b.String())
}

// decodeAfter turns search_after JSON values into a comparable key and the
// _shard_doc value.
func decodeAfter(after []any, spec []sortField) ([]sortVal, int, *searchError) {
	key := make([]sortVal, len(spec))
	num := func(v any) (int64, bool) {
		switch x := v.(type) {
		case json.Number:
			if n, err := x.Int64(); err == nil {
				return n, true
			}
			if f, err := x.Float64(); err == nil {
				return int64(f), true
			}
		case string:
			if n, err := strconv.ParseInt(x, 10, 64); err == nil {
				return n, true
			}
		}
		return 0, false
	}
	for k, sf := range spec {
		v := after[k]
		switch {
		case v == nil:
			key[k] = sortVal{null: true}
		case sf.f.typ == ftKeyword:
			s, ok := v.(string)
			if !ok {
				s = fmt.Sprint(v)
			}
			key[k] = sortVal{s: s, isStr: true}
		default:
			n, ok := num(v)
			if !ok {
				return nil, 0, searchException("Failed to parse search_after value for field [%s].", sf.f.path)
			}
			key[k] = sortVal{n: n}
		}
	}
	doc, ok := num(after[len(spec)])
	if !ok {
		return nil, 0, searchException("Failed to parse search_after value for field [_shard_doc].")
	}
	return key, int(doc), nil
}

// openOrFind opens a new point in time (pitID == "") or finds an existing
// one, extending its keep-alive either way.
func (s *Server) openOrFind(pitID string, now time.Time) (*cursor, *searchError) {
	cs := &s.cursors
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for id, cur := range cs.m {
		if now.After(cur.expires) {
			delete(cs.m, id)
			s.stats.cursorsExpired.Add(1)
		}
	}
	if pitID == "" {
		if len(cs.m) >= s.cfg.MaxOpenCursors {
			return nil, searchException("Trying to create too many Point In Time contexts. Must be less than or equal to: [%d]. This limit can be set by changing the [search.max_open_pit_context] setting.", s.cfg.MaxOpenCursors)
		}
		cur := &cursor{id: newPitID(), snapEl: s.corpus.elapsed(now), expires: now.Add(s.cfg.CursorKeepAlive), pages: 1}
		cs.m[cur.id] = cur
		s.stats.cursorsOpened.Add(1)
		return cur, nil
	}
	cur, ok := cs.m[pitID]
	if !ok {
		return nil, noContext(pitID)
	}
	if s.faults.expireCursor(cur.pages) {
		delete(cs.m, pitID)
		s.stats.cursorsExpired.Add(1)
		s.stats.fault("cursor_expired")
		return nil, noContext(pitID)
	}
	cur.pages++
	cur.expires = now.Add(s.cfg.CursorKeepAlive)
	return cur, nil
}

func noContext(pitID string) *searchError {
	return searchException("No search context found for id [%s]", pitID)
}

func (s *Server) closeCursor(id string) {
	s.cursors.mu.Lock()
	defer s.cursors.mu.Unlock()
	if _, ok := s.cursors.m[id]; ok {
		delete(s.cursors.m, id)
		s.stats.cursorsClosed.Add(1)
	}
}
