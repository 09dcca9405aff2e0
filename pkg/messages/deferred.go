package messages

// Deferred copies: a message a stage cannot handle yet (a submission still
// running) waits in StreamDeferred, on its stage's subject, instead of in its
// work queue, so that waiting never holds the work consumer's MaxAckPending.
// The stage's worker moves each copy back to its work subject when its time
// comes. Only the stages publish here.
const (
	// SubjectDeferredPrefix prefixes each stage's deferred subject:
	// alharvest.deferred.<stage>.
	SubjectDeferredPrefix = "alharvest.deferred."
	// StreamDeferred holds every stage's deferred copies (work queue).
	StreamDeferred = "ALHARVEST_DEFERRED"
)

// DeferredSubject returns the subject of a stage's deferred copies.
func DeferredSubject(stage string) string { return SubjectDeferredPrefix + stage }

// DeferredConsumer returns the name of the durable consumer through which a
// stage's replicas move its deferred copies back to work.
func DeferredConsumer(stage string) string { return stage + "-deferred" }
