package assemblyline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/pkg/messages"
)

// Search page sizes. Elasticsearch refuses pages over 10 000 rows
// (index.max_result_window), so the client does too, before asking.
const (
	DefaultSearchRows = 500
	MaxSearchRows     = 10000
)

// searchFields are always requested: SearchItem reports them, and without
// an fl the server returns its stored fields, which lack times.completed.
var searchFields = []string{"sid", "max_score", "times.completed"}

// SearchRequest selects submissions. Query and Filters are Lucene, as in the
// Assemblyline UI.
type SearchRequest struct {
	// Query is required, e.g. "max_score:>=7000".
	Query string
	// Filters are extra filter queries, ANDed with Query.
	Filters []string
	// Fields is the fl list. sid, max_score and times.completed are always
	// added, since SearchItem reports them.
	Fields []string
	// Rows is the page size: DefaultSearchRows when 0, at most MaxSearchRows.
	Rows int
}

// SearchItem is one submission found.
type SearchItem struct {
	SID string
	// Completed is times.completed; zero when absent or unparsable.
	Completed time.Time
	// MaxScore is max_score; zero when absent or not an integral number.
	MaxScore int64
}

// searchBody is the POST body. There is no offset (Elasticsearch refuses one
// with search_after) and no sort (the index default, identical on every page).
type searchBody struct {
	Query        string   `json:"query"`
	Filters      []string `json:"filters,omitempty"`
	FL           string   `json:"fl"`
	Rows         int      `json:"rows"`
	DeepPagingID string   `json:"deep_paging_id"`
}

// searchPage is the part of api_response the sweep needs. Items stay raw so
// one malformed item cannot fail its whole page.
type searchPage struct {
	Items []json.RawMessage `json:"items"`
	Next  *string           `json:"next_deep_paging_id"`
}

// SearchSubmissions deep-pages POST /api/v4/search/submission/ starting at deep_paging_id "*",
// calling fn for each page, until next_deep_paging_id is missing or items is empty.
//
// A page that fails in a retryable way is asked again in-process with the
// same cursor. A cursor that expired (Assemblyline keeps one for 5 minutes
// after the last page) ends the sweep with a failure.CursorExpired error: the
// sweep must start over, and stopping silently would lose the rest. Items
// whose sid is not a valid SID are skipped and logged as warnings, so one bad
// item does not abort a sweep; fn is not called for a page left empty. An
// error from fn stops the sweep and is returned wrapped.
func (c *Client) SearchSubmissions(ctx context.Context, req SearchRequest, fn func(items []SearchItem) error) error {
	if fn == nil {
		return failure.Errorf(failure.Invalid, "assemblyline search: nil page handler")
	}
	if strings.TrimSpace(req.Query) == "" {
		return failure.Errorf(failure.Invalid, "assemblyline search: empty query")
	}
	rows := req.Rows
	if rows == 0 {
		rows = DefaultSearchRows
	}
	if rows < 0 || rows > MaxSearchRows {
		return failure.Errorf(failure.Invalid, "assemblyline search: %d rows per page; want 1 to %d", req.Rows, MaxSearchRows)
	}
	body := searchBody{Query: req.Query, Filters: req.Filters, FL: fieldList(req.Fields), Rows: rows, DeepPagingID: "*"}

	var pages, found, skipped int
	for {
		raw, err := json.Marshal(body)
		if err != nil {
			return failure.Errorf(failure.Invalid, "assemblyline search: encoding the request: %w", err)
		}
		page, err := callJSON(ctx, c, epSearch, "/api/v4/search/submission/", raw, func(p *searchPage) (*searchPage, error) {
			if p.Items == nil {
				// items missing or null is not an empty last page (that is
				// "items": []); ending the sweep here would lose the rest.
				return nil, failure.Errorf(failure.Unavailable, "assemblyline search: the answer has no items list")
			}
			return p, nil
		})
		if err != nil {
			return fmt.Errorf("search page %d: %w", pages+1, err)
		}
		pages++
		items := make([]SearchItem, 0, len(page.Items))
		for i, rawItem := range page.Items {
			it, skip, note := parseSearchItem(rawItem, c.quote)
			if skip != nil {
				skipped++
				c.log.LogAttrs(ctx, slog.LevelWarn, "assemblyline: skipping a search item",
					slog.Int("page", pages), slog.Int("index", i), slog.String("reason", skip.Error()))
				continue
			}
			if note != nil {
				c.log.LogAttrs(ctx, slog.LevelWarn, "assemblyline: search item has a malformed field",
					slog.String("sid", it.SID), slog.String("reason", note.Error()))
			}
			items = append(items, it)
		}
		found += len(items)
		if len(items) > 0 {
			if err := fn(items); err != nil {
				return fmt.Errorf("search page %d handler: %w", pages, err)
			}
		}
		if len(page.Items) == 0 || page.Next == nil || *page.Next == "" {
			break
		}
		body.DeepPagingID = *page.Next // always the newest: the PIT id may change
	}

	level := slog.LevelDebug
	if skipped > 0 {
		level = slog.LevelWarn
	}
	c.log.LogAttrs(ctx, level, "assemblyline: search finished",
		slog.Int("pages", pages), slog.Int("items", found), slog.Int("skipped", skipped))
	return nil
}

// fieldList builds fl: the caller's fields plus searchFields, without duplicates.
func fieldList(extra []string) string {
	seen := make(map[string]bool)
	var out []string
	for _, f := range append(append([]string{}, searchFields...), extra...) {
		f = strings.TrimSpace(f)
		if f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return strings.Join(out, ",")
}

// parseSearchItem decodes one item. skip says why the item is unusable (no
// valid sid); note reports a malformed optional field, left at zero. quote
// prepares server text for the messages.
func parseSearchItem(raw json.RawMessage, quote func(string) string) (it SearchItem, skip, note error) {
	var r struct {
		SID      json.RawMessage `json:"sid"`
		MaxScore json.RawMessage `json:"max_score"`
		Times    json.RawMessage `json:"times"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return it, errors.New("item is not a JSON object"), nil
	}
	if len(r.SID) == 0 {
		return it, errors.New("item has no sid"), nil
	}
	if err := json.Unmarshal(r.SID, &it.SID); err != nil {
		return it, errors.New("item's sid is not a string"), nil
	}
	if messages.ValidateSID(it.SID) != nil {
		// Not messages' own error: it shortens the sid before this package
		// could scrub it, which could leave a fragment of an echoed key.
		if len(it.SID) > 22 {
			return SearchItem{}, fmt.Errorf("sid of %d characters; a SID has 1 to 22", len(it.SID)), nil
		}
		return SearchItem{}, fmt.Errorf("sid %s is not 1 to 22 base62 characters", quote(it.SID)), nil
	}
	if len(r.MaxScore) > 0 && string(r.MaxScore) != "null" {
		v, err := parseScore(r.MaxScore)
		if err != nil {
			note = fmt.Errorf("max_score: %w", err)
		}
		it.MaxScore = v
	}
	if len(r.Times) > 0 && string(r.Times) != "null" {
		var t struct {
			Completed *string `json:"completed"`
		}
		if err := json.Unmarshal(r.Times, &t); err != nil {
			note = errors.Join(note, errors.New("times is not an object with a string completed"))
		} else if t.Completed != nil && *t.Completed != "" {
			ts, err := parseTime(*t.Completed, quote)
			if err != nil {
				note = errors.Join(note, fmt.Errorf("times.completed: %w", err))
			}
			it.Completed = ts
		}
	}
	return it, nil, note
}

// parseTime reads Assemblyline's ISO-8601 timestamps, which omit the fraction
// when it is zero; RFC3339Nano accepts both forms.
func parseTime(s string, quote func(string) string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s is not an RFC 3339 time", quote(s))
	}
	return t, nil
}

// parseScore reads a score: a JSON number with an integral value. Floats
// such as 1000.0 are accepted, since some serializers write them so. Only
// number literals are quoted in errors; other values are named by type.
func parseScore(b []byte) (int64, error) {
	s := string(b)
	if s == "" || !(s[0] == '-' || '0' <= s[0] && s[0] <= '9') {
		return 0, fmt.Errorf("%s is not a number", jsonType(s))
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		// A hostile literal may be megabytes long.
		return 0, fmt.Errorf("%s is not an integral number in range", failure.Clip(s, 40))
	}
	return int64(f), nil
}

// jsonType names the type of a JSON value from its first byte.
func jsonType(raw string) string {
	switch {
	case raw == "":
		return "an empty value"
	case raw[0] == '"':
		return "a string"
	case raw[0] == '{':
		return "an object"
	case raw[0] == '[':
		return "a list"
	case raw == "null":
		return "null"
	case raw == "true" || raw == "false":
		return "a boolean"
	}
	return "a malformed value"
}
