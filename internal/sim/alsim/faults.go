package alsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Faults configures fault injection. Rates are probabilities in [0,1]
// drawn per API call from a RNG seeded with Seed, so a single-threaded
// client sees the same faults on every run; under concurrency only the
// rates are reproducible.
type Faults struct {
	// Seed seeds the fault RNG; zero uses the corpus seed.
	Seed int64 `json:"seed,omitempty"`
	// Error5xx answers a call with 500, 502, 503 (JSON, not a quota
	// message) or 504 instead of serving it. A search 500 leaves its
	// cursor intact, so retrying the same deep_paging_id works.
	Error5xx float64 `json:"error_5xx,omitempty"`
	// Reset hijacks the connection and drops it without any response.
	Reset float64 `json:"reset,omitempty"`
	// TruncateDownload sends the headers with the full Content-Length,
	// part of the body, then closes the connection.
	TruncateDownload float64 `json:"truncate_download,omitempty"`
	// CorruptDownload flips one byte of the body, in the cART header or
	// data region.
	CorruptDownload float64 `json:"corrupt_download,omitempty"`
	// ExpireCursorAfterPages, when positive, makes a cursor vanish once it
	// has served that many pages: the next page request gets the
	// Elasticsearch "No search context found" 400. By default this happens
	// to one cursor per SetFaults (so a client that restarts its sweep can
	// finish); ExpireCursorEvery applies it to every cursor.
	ExpireCursorAfterPages int  `json:"expire_cursor_after_pages,omitempty"`
	ExpireCursorEvery      bool `json:"expire_cursor_every,omitempty"`
	// MissingResultsCalls makes the first N submission/full calls for each
	// submission that matches the design threshold come back with one
	// result (of its best file) moved to missing_result_keys, after
	// MissingResultsDelay (the real server spends about 8 s retrying).
	// Counting restarts on every SetFaults.
	MissingResultsCalls int           `json:"missing_results_calls,omitempty"`
	MissingResultsDelay time.Duration `json:"-"`
	// MissingBlobs files that qualify at the design threshold have no blob:
	// downloading them always 404s although submissions list them.
	MissingBlobs int `json:"missing_blobs,omitempty"`
	// AlwaysCorrupt files that qualify at the design threshold always come
	// with a damaged cART body.
	AlwaysCorrupt int `json:"always_corrupt,omitempty"`
}

// faultsJSON carries the delay as a Go duration string, which people can
// type into a PUT body.
type faultsJSON struct {
	faultsAlias
	MissingResultsDelay string `json:"missing_results_delay,omitempty"`
}

type faultsAlias Faults

// MarshalJSON writes MissingResultsDelay as a duration string ("8s").
func (f Faults) MarshalJSON() ([]byte, error) {
	j := faultsJSON{faultsAlias: faultsAlias(f)}
	if f.MissingResultsDelay != 0 {
		j.MissingResultsDelay = f.MissingResultsDelay.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON accepts missing_results_delay as a duration string or as
// nanoseconds.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var raw struct {
		faultsAlias
		MissingResultsDelay json.RawMessage `json:"missing_results_delay"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*f = Faults(raw.faultsAlias)
	if len(raw.MissingResultsDelay) > 0 && string(raw.MissingResultsDelay) != "null" {
		var s string
		if err := json.Unmarshal(raw.MissingResultsDelay, &s); err == nil {
			d, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("missing_results_delay: %w", err)
			}
			f.MissingResultsDelay = d
		} else {
			var ns int64
			if err := json.Unmarshal(raw.MissingResultsDelay, &ns); err != nil {
				return fmt.Errorf("missing_results_delay: want a duration string or nanoseconds")
			}
			f.MissingResultsDelay = time.Duration(ns)
		}
	}
	return nil
}

// Validate reports settings that cannot work.
func (f Faults) Validate() error {
	var errs []error
	for name, r := range map[string]float64{
		"error_5xx": f.Error5xx, "reset": f.Reset,
		"truncate_download": f.TruncateDownload, "corrupt_download": f.CorruptDownload,
	} {
		if r < 0 || r > 1 {
			errs = append(errs, fmt.Errorf("fault rate %s must be in 0..1, got %v", name, r))
		}
	}
	if f.ExpireCursorAfterPages < 0 || f.MissingResultsCalls < 0 || f.MissingResultsDelay < 0 ||
		f.MissingBlobs < 0 || f.AlwaysCorrupt < 0 {
		errs = append(errs, errors.New("fault counts and delays must not be negative"))
	}
	return errors.Join(errs...)
}

// faultState is the live fault configuration plus the bookkeeping that
// makes count-based faults happen the configured number of times.
type faultState struct {
	mu            sync.Mutex
	f             Faults
	rng           *rand.Rand
	cursorExpired bool // the once-per-SetFaults cursor expiry has happened
	// missing and corrupt are the files that can never be downloaded.
	missing map[int32]bool
	corrupt map[int32]bool
	// missingCalls counts submission/full calls per submission.
	missingCalls []atomic.Int32
}

func newFaultState(f Faults, c *Corpus) *faultState {
	fs := &faultState{}
	fs.set(f, c)
	return fs
}

func (fs *faultState) set(f Faults, c *Corpus) {
	seed := f.Seed
	if seed == 0 {
		seed = c.seed
	}
	missing, corrupt := c.doomedFiles(f.MissingBlobs, f.AlwaysCorrupt)
	var calls []atomic.Int32
	if f.MissingResultsCalls > 0 {
		calls = make([]atomic.Int32, len(c.subs))
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.f = f
	fs.rng = rand.New(rand.NewPCG(uint64(seed), 0xfa017))
	fs.cursorExpired = false
	fs.missing, fs.corrupt = missing, corrupt
	fs.missingCalls = calls
}

func (fs *faultState) get() Faults {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.f
}

// roll draws one Bernoulli trial at the given rate.
func (fs *faultState) roll(rate float64) bool {
	if rate <= 0 {
		return false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.rng.Float64() < rate
}

// intn draws a uniform integer in [0,n).
func (fs *faultState) intn(n int64) int64 {
	if n <= 1 {
		return 0
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.rng.Int64N(n)
}

func (fs *faultState) isMissing(f int32) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.missing[f]
}

func (fs *faultState) isCorrupt(f int32) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.corrupt[f]
}

// doomed returns copies of the never-downloadable file sets.
func (fs *faultState) doomed() (missing, corrupt map[int32]bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.missing, fs.corrupt
}

// expireCursor decides whether a cursor that has served pages pages must
// now be treated as expired.
func (fs *faultState) expireCursor(pages int) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := fs.f.ExpireCursorAfterPages
	if n <= 0 || pages < n {
		return false
	}
	if fs.f.ExpireCursorEvery {
		return true
	}
	if fs.cursorExpired {
		return false
	}
	fs.cursorExpired = true
	return true
}

// missingResults reports whether this full call of submission i must hide
// a result, and how long to stall first.
func (fs *faultState) missingResults(i int) (bool, time.Duration) {
	fs.mu.Lock()
	calls, n, d := fs.missingCalls, fs.f.MissingResultsCalls, fs.f.MissingResultsDelay
	fs.mu.Unlock()
	if n <= 0 || calls == nil || i >= len(calls) {
		return false, 0
	}
	if calls[i].Add(1) > int32(n) {
		return false, 0
	}
	return true, d
}
