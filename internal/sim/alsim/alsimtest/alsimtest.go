// Package alsimtest serves a simulated Assemblyline for tests, the way
// net/http/httptest serves HTTP, builds real clients for it, and checks an
// OUTPUT_DIR against the files alsim expects to be collected.
package alsimtest

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/assemblyline"
	"github.com/alharvest/alharvest/internal/sim/alsim"
)

// Serve starts alsim with cfg on a loopback port until the test ends and
// returns it with its base URL.
func Serve(t testing.TB, cfg alsim.Config) (*alsim.Server, string) {
	t.Helper()
	sim, err := alsim.New(cfg)
	if err != nil {
		t.Fatalf("alsim: %v", err)
	}
	ts := httptest.NewUnstartedServer(sim.Handler())
	// Wrapped, so that an outage in refuse mode can really refuse.
	ts.Listener = sim.WrapListener(ts.Listener)
	ts.Start()
	t.Cleanup(func() { ts.Close(); sim.Close() })
	return sim, ts.URL
}

// Client returns a real Assemblyline client for url with alsim's default
// credentials and quick retries (maxRetries in-process retries; negative
// for none), so fault tests stay fast.
func Client(t testing.TB, url string, maxRetries int) *assemblyline.Client {
	t.Helper()
	al, err := assemblyline.New(assemblyline.Config{
		BaseURL:      url,
		User:         alsim.DefaultUser,
		APIKey:       alsim.DefaultAPIKey,
		RetryInitial: 2 * time.Millisecond,
		RetryMax:     20 * time.Millisecond,
		MaxRetries:   maxRetries,
	})
	if err != nil {
		t.Fatalf("assemblyline client: %v", err)
	}
	return al
}
