package metrics

import "github.com/alharvest/alharvest/internal/pipeline/webhook"

var _ webhook.Observer = (*Metrics)(nil)

// WebhookRequest implements webhook.Observer.
func (m *Metrics) WebhookRequest(outcome string) {
	m.webhookRequests.WithLabelValues(outcome).Inc()
	if outcome == webhook.OutcomeStored {
		m.sidsFound.WithLabelValues("webhook").Inc()
	}
}
