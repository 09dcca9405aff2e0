package worker

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"
)

// DedupObserver is implemented by observers that count outputs JetStream
// dropped as duplicates (see Config.Observer).
type DedupObserver interface {
	Deduplicated(stage, subject string)
}

// deduplicated reports an output JetStream did not store because the
// stream saw the same Nats-Msg-Id within its duplicate window: the work it
// asks for is already queued or was done moments ago. Routine for a file
// shared by submissions scored close together (debug); said aloud (info)
// when the input was published without a Nats-Msg-Id, by hand with
// `nats pub` for instance, because then a deliberate re-publication seems
// to do nothing.
func (w *Worker) deduplicated(in *Message, out *nats.Msg) {
	level := slog.LevelDebug
	if in != nil && in.Header.Get(nats.MsgIdHdr) == "" {
		level = slog.LevelInfo
	}
	w.log.Log(context.Background(), level, "output not stored again: the stream had a message with this ID within its duplicate window; `alharvest recollect` forces a fresh one",
		"subject", out.Subject, "msg_id", out.Header.Get(nats.MsgIdHdr))
	obs := w.cfg.Observer
	if c, ok := obs.(settleClock); ok {
		obs = c.Observer
	}
	if o, ok := obs.(DedupObserver); ok {
		o.Deduplicated(w.cfg.Stage, out.Subject)
	}
}
