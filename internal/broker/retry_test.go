package broker_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

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
