package harvest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/harvest"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
)

// TestFollowReportCountsEverySweep: the report after a --follow run is
// stopped covers every sweep it made, not none.
func TestFollowReportCountsEverySweep(t *testing.T) {
	_, url := alsimtest.Serve(t, alsim.Config{Seed: 5, Submissions: 40})
	env := baseEnv(url, t.TempDir(), t.TempDir())
	env["SEARCH_INTERVAL"] = "200ms"
	cfg := loadConfig(t, env)
	log, _ := testLogger(t)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	rep, err := harvest.Run(ctx, harvest.Options{Config: cfg, Follow: true, Logger: log})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err = %v, want interrupted", err)
	}
	if rep.Sweeps < 2 {
		t.Fatalf("report counts %d sweeps in 4 s at a 200 ms interval", rep.Sweeps)
	}
	if !rep.FullSweep {
		t.Error("the first sweep of a fresh data directory was full; report says not")
	}
	once, err := harvest.Run(context.Background(), harvest.Options{Config: loadConfig(t, baseEnv(url, t.TempDir(), t.TempDir())), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	found := once.SubmissionsFound
	if found == 0 || rep.SubmissionsFound < found {
		t.Errorf("submissions found %d over %d sweeps; the first alone returns %d", rep.SubmissionsFound, rep.Sweeps, found)
	}
	if rep.Watermark.IsZero() {
		t.Error("zero watermark after sweeps")
	}
	var text strings.Builder
	rep.WriteText(&text)
	if !strings.Contains(text.String(), "sweeps, the first full)") {
		t.Errorf("text report does not say how many sweeps:\n%s", text.String())
	}
}
