package broker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/broker"
)

func TestRetry(t *testing.T) {
	errDenied := errors.New("permissions violation")
	tests := []struct {
		name      string
		errs      []error // what op returns on each call; nil after the list ends
		cancelAt  int     // cancel the context during this call (0: never)
		wantCalls int
		wantErr   error
	}{
		{name: "succeeds at once", wantCalls: 1},
		{name: "waits out an unready JetStream", errs: []error{nats.ErrNoResponders, nats.ErrTimeout}, wantCalls: 3},
		{name: "gives up on a real error", errs: []error{nats.ErrTimeout, errDenied}, wantCalls: 2, wantErr: errDenied},
		{name: "stops when the context ends", errs: []error{nats.ErrTimeout, nats.ErrTimeout, nats.ErrTimeout}, cancelAt: 2, wantCalls: 2, wantErr: nats.ErrTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			calls := 0
			err := broker.Retry(ctx, slog.New(slog.DiscardHandler), "thing", func(context.Context) error {
				calls++
				if calls == tc.cancelAt {
					cancel()
				}
				if calls <= len(tc.errs) {
					return tc.errs[calls-1]
				}
				return nil
			})
			if calls != tc.wantCalls {
				t.Errorf("%d calls, want %d", calls, tc.wantCalls)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Errorf("err = %v", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// An op that marks its error ErrNotYet is retried until it succeeds; an
// error Retry does not know stops at once.
func TestRetryRetriesWhatIsNotThereYet(t *testing.T) {
	calls := 0
	err := broker.Retry(context.Background(), slog.New(slog.DiscardHandler), "bucket", func(context.Context) error {
		if calls++; calls < 3 {
			return fmt.Errorf("%w: %w", broker.ErrNotYet, jetstream.ErrBucketNotFound)
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("Retry: %v after %d calls, want nil after 3", err, calls)
	}
	calls = 0
	err = broker.Retry(context.Background(), slog.New(slog.DiscardHandler), "bucket", func(context.Context) error {
		calls++
		return jetstream.ErrBucketNotFound
	})
	if !errors.Is(err, jetstream.ErrBucketNotFound) || calls != 1 {
		t.Errorf("Retry: %v after %d calls, want the error after 1", err, calls)
	}
}
