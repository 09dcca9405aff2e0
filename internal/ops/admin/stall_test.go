package admin

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// TestStatusShowsStalls: work waiting on a consumer an operator paused,
// or that nothing has delivered for STALL_AFTER, is shown as a stall;
// an idle queue is not.
func TestStatusShowsStalls(t *testing.T) {
	js := natstest.Provisioned(t)
	ctx := context.Background()
	if _, err := broker.Consumer(ctx, js, messages.StreamSIDs, messages.ConsumerScorer, broker.ConsumerConfig{}, nil); err != nil {
		t.Fatal(err)
	}
	st, err := ReadStatus(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	st.judgeStalls(time.Second)
	if st.Stages[0].Stalled != "" {
		t.Errorf("an empty queue is called stalled: %s", st.Stages[0].Stalled)
	}

	m, _ := messages.NewSIDMsg("a1", "test")
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	// Nothing consumes it: past the bound the stage is stalled.
	testenv.Eventually(t, 10*time.Second, "the stall after 1s", func() bool {
		if st, err = ReadStatus(ctx, js); err != nil {
			t.Fatal(err)
		}
		st.judgeStalls(time.Second)
		return strings.Contains(st.Stages[0].Stalled, "nothing delivered or acknowledged for")
	})

	if _, err := js.PauseConsumer(ctx, messages.StreamSIDs, messages.ConsumerScorer, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if st, err = ReadStatus(ctx, js); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	st.WriteText(&out)
	if !strings.Contains(out.String(), "scorer stalled: consumer scorer paused for") {
		t.Errorf("status does not show the pause:\n%s", out.String())
	}
}
