// Package monitoringtest tests the monitoring assets under deploy/ — the
// Grafana dashboard (grafana/alharvest.json), the Prometheus alert rules
// (prometheus/alerts.yml) and the compose file's monitoring profile —
// without Prometheus or Grafana: every PromQL expression is parsed with
// Prometheus's own parser, the rules with its rule-file loader, and every
// metric they name must be one the alharvest binaries export.
//
// It has no code of its own, only tests.
package monitoringtest
