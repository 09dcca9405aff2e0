package metrics

import "github.com/alharvest/alharvest/internal/webhook"

var _ webhook.Observer = (*Metrics)(nil)

// WebhookRequest implements webhook.Observer.
func (m *Metrics) WebhookRequest(outcome string) {
	m.webhookRequests.WithLabelValues(outcome).Inc()
	if outcome == webhook.OutcomeStored {
		m.sidsFound.WithLabelValues("webhook").Inc()
	}
}

// SIDsFound reads alharvest_sids_found_total by source (webhook, sweep).
func (m *Metrics) SIDsFound(source string) int64 { return value(m.sidsFound.WithLabelValues(source)) }
