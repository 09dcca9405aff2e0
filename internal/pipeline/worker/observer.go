package worker

import (
	"github.com/alharvest/alharvest/internal/failure"
)

// Outcome is how handling a message ended, as reported to an Observer.
type Outcome string

// The outcomes.
const (
	OutcomeAcked        Outcome = "acked"
	OutcomeRetried      Outcome = "retried"
	OutcomeDeferred     Outcome = "deferred"
	OutcomeDeadLettered Outcome = "dead_lettered"
	OutcomeHandedBack   Outcome = "handed_back"
)

// Observer receives the worker's events, for metrics and reports. Methods
// are called from many goroutines.
type Observer interface {
	Received(stage string, redelivered bool)
	Settled(stage string, outcome Outcome, kind failure.Kind)
	InFlight(stage string, delta int)
	Halted(stage string, halted bool)
	// ConsumerRestarted: a pull delivered nothing while its consumer had
	// work waiting and room to deliver it; intake pulls anew.
	ConsumerRestarted(stage string)
}

type nopObserver struct{}

func (nopObserver) Received(string, bool)                 {}
func (nopObserver) Settled(string, Outcome, failure.Kind) {}
func (nopObserver) InFlight(string, int)                  {}
func (nopObserver) Halted(string, bool)                   {}
func (nopObserver) ConsumerRestarted(string)              {}
