package admin

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/cli"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/pipeline/searcher"
	"github.com/alharvest/alharvest/internal/pipeline/webhook"
	"github.com/alharvest/alharvest/internal/quota"
	"github.com/alharvest/alharvest/pkg/messages"
)

// Status is a snapshot of the pipeline's queues and checkpoints.
type Status struct {
	Time   time.Time     `json:"time"`
	Where  string        `json:"where"`
	Stages []StageStatus `json:"stages"`
	// CollectedEvents counts alharvest.collected events kept in
	// ALHARVEST_COLLECTED (one per file written or confirmed present).
	CollectedEvents uint64 `json:"collected_events"`
	// DeadLetters counts dead letters per stage.
	DeadLetters map[string]uint64 `json:"dead_letters"`
	Searches    []SearchStatus    `json:"searches"`
	// Webhook sums what Assemblyline's push delivered, when a receiver
	// ever ran (nil otherwise).
	Webhook *webhook.Totals `json:"webhook,omitempty"`
	// Budgets are the call budgets shared by the processes calling each
	// Assemblyline user, with who holds their slots.
	Budgets []quota.Snapshot `json:"quota_budgets"`
}

// StageStatus describes one consuming stage's queue.
type StageStatus struct {
	Stage  string `json:"stage"`
	Stream string `json:"stream"`
	// Queued is messages in the work queue (waiting, in flight or waiting
	// for a retry).
	Queued uint64 `json:"queued"`
	// Pending is messages not yet delivered to any replica.
	Pending uint64 `json:"pending"`
	// InFlight is messages delivered and not yet acknowledged.
	InFlight int `json:"in_flight"`
	// Redelivered is messages being delivered again.
	Redelivered int `json:"redelivered"`
	// Deferred is messages waiting in ALHARVEST_DEFERRED for Assemblyline
	// to finish their submission; they are not in Queued.
	Deferred uint64 `json:"deferred"`
	// Waiting is pull requests from replicas waiting for work (a proxy for
	// idle replicas).
	Waiting      int    `json:"waiting_pulls"`
	DeadLettered uint64 `json:"dead_lettered"`
	// Consumer is false when no replica of the stage ever started.
	Consumer bool `json:"consumer_exists"`
	// Stalled says why the stage looks stalled from the server's side
	// (see judgeStalls), or is empty.
	Stalled string `json:"stalled,omitempty"`

	// What judgeStalls reads: the consumer's latest delivery or
	// acknowledgement and its creation, by the server's clock, that
	// clock's now, and how long an operator's pause still lasts.
	lastActive, serverNow time.Time
	pausedFor             time.Duration
	consumerName          string
}

// SearchStatus is one searcher checkpoint.
type SearchStatus = searcher.Checkpoint

// ReadStatus gathers a Status from JetStream.
func ReadStatus(ctx context.Context, js jetstream.JetStream) (*Status, error) {
	st := &Status{Time: time.Now().UTC(), DeadLetters: map[string]uint64{}}

	if s, err := js.Stream(ctx, messages.StreamDLQ); err == nil {
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(messages.SubjectDLQPrefix+">"))
		if err != nil {
			return nil, fmt.Errorf("dead-letter stream: %w", err)
		}
		for subj, n := range info.State.Subjects {
			st.DeadLetters[subj[len(messages.SubjectDLQPrefix):]] = n
		}
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, err
	}

	deferred := map[string]uint64{}
	if s, err := js.Stream(ctx, messages.StreamDeferred); err == nil {
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(messages.SubjectDeferredPrefix+">"))
		if err != nil {
			return nil, fmt.Errorf("deferred stream: %w", err)
		}
		for subj, n := range info.State.Subjects {
			deferred[subj[len(messages.SubjectDeferredPrefix):]] = n
		}
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, err
	}

	for _, sc := range []struct{ stage, stream, consumer string }{
		{messages.StageScorer, messages.StreamSIDs, messages.ConsumerScorer},
		{messages.StageDownloader, messages.StreamFiles, messages.ConsumerDownloader},
	} {
		ss := StageStatus{Stage: sc.stage, Stream: sc.stream, DeadLettered: st.DeadLetters[sc.stage], Deferred: deferred[sc.stage]}
		s, err := js.Stream(ctx, sc.stream)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			st.Stages = append(st.Stages, ss)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", sc.stream, err)
		}
		// Stream and Consumer fetch fresh info; CachedInfo is that answer.
		si := s.CachedInfo()
		ss.Queued = si.State.Msgs
		ss.Pending = si.State.Msgs
		if c, err := s.Consumer(ctx, sc.consumer); err == nil {
			ci := c.CachedInfo()
			ss.Consumer = true
			ss.Pending = ci.NumPending
			ss.InFlight = ci.NumAckPending
			ss.Redelivered = ci.NumRedelivered
			ss.Waiting = ci.NumWaiting
			ss.serverNow, ss.lastActive, ss.consumerName = ci.TimeStamp, ci.Created, ci.Name
			for _, t := range []*time.Time{ci.Delivered.Last, ci.AckFloor.Last} {
				if t != nil && t.After(ss.lastActive) {
					ss.lastActive = *t
				}
			}
			if ci.Paused {
				ss.pausedFor = ci.PauseRemaining
			}
		} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, fmt.Errorf("consumer %s: %w", sc.consumer, err)
		}
		st.Stages = append(st.Stages, ss)
	}

	if s, err := js.Stream(ctx, messages.StreamCollected); err == nil {
		st.CollectedEvents = s.CachedInfo().State.Msgs
	}

	if kv, err := js.KeyValue(ctx, messages.BucketState); err == nil {
		cps, err := searcher.LoadCheckpoints(ctx, kv)
		if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, fmt.Errorf("checkpoints: %w", err)
		}
		st.Searches = append(st.Searches, cps...)
		if t, ok, err := webhook.LoadTotals(ctx, kv); err == nil && ok {
			st.Webhook = &t
		}
		bs, err := quota.ReadBudgets(ctx, kv)
		if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, fmt.Errorf("quota budgets: %w", err)
		}
		st.Budgets = bs
	}
	st.judgeStalls(config.DefaultStallAfter)
	return st, nil
}

// judgeStalls marks the stages that look stalled from the server's side:
// messages wait undelivered while an operator's pause holds the consumer,
// or while the consumer has delivered and received acknowledgements of
// nothing for after (STALL_AFTER). Both times are the server's, so no
// clock of this host enters. A replica stuck on messages it holds shows in
// its own /readyz and alharvest_stage_stalled.
func (s *Status) judgeStalls(after time.Duration) {
	if after <= 0 {
		after = config.DefaultStallAfter
	}
	for i := range s.Stages {
		st := &s.Stages[i]
		st.Stalled = ""
		if !st.Consumer || st.Pending == 0 {
			continue
		}
		idle := st.serverNow.Sub(st.lastActive)
		switch {
		case st.pausedFor > 0:
			st.Stalled = fmt.Sprintf("consumer %s paused for %s more with %d messages waiting (nats consumer resume %s %s)",
				st.consumerName, st.pausedFor.Round(time.Second), st.Pending, st.Stream, st.consumerName)
		case idle >= after:
			st.Stalled = fmt.Sprintf("nothing delivered or acknowledged for %s while %d messages wait (STALL_AFTER %s); each replica's /readyz says why",
				idle.Round(time.Second), st.Pending, after)
		}
	}
}

// WriteText prints the status as tables.
func (s *Status) WriteText(w io.Writer) {
	fmt.Fprintf(w, "alharvest status (%s) at %s\n\n", s.Where, s.Time.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tQUEUED\tPENDING\tIN FLIGHT\tREDELIVERED\tDEFERRED\tDEAD-LETTERED")
	fmt.Fprintf(tw, "searcher\t-\t-\t-\t-\t-\t%d\n", s.DeadLetters[messages.StageSearcher])
	for _, st := range s.Stages {
		note := ""
		if !st.Consumer {
			note = "  (no replica has started yet)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d%s\n", st.Stage, st.Queued, st.Pending, st.InFlight, st.Redelivered, st.Deferred, st.DeadLettered, note)
	}
	// Dead letters of consumers beyond the pipeline (alharvest feed, a
	// reader of the user's own): a letter nobody sees is a file lost to
	// the next process.
	shown := map[string]bool{messages.StageSearcher: true}
	for _, st := range s.Stages {
		shown[st.Stage] = true
	}
	for _, stage := range slices.Sorted(maps.Keys(s.DeadLetters)) {
		if !shown[stage] {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t%d\n", stage, s.DeadLetters[stage])
		}
	}
	tw.Flush()
	for _, st := range s.Stages {
		if st.Stalled != "" {
			fmt.Fprintf(w, "%s stalled: %s\n", st.Stage, st.Stalled)
		}
	}
	fmt.Fprintf(w, "\ncollected events: %d\n", s.CollectedEvents)
	if len(s.Searches) == 0 {
		fmt.Fprintln(w, "searcher: no sweep completed yet")
	}
	for _, c := range s.Searches {
		filter := ""
		if c.Filter != "" {
			filter = " filter " + c.Filter
		}
		if c.Server != "" {
			filter += " on " + c.Server + " as " + c.User
		}
		wm := "none"
		if !c.Watermark.IsZero() {
			wm = c.Watermark.UTC().Format(time.RFC3339Nano)
		}
		fmt.Fprintf(w, "searcher (threshold %d%s): watermark %s; last sweep %s, found %d, published %d, took %s\n",
			c.Threshold, filter, wm, c.LastSweep.Finished.Format(time.RFC3339), c.LastSweep.Found, c.LastSweep.Published, c.LastSweep.Duration)
	}
	s.writeSources(w)
	for _, b := range s.Budgets {
		fmt.Fprintf(w, "\nAssemblyline quota of %s on %s: %d (%s); shared budget %d, %d held\n", b.User, b.Server, b.Quota, b.Origin, b.Size, b.Held)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "HOLDER\tSLOTS\tWANTS\tLEASE")
		for _, h := range b.Holders {
			lease := "until " + h.Expires.Format("15:04:05.000")
			if h.Lapsed {
				lease = "lapsed (slots reclaimed at the next change)"
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", h.Name, h.Held, h.Want, lease)
		}
		tw.Flush()
	}
}

// StatusCommand is `alharvest status`.
var StatusCommand = &cli.Command{
	Name:     "status",
	Synopsis: "queues, dead letters, watermark (--json, --watch 2s)",
	Help: "Prints the pipeline's queues, dead letters, searcher checkpoints and shared call budgets.\n" +
		"Against a running pipeline set NATS_URL; otherwise it reads DATA_DIR. With --watch it\n" +
		"repeats: redrawn in place on a terminal, successive snapshots anywhere else.",
	Run: runStatus,
}

// clearScreen moves the cursor home and clears a terminal.
const clearScreen = "\033[H\033[2J"

func runStatus(c *cli.Call) error {
	var (
		asJSON bool
		watch  time.Duration
	)
	cfg, log, explicit, err := adminConfig(c, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
		fs.DurationVar(&watch, "watch", 0, "refresh every interval (e.g. 2s) until interrupted")
	})
	if err != nil {
		return err
	}
	if watch < 0 {
		return exitcode.Use(fmt.Errorf("--watch %s: want a positive interval such as 2s", watch))
	}
	conn, err := Open(c.Ctx, cfg, explicit, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	redraw := watch > 0 && !asJSON && cli.IsTerminal(c.Stdout)
	for first := true; ; first = false {
		qctx, cancel := context.WithTimeout(c.Ctx, 10*time.Second)
		st, err := ReadStatus(qctx, conn.JS)
		cancel()
		if err != nil {
			if c.Ctx.Err() != nil {
				return nil
			}
			return err
		}
		st.Where = conn.Where
		st.judgeStalls(cfg.StallAfter)
		switch {
		case redraw:
			fmt.Fprint(c.Stdout, clearScreen)
		case !first && !asJSON:
			fmt.Fprintln(c.Stdout) // snapshots one after another, a blank line apart
		}
		if asJSON {
			enc := json.NewEncoder(c.Stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(st)
		} else {
			st.WriteText(c.Stdout)
		}
		if watch <= 0 {
			return nil
		}
		select {
		case <-c.Ctx.Done():
			return nil
		case <-time.After(watch):
		}
	}
}
