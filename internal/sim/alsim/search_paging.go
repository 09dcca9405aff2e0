package alsim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Deep paging (§3.3): point-in-time cursors, the "<pit>,<base64(json(sort))>"
// ids with Python's json spacing and lenient base64, and search_after.

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
