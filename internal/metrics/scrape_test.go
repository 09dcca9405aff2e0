package metrics

import (
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestScrape reads back what a registry serves, labels included, as the
// tests and the benchmark do with a running process.
func TestScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "found_total", Help: "h"}, []string{"source"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "limit", Help: "h"})
	reg.MustRegister(c, g)
	c.WithLabelValues("webhook").Add(3)
	c.WithLabelValues("sweep").Add(4.5)
	g.Set(-2)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)

	got, err := Scrape(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{`found_total{source="sweep"}`: 4.5, `found_total{source="webhook"}`: 3, "limit": -2}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Scrape = %v, want %v", got, want)
	}

	srv.Close()
	if _, err := Scrape(srv.URL); err == nil {
		t.Error("Scrape of a closed server: no error")
	}
}
