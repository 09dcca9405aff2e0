package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/pipeline/searcher"
	"github.com/alharvest/alharvest/internal/pipeline/webhook"
)

// TestStatusShowsBothSources: once a webhook receiver counted, status
// shows what the push and the sweeps queued first; before, nothing.
func TestStatusShowsBothSources(t *testing.T) {
	js := natstest.Provisioned(t)
	ctx := context.Background()
	kv := natstest.StateBucket(t, js)
	for i, sc := range []searcher.Scope{{Threshold: 7000}, {Threshold: 7000, Filter: "params.submitter:feeds"}} {
		cp, _ := json.Marshal(searcher.Checkpoint{Scope: sc, PublishedTotal: int64(10 * (i + 1))})
		if _, err := kv.Put(ctx, searcher.CheckpointKey(sc), cp); err != nil {
			t.Fatal(err)
		}
	}
	text := func() string {
		st, err := ReadStatus(ctx, js)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		st.WriteText(&b)
		return b.String()
	}
	if out := text(); strings.Contains(out, "webhook") {
		t.Errorf("status mentions a webhook no receiver ran:\n%s", out)
	}

	tally := webhook.NewTally(kv, nil)
	for _, o := range []string{webhook.OutcomeStored, webhook.OutcomeStored, webhook.OutcomeRepeated, webhook.OutcomeIgnored, webhook.OutcomeUnauthorized} {
		tally.WebhookRequest(o)
	}
	if err := tally.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	out := text()
	for _, want := range []string{"SIDs queued first by: webhook 2, sweep 30", "webhook: 1 repeated, 1 ignored (cannot qualify), 1 refused; last push 20"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}
