// Package scorer is the middle stage: for each submission ID it fetches the
// submission's results from Assemblyline, sums the scores per file, and
// passes on every file that reaches the threshold.
package scorer

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/nats-io/nats.go"

	"github.com/alharvest/alharvest/internal/assemblyline"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/pkg/messages"
)

// Source is the part of Assemblyline the scorer reads.
type Source interface {
	// SubmissionFull returns a completed submission's results, or an error
	// of kind NotReady while it is still running.
	SubmissionFull(ctx context.Context, sid string) (*assemblyline.Submission, error)
}

// Observer is told about each scored submission (metrics, reports).
type Observer interface {
	Scored(files, qualified int)
}

// Config tunes the scorer.
type Config struct {
	// Threshold is the minimum per-file score (SCORE_THRESHOLD).
	Threshold int64
	// Server names the Assemblyline server in each file's provenance.
	Server   string
	Logger   *slog.Logger
	Observer Observer
}

// Scorer is the worker.Handler of the SIDs queue.
type Scorer struct {
	al  Source
	cfg Config
}

var _ worker.Handler[messages.SID] = (*Scorer)(nil)

// New returns a scorer reading from al.
func New(al Source, cfg Config) *Scorer {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Scorer{al: al, cfg: cfg}
}

// Decode reads a SIDs message.
func (s *Scorer) Decode(m *worker.Message) (messages.SID, error) { return messages.DecodeSID(m.Data) }

// LogAttrs names the submission, for the worker's logs.
func (s *Scorer) LogAttrs(req messages.SID) []slog.Attr {
	return []slog.Attr{slog.String("sid", req.SID)}
}

// Handle scores one submission and returns a files message for each file at
// or above the threshold.
func (s *Scorer) Handle(ctx context.Context, req messages.SID, m *worker.Message) ([]*nats.Msg, error) {
	sub, err := s.al.SubmissionFull(ctx, req.SID)
	if err != nil {
		return nil, fmt.Errorf("submission %s: %w", req.SID, err)
	}

	files := Qualifying(req.SID, sub.Results, s.cfg.Threshold)
	out := make([]*nats.Msg, 0, len(files))
	types := fileTypes(sub.Results)
	for _, f := range files {
		f.Provenance = messages.Provenance{Server: s.cfg.Server, Type: types[f.SHA256], Completed: sub.Completed, Names: sub.Names(f.SHA256)}
		msg, err := messages.NewFileMsg(f)
		if err != nil {
			// The client hands out only valid hashes; this guards against a bug.
			return nil, failure.Wrap(failure.Invalid, fmt.Errorf("submission %s: %w", req.SID, err))
		}
		if who := m.Header.Get(messages.HeaderRecollect); who != "" {
			// Asked for on purpose: must not vanish in the files
			// stream's duplicate window.
			messages.MarkRecollect(msg, who)
		}
		out = append(out, msg)
	}
	if s.cfg.Observer != nil {
		s.cfg.Observer.Scored(len(sub.Results), len(out))
	}
	s.cfg.Logger.Debug("scored", "sid", req.SID, "results", len(sub.Results), "qualified", len(out), "attempt", m.Attempt)
	return out, nil
}

// Qualifying returns the files of one submission whose summed score is at
// least threshold, in hash order.
func Qualifying(sid string, results []assemblyline.Result, threshold int64) []messages.File {
	scores := FileScores(results)
	var out []messages.File
	for _, sha := range slices.Sorted(maps.Keys(scores)) {
		if score := scores[sha]; score >= threshold {
			out = append(out, messages.File{SHA256: sha, SID: sid, Score: score})
		}
	}
	return out
}

// FileScores sums result scores per file, as Assemblyline's dispatcher does:
// every result counts, negative and zero scores and empty (".e") results
// included.
func FileScores(results []assemblyline.Result) map[string]int64 {
	scores := make(map[string]int64)
	for _, r := range results {
		scores[r.SHA256] += r.Score
	}
	return scores
}

// fileTypes maps each file to the type its results report (the first one
// that says, in result-key order).
func fileTypes(results []assemblyline.Result) map[string]string {
	types := make(map[string]string)
	for _, r := range results {
		if r.Type != "" && types[r.SHA256] == "" {
			types[r.SHA256] = r.Type
		}
	}
	return types
}
