package worker

import "github.com/nats-io/nats.go"

// DedupObserver is implemented by observers that count outputs JetStream
// dropped as duplicates (see Config.Observer).
type DedupObserver interface {
	Deduplicated(stage, subject string)
}

// deduplicated reports an output JetStream did not store because the
// stream saw the same Nats-Msg-Id within its duplicate window: the work it
// asks for is already queued or was done moments ago. Said aloud, because
// otherwise a deliberate re-publication seems to do nothing.
func (w *Worker) deduplicated(m *nats.Msg) {
	w.log.Info("output not stored again: the stream had a message with this ID within its duplicate window; `alharvest recollect` forces a fresh one",
		"subject", m.Subject, "msg_id", m.Header.Get("Nats-Msg-Id"))
	if o, ok := w.cfg.Observer.(DedupObserver); ok {
		o.Deduplicated(w.cfg.Stage, m.Subject)
	}
}
