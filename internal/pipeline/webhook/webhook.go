// Package webhook receives Assemblyline's post-process webhook and turns
// each push into durable work: the SID it carries is stored on
// alharvest.sids (Nats-Msg-Id = SID) before the receiver answers 2xx.
//
// Assemblyline's webhook is fire-and-forget: a few tries within about a
// second, then the push is dropped. So the receiver never answers 2xx for
// something JetStream has not stored — a 503 makes Assemblyline try again —
// and the periodic sweep stays on as the safety net for pushes that never
// arrived.
package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/pkg/messages"
)

// Path is where the receiver accepts pushes (POST or PUT).
const Path = "/webhooks/assemblyline"

// PublishedBy names the receiver in the SID messages it publishes.
const PublishedBy = "webhook"

// DefaultMaxBody bounds a push body. A completed submission's document
// lists its files and result keys; a megabyte holds thousands of them.
const DefaultMaxBody = 1 << 20

// Outcomes of one request, for metrics and logs.
const (
	OutcomeStored       = "stored"       // 202, JetStream stored the SID now
	OutcomeRepeated     = "repeated"     // 202, JetStream already had it (a retry, or the sweep was first)
	OutcomeIgnored      = "ignored"      // 200, cannot qualify
	OutcomeBadRequest   = "bad_request"  // 400
	OutcomeUnauthorized = "unauthorized" // 401
	OutcomeTooLarge     = "too_large"    // 413
	OutcomeUnavailable  = "unavailable"  // 503
	OutcomeBadMethod    = "bad_method"   // 405
	OutcomeNotFound     = "not_found"    // 404, not the receiver's path
)

// Publisher is the part of JetStream the receiver writes to.
type Publisher interface {
	PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// Observer is told the outcome of every request (metrics, totals).
type Observer interface {
	WebhookRequest(outcome string)
}

// Auth is what a push must present: HTTP Basic User and Password, and/or
// a bearer Token. When both are set either one is accepted. All empty
// means no authentication (only allowed on loopback; see CheckAddr).
type Auth struct {
	User, Password string // secret: Password
	Token          string // secret
}

// Enabled reports whether any credential is required.
func (a Auth) Enabled() bool { return a.Token != "" || (a.User != "" && a.Password != "") }

// Config tunes a receiver.
type Config struct {
	// Threshold is SCORE_THRESHOLD: a push whose score is below it cannot
	// hold a qualifying file (a file's score never exceeds max_score).
	Threshold int64
	Auth      Auth
	// MaxBody bounds the body (default DefaultMaxBody); beyond it: 413.
	MaxBody int64
	// PublishTimeout bounds waiting for JetStream's ack (default 5 s),
	// well inside the time Assemblyline waits for an answer.
	PublishTimeout time.Duration
	// LogEvery bounds the log lines about refused or failed requests to
	// one per outcome per interval (default DefaultLogEvery); the
	// Observer still counts each one.
	LogEvery time.Duration
	Logger   *slog.Logger
	Observer Observer
}

// Receiver is the webhook's http.Handler.
type Receiver struct {
	pub Publisher
	cfg Config
	log *slog.Logger
	// refusals logs refused and failed requests at a bounded rate.
	refusals *logRate
	// Digests of the expected credentials: comparing fixed-size digests in
	// constant time leaks neither content nor length.
	user, pass, token [32]byte
	basic, bearer     bool
}

// New returns a receiver publishing to pub.
func New(pub Publisher, cfg Config) *Receiver {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = DefaultLogEvery
	}
	r := &Receiver{pub: pub, cfg: cfg, log: cfg.Logger.With("component", "webhook")}
	r.refusals = newLogRate(r.log, cfg.LogEvery)
	if cfg.Auth.User != "" && cfg.Auth.Password != "" {
		r.basic = true
		r.user, r.pass = sha256.Sum256([]byte(cfg.Auth.User)), sha256.Sum256([]byte(cfg.Auth.Password))
	}
	if cfg.Auth.Token != "" {
		r.bearer = true
		r.token = sha256.Sum256([]byte(cfg.Auth.Token))
	}
	return r
}

// Answer is the JSON body of every response.
type Answer struct {
	// Result is one of the Outcome constants.
	Result string `json:"result"`
	SID    string `json:"sid,omitempty"`
	// Reason says, for a person, why the push was not stored.
	Reason string `json:"reason,omitempty"`
}

// ServeHTTP implements http.Handler.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != Path {
		r.refusals.write(slog.LevelWarn, OutcomeNotFound, "webhook request refused: not the receiver's path", "remote", req.RemoteAddr)
		r.answer(w, http.StatusNotFound, Answer{Result: OutcomeNotFound, Reason: "the receiver listens on " + Path})
		return
	}
	if req.Method != http.MethodPost && req.Method != http.MethodPut {
		r.refusals.write(slog.LevelWarn, OutcomeBadMethod, "webhook request refused: not POST or PUT", "remote", req.RemoteAddr, "method", req.Method)
		w.Header().Set("Allow", "POST, PUT")
		r.answer(w, http.StatusMethodNotAllowed, Answer{Result: OutcomeBadMethod, Reason: "use POST or PUT"})
		return
	}
	if !r.authorized(req) {
		if r.basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="alharvest"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="alharvest"`)
		}
		r.refusals.write(slog.LevelWarn, OutcomeUnauthorized, "webhook push refused: bad or missing credentials", "remote", req.RemoteAddr)
		r.answer(w, http.StatusUnauthorized, Answer{Result: OutcomeUnauthorized, Reason: "bad or missing credentials"})
		return
	}
	if req.ContentLength > r.cfg.MaxBody {
		r.tooLarge(w, req)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			r.tooLarge(w, req)
			return
		}
		r.refusals.write(slog.LevelWarn, OutcomeBadRequest, "webhook push refused: cannot read the body", "remote", req.RemoteAddr, "err", err)
		r.answer(w, http.StatusBadRequest, Answer{Result: OutcomeBadRequest, Reason: "cannot read the body"})
		return
	}
	p, err := Decode(body)
	if err != nil {
		r.refusals.write(slog.LevelWarn, OutcomeBadRequest, "webhook push refused: not Assemblyline's webhook body", "remote", req.RemoteAddr, "err", err)
		r.answer(w, http.StatusBadRequest, Answer{Result: OutcomeBadRequest, Reason: err.Error()})
		return
	}
	if err := messages.ValidateSID(p.SID); err != nil {
		r.refusals.write(slog.LevelWarn, "invalid_sid", "webhook push ignored: invalid SID", "remote", req.RemoteAddr, "err", err)
		r.answer(w, http.StatusOK, Answer{Result: OutcomeIgnored, Reason: err.Error()})
		return
	}
	if p.Score < float64(r.cfg.Threshold) {
		r.log.Debug("webhook push ignored: score below threshold", "sid", p.SID, "score", p.Score)
		r.answer(w, http.StatusOK, Answer{Result: OutcomeIgnored, SID: p.SID,
			Reason: fmt.Sprintf("score %v is below the threshold %d", p.Score, r.cfg.Threshold)})
		return
	}
	m, err := messages.NewSIDMsg(p.SID, PublishedBy)
	if err != nil { // validated above; kept so a change there cannot publish junk
		r.answer(w, http.StatusOK, Answer{Result: OutcomeIgnored, Reason: err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), r.cfg.PublishTimeout)
	defer cancel()
	ack, err := r.pub.PublishMsg(ctx, m)
	if err != nil {
		r.refusals.write(slog.LevelError, OutcomeUnavailable, "webhook push not stored; answering 503 so Assemblyline retries", "sid", p.SID, "err", err)
		w.Header().Set("Retry-After", "1")
		r.answer(w, http.StatusServiceUnavailable, Answer{Result: OutcomeUnavailable, SID: p.SID, Reason: "the queue cannot store it now; retry"})
		return
	}
	outcome := OutcomeStored
	if ack.Duplicate {
		outcome = OutcomeRepeated
	}
	r.log.Info("webhook push queued", "sid", p.SID, "score", p.Score, "cache", p.IsCache, "result", outcome)
	r.answer(w, http.StatusAccepted, Answer{Result: outcome, SID: p.SID})
}

func (r *Receiver) tooLarge(w http.ResponseWriter, req *http.Request) {
	r.refusals.write(slog.LevelWarn, OutcomeTooLarge, "webhook push refused: body too large", "remote", req.RemoteAddr, "limit", r.cfg.MaxBody)
	r.answer(w, http.StatusRequestEntityTooLarge, Answer{Result: OutcomeTooLarge,
		Reason: fmt.Sprintf("body larger than %d bytes", r.cfg.MaxBody)})
}

func (r *Receiver) answer(w http.ResponseWriter, code int, a Answer) {
	if r.cfg.Observer != nil {
		r.cfg.Observer.WebhookRequest(a.Result)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(a)
}

// authorized checks the request's credentials in constant time. Both
// checks always run, so timing does not tell which scheme is configured.
func (r *Receiver) authorized(req *http.Request) bool {
	if !r.basic && !r.bearer {
		return true // allowed only on loopback, checked at start-up
	}
	ok := 0
	if u, p, has := req.BasicAuth(); has {
		hu, hp := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		match := subtle.ConstantTimeCompare(hu[:], r.user[:]) & subtle.ConstantTimeCompare(hp[:], r.pass[:])
		if r.basic {
			ok |= match
		}
	}
	if scheme, tok, has := strings.Cut(req.Header.Get("Authorization"), " "); has && strings.EqualFold(scheme, "Bearer") {
		ht := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		match := subtle.ConstantTimeCompare(ht[:], r.token[:])
		if r.bearer {
			ok |= match
		}
	}
	return ok == 1
}

// Push is what the receiver uses of Assemblyline's webhook body.
type Push struct {
	SID     string
	Score   float64
	IsCache bool
}

// Decode reads Assemblyline's post-process webhook body:
// {"is_cache": bool, "score": number, "submission": {"sid": "...", ...}}.
// Everything but score and submission.sid is optional and ignored; the
// scorer never trusts the push for per-file scores.
func Decode(body []byte) (Push, error) {
	var raw struct {
		IsCache    *bool            `json:"is_cache"`
		Score      *json.RawMessage `json:"score"`
		Submission *json.RawMessage `json:"submission"`
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return Push{}, errors.New("body is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Push{}, fmt.Errorf("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Push{}, errors.New("trailing data after the JSON object")
	}
	if raw.Score == nil {
		return Push{}, errors.New(`no "score"`)
	}
	// A JSON number only: json.Number would also take a string holding
	// one ("9000"), which is a wrong type like any other.
	var score float64
	if b := *raw.Score; len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) || json.Unmarshal(b, &score) != nil || math.IsInf(score, 0) {
		return Push{}, fmt.Errorf(`"score" is not a number`)
	}
	if raw.Submission == nil {
		return Push{}, errors.New(`no "submission"`)
	}
	var sub struct {
		SID *string `json:"sid"`
	}
	if err := json.Unmarshal(*raw.Submission, &sub); err != nil {
		return Push{}, fmt.Errorf(`"submission" is not an object with a string "sid": %v`, err)
	}
	if sub.SID == nil {
		return Push{}, errors.New(`no "submission.sid"`)
	}
	p := Push{SID: *sub.SID, Score: score}
	if raw.IsCache != nil {
		p.IsCache = *raw.IsCache
	}
	return p, nil
}
