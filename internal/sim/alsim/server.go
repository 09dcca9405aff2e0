package alsim

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

// ServerVersion is what api_server_version reports.
const ServerVersion = "4.7.4.stable5"

// Pseudo statuses for Stats.
const (
	statusReset   = -1
	statusAborted = -2
)

// Server is one simulated Assemblyline instance.
type Server struct {
	cfg     Config
	corpus  *Corpus
	faults  *faultState
	stats   *statsRec
	quota   *quotaTracker
	daily   *dailyQuota
	cursors cursorStore
	carts   *cartCache
	outage  *outageState

	jitterMu sync.Mutex
	jitter   *rand.Rand
}

// New builds the corpus and the server. Building is deterministic in
// cfg.Seed; only sha256s are left to compute on first use (unless
// cfg.Prehash).
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	start := time.Now()
	c := buildCorpus(cfg, start)
	if cfg.Prehash {
		c.prehashAll()
	}
	tmp := cfg.TempDir
	if tmp == "" {
		tmp = os.TempDir()
	}
	s := &Server{
		cfg:     cfg,
		corpus:  c,
		faults:  newFaultState(cfg.Faults, c),
		stats:   newStats(),
		quota:   &quotaTracker{limit: cfg.Quota, leaky: cfg.QuotaLeaky},
		daily:   &dailyQuota{limit: cfg.DailyQuota},
		cursors: cursorStore{m: map[string]*cursor{}},
		carts:   newCartCache(cfg.CartCacheBytes, tmp),
		outage:  newOutageState(cfg.Outage),
		jitter:  rand.New(rand.NewPCG(uint64(cfg.Seed), 0x717e4)),
	}
	return s, nil
}

// Config returns the effective configuration (defaults applied).
func (s *Server) Config() Config { return s.cfg }

// Corpus gives tests and tools read access to the simulated data.
func (s *Server) Corpus() *Corpus { return s.corpus }

// SetFaults replaces the fault configuration; count-based faults start
// counting afresh.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.faults.set(f, s.corpus)
	return nil
}

// Faults returns the fault configuration in force.
func (s *Server) Faults() Faults { return s.faults.get() }

// Stats returns a snapshot of the accounting.
func (s *Server) Stats() Stats {
	st := s.stats.snapshot()
	st.Quota = s.cfg.Quota
	s.cursors.mu.Lock()
	st.OpenCursors = len(s.cursors.m)
	s.cursors.mu.Unlock()
	return st
}

// ResetStats zeroes the accounting (calls in flight stay counted).
func (s *Server) ResetStats() { s.stats.reset() }

// Close releases spooled downloads on disk.
func (s *Server) Close() error { s.outage.stop(); return s.carts.close() }

// Expected returns, sorted, the sha256 of every file alharvest must end up
// with at this threshold: files whose per-file score reaches it in some
// submission that is or will become complete and visible, minus the files
// that can never be downloaded (see Uncollectable).
func (s *Server) Expected(threshold int64) []string {
	return s.expected(threshold, func(i int) bool { return s.corpus.eventual(i) })
}

// ExpectedNow is Expected restricted to submissions complete and visible
// right now (late arrivals and unfinished submissions left out).
func (s *Server) ExpectedNow(threshold int64) []string {
	el := s.corpus.elapsed(time.Now())
	return s.expected(threshold, func(i int) bool { return s.corpus.visibleAt(i, el) && s.corpus.completedAt(i, el) })
}

func (s *Server) expected(threshold int64, include func(int) bool) []string {
	missing, corrupt := s.faults.doomed()
	files := s.corpus.qualifying(threshold, include)
	files = slices.DeleteFunc(files, func(f int32) bool { return missing[f] || corrupt[f] })
	return s.corpus.sortedHex(files)
}

// Uncollectable returns, sorted, the qualifying files (as in Expected) that
// can never be downloaded: blob missing or always corrupt. A correct
// client dead-letters exactly these.
func (s *Server) Uncollectable(threshold int64) []string {
	missing, corrupt := s.faults.doomed()
	files := s.corpus.qualifying(threshold, func(i int) bool { return s.corpus.eventual(i) })
	files = slices.DeleteFunc(files, func(f int32) bool { return !missing[f] && !corrupt[f] })
	return s.corpus.sortedHex(files)
}

// Serve listens on addr (":0" picks a port), serves until ctx is done, then
// shuts down gracefully. It returns the server, its base URL and a wait
// function that returns once serving has stopped.
func Serve(ctx context.Context, addr string, cfg Config) (*Server, string, func() error, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, "", nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", nil, err
	}
	ln = s.WrapListener(ln)
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 30 * time.Second}
	done := make(chan error, 1)
	go func() {
		err := hs.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	stopped := make(chan error, 1)
	go func() {
		var err error
		select {
		case <-ctx.Done():
			// Let calls in flight finish, but do not wait forever on a
			// client that reads a big download slowly.
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if serr := hs.Shutdown(sctx); errors.Is(serr, context.DeadlineExceeded) {
				hs.Close()
			} else {
				err = serr
			}
			cancel()
			if serr := <-done; err == nil {
				err = serr
			}
		case err = <-done:
		}
		if cerr := s.Close(); err == nil {
			err = cerr
		}
		stopped <- err
	}()
	var once sync.Once
	var result error
	wait := func() error {
		once.Do(func() { result = <-stopped })
		return result
	}
	return s, "http://" + ln.Addr().String(), wait, nil
}
