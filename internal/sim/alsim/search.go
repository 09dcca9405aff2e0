package alsim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
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
