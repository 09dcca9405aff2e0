package searcher_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/assemblyline"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/pipeline/searcher"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

const threshold = alsim.DefaultDesignThreshold

var quiet = slog.New(slog.DiscardHandler)

// env is one real JetStream server with alharvest's layout.
type env struct {
	t  *testing.T
	js jetstream.JetStream
	kv jetstream.KeyValue
}

func newEnv(t *testing.T) *env {
	t.Helper()
	js := natstest.Provisioned(t)
	kv := natstest.StateBucket(t, js)
	return &env{t: t, js: js, kv: kv}
}

// startSim serves a simulated Assemblyline and returns a real client for it.
func startSim(t *testing.T, cfg alsim.Config) (*alsim.Server, *assemblyline.Client) {
	t.Helper()
	sim, url := alsimtest.Serve(t, cfg)
	return sim, alsimtest.Client(t, url, 12)
}

func (e *env) searcher(al searcher.Source, cfg searcher.Config) *searcher.Searcher {
	if cfg.Threshold == 0 {
		cfg.Threshold = threshold
	}
	cfg.Logger = quiet
	return searcher.New(al, e.js, e.kv, cfg)
}

// published reads the SIDs stream (nothing consumes it in these tests) and
// checks every message's form: subject, Nats-Msg-Id and payload.
func (e *env) published() []string {
	e.t.Helper()
	ctx := context.Background()
	s, err := e.js.Stream(ctx, messages.StreamSIDs)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	if info.State.Msgs == 0 {
		return nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			e.t.Fatal(err)
		}
		if m.Subject != messages.SubjectSIDs {
			e.t.Errorf("message on %q", m.Subject)
		}
		var p map[string]any
		if err := json.Unmarshal(m.Data, &p); err != nil {
			e.t.Errorf("payload %q is not JSON: %v", m.Data, err)
			continue
		}
		sid, _ := p["sid"].(string)
		if len(p) != 2 || p["source"] != messages.StageSearcher || sid == "" {
			e.t.Errorf(`payload %s, want {"sid":…,"source":"searcher"}`, m.Data)
		}
		if want := fmt.Sprintf(`{"sid":%q,"source":"searcher"}`, sid); string(m.Data) != want {
			e.t.Errorf("payload %s, want %s", m.Data, want)
		}
		if id := m.Header.Get(messages.HeaderMsgID); id != sid {
			e.t.Errorf("Nats-Msg-Id %q for sid %q", id, sid)
		}
		if _, err := messages.DecodeSID(m.Data); err != nil {
			e.t.Errorf("payload does not decode: %v", err)
		}
		out = append(out, sid)
	}
	return out
}

func (e *env) checkpoint(key string) (searcher.Checkpoint, uint64, bool) {
	e.t.Helper()
	entry, err := e.kv.Get(context.Background(), key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return searcher.Checkpoint{}, 0, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	var cp searcher.Checkpoint
	if err := json.Unmarshal(entry.Value(), &cp); err != nil {
		e.t.Fatalf("checkpoint %s: %v", entry.Value(), err)
	}
	return cp, entry.Revision(), true
}

// match is the answer key: the submissions a search for max_score >= T
// (and pred) returns, with their times.completed.
func match(sim *alsim.Server, T int64, pred func(alsim.SubmissionInfo) bool) map[string]time.Time {
	out := map[string]time.Time{}
	c := sim.Corpus()
	for i := range c.Len() {
		info := c.Submission(i)
		if info.MaxScore >= T && pred(info) {
			out[info.SID] = info.Completed
		}
	}
	return out
}

func normal(info alsim.SubmissionInfo) bool { return info.Kind == alsim.Normal }

func latest(m map[string]time.Time) time.Time {
	var w time.Time
	for _, t := range m {
		if t.After(w) {
			w = t
		}
	}
	return w
}

// checkOnce asserts that got holds every SID of want exactly once and nothing else.
func checkOnce(t *testing.T, got []string, want map[string]time.Time) {
	t.Helper()
	seen := map[string]int{}
	for _, s := range got {
		seen[s]++
	}
	for s, n := range seen {
		if n > 1 {
			t.Errorf("sid %s published %d times", s, n)
		}
		if _, ok := want[s]; !ok {
			t.Errorf("sid %s published but does not match", s)
		}
	}
	missing := 0
	for s := range want {
		if seen[s] == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d matching sids not published", missing, len(want))
	}
}

func searchPages(sim *alsim.Server) int64 { return sim.Stats().Calls["search"]["200"] }

func TestFullSweepPublishesEveryMatchingSIDOnce(t *testing.T) {
	sim, al := startSim(t, alsim.Config{Seed: 2, Submissions: 300, Incomplete: 4})
	want := match(sim, threshold, normal)
	n := len(want)
	if n < 30 {
		t.Fatalf("corpus too small: %d matches", n)
	}
	divisor := 0 // a page size that divides n: the sweep ends on an empty page
	for d := 3; d <= n/2; d++ {
		if n%d == 0 {
			divisor = d
			break
		}
	}
	tests := []struct {
		name string
		rows int
	}{
		{"pages of 7", 7},
		{"one row per page", 1},
		{"one full page then an empty one", n},
		{"a single short page", n + 50},
	}
	if divisor > 0 {
		tests = append(tests, struct {
			name string
			rows int
		}{fmt.Sprintf("exact multiple: %d pages of %d", n/divisor, divisor), divisor})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.searcher(al, searcher.Config{Rows: tc.rows})
			before := searchPages(sim)
			res, err := s.Sweep(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if res.Found != n || res.Published != n || res.Restarts != 0 || !res.Since.IsZero() {
				t.Errorf("result %+v, want %d found and published, a full sweep", res, n)
			}
			checkOnce(t, e.published(), want)

			pages := int64((n + tc.rows - 1) / tc.rows)
			if n%tc.rows == 0 {
				pages++ // the page after the last full one comes back empty
			}
			if got := searchPages(sim) - before; got != pages {
				t.Errorf("%d search calls, want %d", got, pages)
			}

			w := latest(want)
			if !res.Watermark.Equal(w) {
				t.Errorf("result watermark %v, want %v", res.Watermark, w)
			}
			cp, _, ok := e.checkpoint(searcher.CheckpointKey(searcher.Scope{Threshold: threshold, Filter: ""}))
			if !ok {
				t.Fatal("no checkpoint stored")
			}
			if !cp.Watermark.Equal(w) || cp.Threshold != threshold || cp.Filter != "" {
				t.Errorf("checkpoint %+v, want watermark %v", cp, w)
			}
			if !cp.LastSweep.Full || cp.LastSweep.Found != n || cp.LastSweep.Published != n || cp.LastSweep.Finished.IsZero() {
				t.Errorf("last sweep %+v", cp.LastSweep)
			}
		})
	}
}

func TestIncrementalSweepsFromTheWatermark(t *testing.T) {
	const window = 2 * time.Second
	const overlap = 72 * time.Hour
	// Late arrivals complete (and become searchable) 1 s and 2 s after start.
	begin := time.Now()
	sim, al := startSim(t, alsim.Config{Seed: 6, Submissions: 300, LateArrivals: 2, ArrivalWindow: window})
	ready := time.Now()
	e := newEnv(t)
	s := e.searcher(al, searcher.Config{Rows: 9, Overlap: overlap})
	key := searcher.CheckpointKey(searcher.Scope{Threshold: threshold, Filter: ""})

	first, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A late submission is certainly visible if it arrived before the sweep
	// began by the server's clock, certainly not if it arrives after the
	// sweep ended; in between either is right.
	sure := time.Since(ready) - first.Duration
	never := time.Since(begin)
	got1 := e.published()
	var arrivedLate int
	for _, sid := range got1 {
		info, _ := sim.Corpus().Lookup(sid)
		if info.Kind == alsim.Late {
			arrivedLate++
			if info.CompletesAfter > never {
				t.Errorf("late sid %s published before it arrived", sid)
			}
		}
	}
	lateNow := func(info alsim.SubmissionInfo) bool {
		return info.Kind == alsim.Normal || info.Kind == alsim.Late && info.CompletesAfter <= sure
	}
	wantAtLeast := match(sim, threshold, lateNow)
	for sid := range wantAtLeast {
		if !slices.Contains(got1, sid) {
			t.Errorf("first sweep missed %s", sid)
		}
	}
	if arrivedLate == 2 {
		t.Skip("the first sweep was too slow to leave anything for the second")
	}
	all := match(sim, threshold, func(alsim.SubmissionInfo) bool { return true })
	cp1, _, _ := e.checkpoint(key)
	if !cp1.Watermark.Equal(first.Watermark) || !cp1.LastSweep.Full {
		t.Errorf("checkpoint %+v after the first sweep %+v", cp1, first)
	}

	// Wait for every late arrival, then sweep again.
	time.Sleep(time.Until(begin.Add(window + 100*time.Millisecond)))
	second, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := first.Watermark.Add(-overlap); !second.Since.Equal(want) {
		t.Errorf("second sweep since %v, want watermark - overlap = %v", second.Since, want)
	}
	inWindow := func(since time.Time) map[string]time.Time {
		out := map[string]time.Time{}
		for sid, c := range all {
			if c.UnixMilli() >= since.UnixMilli() { // Elasticsearch compares milliseconds
				out[sid] = c
			}
		}
		return out
	}
	window2 := inWindow(second.Since)
	if second.Found != len(window2) {
		t.Errorf("second sweep found %d, want the %d submissions completed since %v", second.Found, len(window2), second.Since)
	}
	if second.Found >= len(all) || second.Found <= 2-arrivedLate {
		t.Errorf("second sweep found %d of %d: it should find the late ones plus the overlap, not everything", second.Found, len(all))
	}
	if second.Published != 2-arrivedLate {
		t.Errorf("second sweep published %d new sids, want the %d late arrivals", second.Published, 2-arrivedLate)
	}
	checkOnce(t, e.published(), all)
	if w := latest(all); !second.Watermark.Equal(w) {
		t.Errorf("watermark %v, want the last late arrival's completion %v", second.Watermark, w)
	}
	cp2, _, _ := e.checkpoint(key)
	if !cp2.Watermark.Equal(second.Watermark) || cp2.LastSweep.Full || cp2.LastSweep.Found != second.Found {
		t.Errorf("checkpoint %+v after the second sweep %+v", cp2, second)
	}

	// Nothing new: the watermark stays, nothing is published.
	third, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if third.Published != 0 || !third.Watermark.Equal(second.Watermark) || third.Found != len(inWindow(third.Since)) {
		t.Errorf("third sweep %+v", third)
	}
}

func TestWatermarkNeverMovesBackwards(t *testing.T) {
	// Two searchers on one checkpoint key: a slow one over an older
	// Assemblyline, a fast one over one whose submissions completed two days
	// later. Whichever stores last, the watermark stays at the newest. (The
	// older corpus is dated two days back rather than the newer one two days
	// ahead: completion times in the future are clamped.)
	slowSim, slowAL := startSim(t, alsim.Config{Seed: 12, Submissions: 150, SearchLatency: 40 * time.Millisecond, Now: time.Now().Add(-48 * time.Hour)})
	newSim, newAL := startSim(t, alsim.Config{Seed: 12, Submissions: 150})
	e := newEnv(t)
	key := searcher.CheckpointKey(searcher.Scope{Threshold: threshold, Filter: ""})
	older, newer := latest(match(slowSim, threshold, normal)), latest(match(newSim, threshold, normal))
	if !newer.After(older) {
		t.Fatalf("test corpus: %v is not after %v", newer, older)
	}

	slow := e.searcher(slowAL, searcher.Config{Rows: 5})
	type result struct {
		res searcher.SweepResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := slow.Sweep(context.Background())
		done <- result{r, err}
	}()
	// Let the slow searcher read the (empty) checkpoint and start paging.
	if !testenv.Eventually(t, 5*time.Second, "the slow sweep to start paging", func() bool { return searchPages(slowSim) >= 2 }) {
		t.FailNow()
	}
	fast, err := e.searcher(newAL, searcher.Config{Rows: 500}).Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !fast.Watermark.Equal(newer) {
		t.Fatalf("fast sweep watermark %v, want %v", fast.Watermark, newer)
	}
	select {
	case <-done:
		t.Skip("the slow sweep finished before the fast one: nothing concurrent happened")
	default:
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("slow sweep: %v", r.err)
	}
	if !r.res.Since.IsZero() {
		t.Errorf("slow sweep started from %v, want a full sweep", r.res.Since)
	}
	cp, _, _ := e.checkpoint(key)
	if !cp.Watermark.Equal(newer) {
		t.Errorf("checkpoint watermark %v after the slow sweep stored, want the newer %v (older %v)", cp.Watermark, newer, older)
	}
	if !r.res.Watermark.Equal(newer) {
		t.Errorf("slow sweep reports watermark %v, want the merged %v", r.res.Watermark, newer)
	}

	// A sweep from a checkpoint ahead of everything the server has keeps it.
	again, err := e.searcher(slowAL, searcher.Config{Rows: 50}).Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if again.Found != 0 || !again.Watermark.Equal(newer) {
		t.Errorf("sweep behind the watermark: %+v", again)
	}
	if cp, _, _ := e.checkpoint(key); !cp.Watermark.Equal(newer) {
		t.Errorf("watermark moved back to %v", cp.Watermark)
	}
	// The concurrent sweeps' publications add up in the checkpoint.
	if cp, _, _ := e.checkpoint(key); cp.PublishedTotal != int64(fast.Published+r.res.Published+again.Published) || cp.PublishedTotal == 0 {
		t.Errorf("published_total %d, want %d + %d + %d", cp.PublishedTotal, fast.Published, r.res.Published, again.Published)
	}
}

func TestThresholdAndFilterHaveTheirOwnCheckpoints(t *testing.T) {
	sim, al := startSim(t, alsim.Config{Seed: 2, Submissions: 250})
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.searcher(al, searcher.Config{Rows: 50}).Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	bigFilter := "file_count:>=5"
	tests := []struct {
		name      string
		threshold int64
		filter    string
		pred      func(alsim.SubmissionInfo) bool
	}{
		{"higher threshold", 9000, "", normal},
		{"lower threshold", 3000, "", normal},
		{"same threshold with a filter", threshold, bigFilter, func(i alsim.SubmissionInfo) bool { return normal(i) && len(i.Files) >= 5 }},
	}
	keys := map[string]bool{searcher.CheckpointKey(searcher.Scope{Threshold: threshold, Filter: ""}): true}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := searcher.CheckpointKey(searcher.Scope{Threshold: tc.threshold, Filter: tc.filter})
			if keys[key] {
				t.Fatalf("key %s reused", key)
			}
			keys[key] = true
			if _, _, ok := e.checkpoint(key); ok {
				t.Fatal("checkpoint exists before the first sweep")
			}
			res, err := e.searcher(al, searcher.Config{Threshold: tc.threshold, Filter: tc.filter, Rows: 50}).Sweep(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := match(sim, tc.threshold, tc.pred)
			if !res.Since.IsZero() || res.Found != len(want) {
				t.Errorf("sweep %+v, want a full sweep finding %d", res, len(want))
			}
			cp, _, ok := e.checkpoint(key)
			if !ok || cp.Threshold != tc.threshold || cp.Filter != tc.filter || !cp.Watermark.Equal(latest(want)) || !cp.LastSweep.Full {
				t.Errorf("checkpoint %+v (found %t)", cp, ok)
			}
		})
	}
	cps, err := searcher.LoadCheckpoints(ctx, e.kv)
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != len(keys) {
		t.Errorf("%d checkpoints in the bucket, want %d", len(cps), len(keys))
	}
}

func TestSearchFilterIsHonoured(t *testing.T) {
	sim, al := startSim(t, alsim.Config{Seed: 14, Submissions: 300})
	tests := []struct {
		name   string
		filter string
		pred   func(alsim.SubmissionInfo) bool
	}{
		{"file count", "file_count:>=6", func(i alsim.SubmissionInfo) bool { return len(i.Files) >= 6 }},
		{"score band", "max_score:[8000 TO 9999]", func(i alsim.SubmissionInfo) bool { return i.MaxScore >= 8000 && i.MaxScore <= 9999 }},
		{"negated", "NOT file_count:>=6", func(i alsim.SubmissionInfo) bool { return len(i.Files) < 6 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			res, err := e.searcher(al, searcher.Config{Filter: tc.filter, Rows: 10}).Sweep(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := match(sim, threshold, func(i alsim.SubmissionInfo) bool { return normal(i) && tc.pred(i) })
			all := match(sim, threshold, normal)
			if len(want) == 0 || len(want) == len(all) {
				t.Fatalf("filter selects %d of %d: not a proper subset", len(want), len(all))
			}
			if res.Found != len(want) {
				t.Errorf("found %d, want %d", res.Found, len(want))
			}
			checkOnce(t, e.published(), want)
		})
	}
}

func TestBadFilterFailsWithoutCheckpoint(t *testing.T) {
	sim, al := startSim(t, alsim.Config{Seed: 14, Submissions: 100})
	const filter = "nosuchfield:>=[oops"
	key := searcher.CheckpointKey(searcher.Scope{Threshold: threshold, Filter: filter})
	tests := []struct {
		name string
		// old, when set, is the checkpoint in place before the sweep.
		old time.Time
		// calls is how many searches the sweep may make: with a checkpoint
		// the searcher also tries without its watermark filter.
		calls int64
	}{
		{name: "first sweep", calls: 1},
		{name: "incremental sweep", old: time.Now().Add(-time.Hour), calls: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var rev uint64
			if !tc.old.IsZero() {
				data, _ := json.Marshal(searcher.Checkpoint{Scope: searcher.Scope{Threshold: threshold, Filter: filter}, Watermark: tc.old})
				var err error
				if rev, err = e.kv.Create(context.Background(), key, data); err != nil {
					t.Fatal(err)
				}
			}
			before := sim.Stats().Calls["search"]["400"]
			_, err := e.searcher(al, searcher.Config{Filter: filter}).Sweep(context.Background())
			if err == nil {
				t.Fatal("a filter the server rejects gave no error")
			}
			if k := failure.KindOf(err); k != failure.BadRequest {
				t.Errorf("kind %v, want bad_request: %v", k, err)
			}
			if n := sim.Stats().Calls["search"]["400"] - before; n != tc.calls {
				t.Errorf("%d rejected searches, want %d", n, tc.calls)
			}
			cp, gotRev, ok := e.checkpoint(key)
			switch {
			case tc.old.IsZero() && ok:
				t.Errorf("a failed sweep stored a checkpoint: %+v", cp)
			case !tc.old.IsZero() && (gotRev != rev || !cp.Watermark.Equal(tc.old)):
				t.Errorf("a failed sweep changed the checkpoint: %+v", cp)
			}
		})
	}
}

// recorder counts what the searcher reports (a plain recorder, not a fake of
// any external system).
type recorder struct {
	mu     sync.Mutex
	pages  int
	items  int
	sweeps []error
}

func (r *recorder) Page(items int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pages++
	r.items += items
}

func (r *recorder) SweepDone(found, published int, watermark time.Time, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweeps = append(r.sweeps, err)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sweeps)
}

func TestRunSweepsEveryIntervalUntilCancelled(t *testing.T) {
	sim, al := startSim(t, alsim.Config{Seed: 2, Submissions: 120})
	want := match(sim, threshold, normal)
	e := newEnv(t)
	rec := &recorder{}
	s := e.searcher(al, searcher.Config{Rows: 10, Interval: 50 * time.Millisecond, Observer: rec})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	if !testenv.Eventually(t, 10*time.Second, "3 sweeps", func() bool { return rec.count() >= 3 }) {
		t.FailNow()
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i, err := range rec.sweeps {
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("sweep %d: %v", i, err)
		}
	}
	if rec.items < len(want) {
		t.Errorf("observer saw %d items, want at least %d", rec.items, len(want))
	}
	checkOnce(t, e.published(), want)
}

func TestCursorExpiryRestartsTheSweep(t *testing.T) {
	sim, al := startSim(t, alsim.Config{Seed: 2, Submissions: 300, Faults: alsim.Faults{ExpireCursorAfterPages: 4}})
	want := match(sim, threshold, normal)
	e := newEnv(t)
	res, err := e.searcher(al, searcher.Config{Rows: 7}).Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Restarts != 1 {
		t.Errorf("restarts %d, want 1", res.Restarts)
	}
	if res.Found != len(want)+4*7 {
		t.Errorf("found %d, want %d plus the 4 pages found before the cursor expired", res.Found, len(want))
	}
	if res.Published != len(want) {
		t.Errorf("published %d new sids, want %d (repeats are de-duplicated)", res.Published, len(want))
	}
	checkOnce(t, e.published(), want)
	if cp, _, _ := e.checkpoint(searcher.CheckpointKey(searcher.Scope{Threshold: threshold, Filter: ""})); !cp.Watermark.Equal(latest(want)) {
		t.Errorf("watermark %v, want %v", cp.Watermark, latest(want))
	}
	if n := sim.Stats().Faults["cursor_expired"]; n != 1 {
		t.Errorf("%d cursor expiries injected, want 1", n)
	}
}

func TestCursorExpiringEveryTimeFailsLoudly(t *testing.T) {
	sim, al := startSim(t, alsim.Config{Seed: 2, Submissions: 300,
		Faults: alsim.Faults{ExpireCursorAfterPages: 3, ExpireCursorEvery: true}})
	key := searcher.CheckpointKey(searcher.Scope{Threshold: threshold, Filter: ""})
	tests := []struct {
		name string
		// old, when set, is a checkpoint stored before the sweep: old enough
		// that the incremental sweep still spans many pages.
		old time.Time
	}{
		{name: "first sweep"},
		{name: "incremental sweep", old: time.Now().Add(-40 * 24 * time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var rev uint64
			if !tc.old.IsZero() {
				data, _ := json.Marshal(searcher.Checkpoint{Scope: searcher.Scope{Threshold: threshold}, Watermark: tc.old})
				var err error
				if rev, err = e.kv.Create(context.Background(), key, data); err != nil {
					t.Fatal(err)
				}
			}
			before := sim.Stats().Faults["cursor_expired"]
			res, err := e.searcher(al, searcher.Config{Rows: 7, MaxRestarts: 2, Overlap: time.Minute}).Sweep(context.Background())
			if err == nil {
				t.Fatalf("sweep succeeded: %+v", res)
			}
			if k := failure.KindOf(err); k != failure.CursorExpired {
				t.Errorf("kind %v, want cursor_expired: %v", k, err)
			}
			if res.Restarts != 2 {
				t.Errorf("restarts %d, want MaxRestarts = 2", res.Restarts)
			}
			if n := sim.Stats().Faults["cursor_expired"] - before; n != 3 {
				t.Errorf("%d cursors expired, want 3 (first try + 2 restarts)", n)
			}
			cp, gotRev, ok := e.checkpoint(key)
			switch {
			case tc.old.IsZero() && ok:
				t.Errorf("a failed sweep stored a checkpoint: %+v", cp)
			case !tc.old.IsZero() && (!ok || gotRev != rev || !cp.Watermark.Equal(tc.old)):
				t.Errorf("checkpoint changed by a failed sweep: %+v rev %d (was %d)", cp, gotRev, rev)
			}
		})
	}
}

func TestSweepSurvivesServerErrors(t *testing.T) {
	sim, al := startSim(t, alsim.Config{Seed: 2, Submissions: 300, Faults: alsim.Faults{Error5xx: 0.2}})
	want := match(sim, threshold, normal)
	e := newEnv(t)
	res, err := e.searcher(al, searcher.Config{Rows: 7}).Sweep(context.Background())
	if err != nil {
		t.Fatalf("%v (faults %v)", err, sim.Stats().Faults)
	}
	if res.Published != len(want) {
		t.Errorf("published %d, want %d", res.Published, len(want))
	}
	checkOnce(t, e.published(), want)
	f := sim.Stats().Faults
	if f["error_500"]+f["error_502"]+f["error_503"]+f["error_504"] == 0 {
		t.Error("no 5xx injected; the test proves nothing")
	}
	if cp, _, _ := e.checkpoint(searcher.CheckpointKey(searcher.Scope{Threshold: threshold, Filter: ""})); !cp.Watermark.Equal(latest(want)) {
		t.Errorf("watermark %v, want %v", cp.Watermark, latest(want))
	}
}

func TestUnreadableCheckpointMeansFullSweep(t *testing.T) {
	sim, al := startSim(t, alsim.Config{Seed: 2, Submissions: 120})
	want := match(sim, threshold, normal)
	e := newEnv(t)
	key := searcher.CheckpointKey(searcher.Scope{Threshold: threshold, Filter: ""})
	if _, err := e.kv.Put(context.Background(), key, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	res, err := e.searcher(al, searcher.Config{Rows: 25}).Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Since.IsZero() || res.Found != len(want) {
		t.Errorf("sweep %+v, want a full sweep of %d", res, len(want))
	}
	if cp, _, ok := e.checkpoint(key); !ok || !cp.Watermark.Equal(latest(want)) {
		t.Errorf("checkpoint not repaired: %+v", cp)
	}
}

// TestEachServerAndUserHasItsOwnWatermark: one state bucket serving two
// Assemblylines (or two users of one) must never let one's watermark cut the
// other's sweep short.
func TestEachServerAndUserHasItsOwnWatermark(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, alA := startSim(t, alsim.Config{Seed: 7, Submissions: 60})
	_, alB := startSim(t, alsim.Config{Seed: 99, Submissions: 60})
	first, err := e.searcher(alA, searcher.Config{Server: "https://a.example", User: "u"}).Sweep(ctx)
	if err != nil || first.Watermark.IsZero() {
		t.Fatalf("sweep A: %+v %v", first, err)
	}
	for _, sc := range []searcher.Config{
		{Server: "https://b.example", User: "u"}, // another server
		{Server: "https://a.example", User: "v"}, // another user of the same server
	} {
		res, err := e.searcher(alB, sc).Sweep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Since.IsZero() {
			t.Errorf("%s as %s started from %s, another scope's watermark; want a full sweep", sc.Server, sc.User, res.Since)
		}
	}
	again, err := e.searcher(alA, searcher.Config{Server: "https://a.example", User: "u"}).Sweep(ctx)
	if err != nil || again.Since.IsZero() {
		t.Errorf("same scope did not resume from its watermark: %+v %v", again, err)
	}
}

// TestFutureCompletionTimesCannotPinTheWatermark: an Assemblyline whose
// clock runs a year ahead (or a document with a bogus times.completed) must
// not move the watermark into the future, where every later sweep would
// search past all new work. The watermark is held at the sweep's own clock
// plus SEARCH_OVERLAP, and a watermark already stored in the future is
// pulled back the same way.
func TestFutureCompletionTimesCannotPinTheWatermark(t *testing.T) {
	const overlap = 10 * time.Minute
	sim, al := startSim(t, alsim.Config{Seed: 3, Submissions: 80, Now: time.Now().AddDate(1, 0, 0)})
	want := match(sim, threshold, normal)
	if l := latest(want); !l.After(time.Now().Add(overlap)) {
		t.Fatalf("the corpus is not in the future (latest %s)", l)
	}
	e := newEnv(t)
	s := e.searcher(al, searcher.Config{Rows: 25, Overlap: overlap})
	key := searcher.CheckpointKey(searcher.Scope{Threshold: threshold})

	first, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	bound := first.Started.Add(overlap)
	if first.Found != len(want) || first.Clamped != len(want) {
		t.Errorf("first sweep found %d, clamped %d; want %d and %d", first.Found, first.Clamped, len(want), len(want))
	}
	cp, _, ok := e.checkpoint(key)
	if !ok || !cp.Watermark.Equal(bound) || !first.Watermark.Equal(bound) {
		t.Fatalf("watermark %s (result %s), want the sweep's clock plus overlap %s", cp.Watermark, first.Watermark, bound)
	}
	second, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !second.Since.Equal(first.Started) || second.Since.After(time.Now()) {
		t.Errorf("second sweep searched from %s, want %s (not the future)", second.Since, first.Started)
	}

	// A checkpoint a previous version stored in the future.
	cp.Watermark = time.Now().AddDate(1, 0, 0).UTC()
	data, _ := json.Marshal(cp)
	if _, err := e.kv.Put(context.Background(), key, data); err != nil {
		t.Fatal(err)
	}
	third, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if third.Since.After(time.Now()) || third.Found != len(want) {
		t.Errorf("after a future checkpoint the sweep searched from %s and found %d, want from now and %d", third.Since, third.Found, len(want))
	}
	if cp, _, _ := e.checkpoint(key); cp.Watermark.After(third.Started.Add(overlap)) {
		t.Errorf("the future checkpoint was kept: %s", cp.Watermark)
	}
}
