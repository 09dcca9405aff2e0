package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/pkg/messages"
)

func TestPublishAll(t *testing.T) {
	js := natstest.Provisioned(t)

	sid := func(id string) *nats.Msg {
		m, err := messages.NewSIDMsg(id, "test")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name       string
		ctx        context.Context
		msgs       []*nats.Msg
		wantAcks   int
		wantDups   int
		wantErr    bool
		wantKind   failure.Kind
		wantStored uint64 // messages in the SIDs stream afterwards
	}{
		{name: "nothing to publish", ctx: context.Background(), wantStored: 0},
		{name: "a batch is stored", ctx: context.Background(), msgs: []*nats.Msg{sid("1a"), sid("1b"), sid("1c")}, wantAcks: 3, wantStored: 3},
		{name: "repeats are acknowledged as duplicates", ctx: context.Background(), msgs: []*nats.Msg{sid("1a"), sid("1d")}, wantAcks: 2, wantDups: 1, wantStored: 4},
		{name: "no stream for the subject", ctx: context.Background(), msgs: []*nats.Msg{nats.NewMsg("nowhere.at.all")},
			wantErr: true, wantKind: failure.Unavailable, wantStored: 4},
		// JetStream takes its time to report the missing stream, so the
		// cancelled context is what ends the wait.
		{name: "shutting down", ctx: canceled, msgs: []*nats.Msg{nats.NewMsg("nowhere.at.all")}, wantErr: true, wantKind: failure.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(tc.ctx, 10*time.Second)
			defer cancel()
			acks, err := broker.PublishAll(ctx, js, tc.msgs)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %t", err, tc.wantErr)
			}
			if err != nil {
				if k := failure.KindOf(err); k != tc.wantKind {
					t.Errorf("kind %s, want %s (err %v)", k, tc.wantKind, err)
				}
				return
			}
			dups := 0
			for _, a := range acks {
				if a.Duplicate {
					dups++
				}
			}
			if len(acks) != tc.wantAcks || dups != tc.wantDups {
				t.Errorf("%d acks (%d duplicates), want %d (%d)", len(acks), dups, tc.wantAcks, tc.wantDups)
			}
			st, err := js.Stream(ctx, messages.StreamSIDs)
			if err != nil {
				t.Fatal(err)
			}
			if n := st.CachedInfo().State.Msgs; n != tc.wantStored {
				t.Errorf("stream holds %d messages, want %d", n, tc.wantStored)
			}
		})
	}
}
