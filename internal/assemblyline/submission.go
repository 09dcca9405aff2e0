package assemblyline

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/pkg/messages"
)

// Result is one service result of a submission, reduced to what scoring
// needs. A file's score is the sum of its results' scores.
type Result struct {
	// Key is the result key, "<sha256>.<service>.v<version>.c<conf>[.e]".
	Key string
	// SHA256 is the file the result is about, lowercase.
	SHA256 string
	// Score is result.score; it may be negative (safe heuristics).
	Score int64
	// Type is the file type Assemblyline identified ("executable/windows/pe32"),
	// empty when the result does not say (empty results have none).
	Type string
}

// Submission is the part of submission/full that scoring needs.
type Submission struct {
	SID string
	// State is "submitted", "completed" or "failed".
	State string
	// Completed is times.completed; zero while the submission runs.
	Completed time.Time
	// MaxScore is the server's max_score, 0 until the submission completes.
	MaxScore int64
	// Results are sorted by Key.
	Results []Result
	// MissingResultKeys are results the server could not load yet.
	MissingResultKeys []string

	names fileNames
}

// Names returns the names of a file (its lowercase sha256) in the
// submission's file tree: cleaned with messages.CleanName, sorted, unique,
// at most messages.MaxNames; nil when the tree names it nowhere.
func (s *Submission) Names(sha string) []string { return s.names.of(sha) }

// fullDoc decodes only the needed fields of submission/full; the rest of the
// document (file infos, sections, errors, all of the file tree but the
// names) is skipped by the decoder.
type fullDoc struct {
	SID      string `json:"sid"`
	State    string `json:"state"`
	MaxScore score  `json:"max_score"`
	Times    struct {
		Completed *string `json:"completed"`
	} `json:"times"`
	Results           map[string]fullResult `json:"results"`
	MissingResultKeys []string              `json:"missing_result_keys"`
	Names             fileNames             `json:"file_tree"`

	resultsIsList bool
}

type fullResult struct {
	SHA256 *string  `json:"sha256"`
	Type   fileType `json:"type"`
	Result struct {
		Score score `json:"score"`
	} `json:"result"`
}

// tolerates accepts results as a list: the raw submission document has a
// list there, empty until the submission finishes. The list is not decoded
// (Results stays nil) and the state check in submission() decides: a running
// submission is NotReady, a completed one with a list is malformed.
func (d *fullDoc) tolerates(e *json.UnmarshalTypeError) bool {
	if e.Field == "api_response.results" && e.Value == "array" && e.Type == reflect.TypeFor[map[string]fullResult]() {
		d.resultsIsList = true
		return true
	}
	return false
}

// fileType is a result's informational "type": kept when it is a short
// printable string, ignored otherwise, never a reason to fail scoring.
type fileType string

func (t *fileType) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*t = fileType(cleanType(s))
	} else {
		*t = ""
	}
	return nil
}

// cleanType keeps a type name only if it looks like one.
func cleanType(s string) string {
	if len(s) > 200 {
		return ""
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r > 0x7e {
			return ""
		}
	}
	return s
}

// score holds a decoded score. A malformed value is recorded rather than
// failing the decoder, so the error can name the result it belongs to.
type score struct {
	v   int64
	set bool
	bad error
}

func (s *score) UnmarshalJSON(b []byte) error {
	s.set = true
	s.v, s.bad = parseScore(b)
	return nil
}

// SubmissionFull fetches GET /api/v4/submission/full/<sid>/ and keeps what
// scoring needs.
//
// A submission in the terminal state "failed" fails with failure.Terminal
// (dead-lettered at once). Any other submission that is not completed, or
// whose results are not all available
// (missing_result_keys), is returned together with a failure.NotReady error:
// scoring it now would under-score it. A document that decodes but makes no
// sense (a result without a valid sha256 or a numeric score) is a server-side
// problem and fails with failure.Unavailable rather than dropping the result:
// a file left out silently would never be collected.
func (c *Client) SubmissionFull(ctx context.Context, sid string) (*Submission, error) {
	if err := messages.ValidateSID(sid); err != nil {
		return nil, failure.Wrap(failure.Invalid, fmt.Errorf("assemblyline submission/full: %w", err))
	}
	path := "/api/v4/submission/full/" + url.PathEscape(sid) + "/"
	s, err := callJSON(ctx, c, epFull, path, nil, func(d *fullDoc) (*Submission, error) { return d.submission(sid, c.quote) })
	if err != nil {
		return nil, err
	}
	if s.State == "failed" {
		// A terminal state: Assemblyline will never complete it, so
		// waiting (NotReady) would only hold the message for a day before
		// it is dead-lettered anyway. Dead-letter it now, with the reason.
		return s, failure.Errorf(failure.Terminal, "assemblyline submission/full: submission %s ended in state \"failed\", not completed; Assemblyline will not finish it", sid)
	}
	if s.State != "completed" {
		return s, failure.Errorf(failure.NotReady, "assemblyline submission/full: submission %s is %s, not completed", sid, c.quote(s.State))
	}
	if n := len(s.MissingResultKeys); n > 0 {
		return s, failure.Errorf(failure.NotReady, "assemblyline submission/full: submission %s: %d results not yet available", sid, n)
	}
	return s, nil
}

// submission checks the decoded document and converts it; quote prepares
// server text for error messages.
func (d *fullDoc) submission(sid string, quote func(string) string) (*Submission, error) {
	bad := func(format string, args ...any) error {
		return failure.Errorf(failure.Unavailable, "assemblyline submission/full: malformed document for %s: "+format, append([]any{sid}, args...)...)
	}
	s := &Submission{SID: d.SID, State: d.State, MissingResultKeys: d.MissingResultKeys, names: d.Names}
	switch {
	case s.SID == "":
		s.SID = sid
	case s.SID != sid:
		return nil, bad("it describes submission %s", quote(d.SID))
	}
	if d.State == "" {
		return nil, bad("it has no state")
	}
	if d.resultsIsList && d.State == "completed" {
		return nil, bad("results is a list, want a dict keyed by result key")
	}
	if d.MaxScore.bad != nil {
		return nil, bad("max_score: %v", d.MaxScore.bad)
	}
	s.MaxScore = d.MaxScore.v
	if d.Times.Completed != nil && *d.Times.Completed != "" {
		t, err := parseTime(*d.Times.Completed, quote)
		if err != nil {
			return nil, bad("times.completed: %v", err)
		}
		s.Completed = t
	}
	s.Results = make([]Result, 0, len(d.Results))
	for key, r := range d.Results {
		sha := ""
		switch {
		case r.SHA256 != nil && *r.SHA256 != "":
			sha = *r.SHA256
		case len(key) >= 64:
			sha = key[:64] // the server itself keys results by k[:64]
		}
		sha = strings.ToLower(sha)
		if messages.ValidateSHA256(sha) != nil {
			return nil, bad("result %s has no valid sha256", quote(key))
		}
		switch {
		case !r.Result.Score.set:
			return nil, bad("result %s has no result.score", quote(key))
		case r.Result.Score.bad != nil:
			return nil, bad("result %s: result.score: %v", quote(key), r.Result.Score.bad)
		}
		s.Results = append(s.Results, Result{Key: key, SHA256: sha, Score: r.Result.Score.v, Type: string(r.Type)})
	}
	sort.Slice(s.Results, func(i, j int) bool { return s.Results[i].Key < s.Results[j].Key })
	return s, nil
}
